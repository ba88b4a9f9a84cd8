"""Simulator speed: one 256 x 256 training image (the goal: HAADF <= 50 ms, HRTEM <= 200 ms on one core).

    python benchmarks/bench_simulate.py [--repeat 5] [--scenes 24]

Times, on one thread, (a) imaging alone for fixed crystals, and (b) whole random training scenes of
the atomic-scene distribution (building the specimen with ASE and imaging it), as medians and the
90th percentile; the baseline it names is the first release's island simulator on the same size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from _timing import median_seconds  # noqa: E402

from napari_lowdose.core.simulate import SceneConfig, simulate_scene  # noqa: E402
from napari_lowdose.core.simulate.scene import AtomicScene, build_specimen, random_atomic_scene, render, simulate_atomic  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scenes", type=int, default=24)
    args = parser.parse_args()
    size = 256
    base = median_seconds(lambda: simulate_scene(SceneConfig(shape=(size, size), pixel_size=2.0), seed=1), args.repeat)
    print(f"baseline: island simulator, 256 x 256 HAADF: {base * 1e3:.1f} ms")
    for modality in ("haadf", "hrtem"):
        scene = AtomicScene(structure="SrTiO3", modality=modality, shape=(size, size), pixel_size=0.2, thickness=50.0)
        spec = build_specimen(scene, np.random.default_rng(0))
        t_render = median_seconds(lambda: render(spec, scene), args.repeat)
        t_all = median_seconds(lambda: simulate_atomic(scene, 0), args.repeat)
        print(f"{modality}: SrTiO3 [001] 50 Å at 0.2 Å/px ({len(spec.symbols)} atoms): imaging {t_render * 1e3:.1f} ms, with the specimen {t_all * 1e3:.1f} ms "
              f"({t_all / base:.2f}x the baseline)")
        times = []
        rng = np.random.default_rng(123)
        for i in range(args.scenes):
            sc = random_atomic_scene(rng, modality, size)
            t0 = time.perf_counter()
            simulate_atomic(sc, i)
            times.append(time.perf_counter() - t0)
        p90 = float(np.quantile(times, 0.9))
        print(f"{modality}: {args.scenes} random training scenes: median {statistics.median(times) * 1e3:.0f} ms, 90th percentile {p90 * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
