"""Where the simulator of atoms spends its time: random 256 x 256 training scenes, drawn as training
draws them (``SimDistribution._sample_atomic``), under cProfile on one thread.

    python benchmarks/profile_simulate.py [--scenes 20] [--modality haadf|hrtem|both] [--top 25] [--warm 0]

Prints per scene the kind, structure, pixel size, atoms and the CPU time of building the specimen and of
imaging it, then the functions with the most cumulative time. ``--warm N``: N other random scenes of each
modality first, unprofiled (the caches as a long training run has them).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from napari_lowdose.core.simulate.scene import build_specimen, render  # noqa: E402
from napari_lowdose.core.train import SimDistribution  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=20)
    parser.add_argument("--modality", default="both", choices=("haadf", "hrtem", "both"))
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--warm", type=int, default=0)
    args = parser.parse_args()
    dist = SimDistribution(atomic_fraction=1.0)
    modalities = ("haadf", "hrtem") if args.modality == "both" else (args.modality,)
    warm_rng = np.random.default_rng(args.seed + 1000)
    for i in range(args.warm):
        for modality in modalities:
            scene = dist._sample_atomic(warm_rng, 256, modality)[0]
            render(build_specimen(scene, np.random.default_rng([10_000 + i, 1601])), scene)
    rng = np.random.default_rng(args.seed)
    prof = cProfile.Profile(time.process_time)  # CPU time: other work on the machine does not count
    build_t, render_t = 0.0, 0.0
    for i in range(args.scenes):
        modality = modalities[i % len(modalities)]
        scene = dist._sample_atomic(rng, 256, modality)[0]
        prof.enable()
        t0 = time.process_time()
        spec = build_specimen(scene, np.random.default_rng([i, 1601]))
        t1 = time.process_time()
        render(spec, scene)
        t2 = time.process_time()
        prof.disable()
        build_t += t1 - t0
        render_t += t2 - t1
        print(f"{i:3d} {modality:5s} {scene.kind:9s} {scene.structure:8s} {scene.pixel_size:5.3f} Å/px {len(spec.symbols):7d} atoms: "
              f"build {(t1 - t0) * 1e3:7.1f} ms, image {(t2 - t1) * 1e3:7.1f} ms (CPU)")
    total = build_t + render_t
    print(f"total CPU {total:.2f} s: building {build_t / total:.0%}, imaging {render_t / total:.0%}")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(args.top)
    pstats.Stats(prof).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
