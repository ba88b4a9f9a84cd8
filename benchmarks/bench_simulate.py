"""Simulator speed: one 256 x 256 training image (the goal: HAADF <= 50 ms, HRTEM <= 200 ms on one core).

    python benchmarks/bench_simulate.py [--repeat 5] [--scenes 24] [--against REV] [--rounds 2]

Times, on one thread, in CPU time, (a) the first release's island simulator (the baseline), (b) imaging alone and
with building the specimen for a fixed crystal (SrTiO3 [001], 50 Å; the remembered CTF and probe are
forgotten before each call, as a training scene never repeats its optics), and (c) whole random
training scenes as training draws them (``SimDistribution(atomic_fraction=1)._sample_atomic``: building
the specimen with ASE and imaging it), as medians and 90th percentiles of wall and CPU time (CPU time
is what one core spends; on a busy machine the wall time is longer). The process runs on; caches warm
as they would over a training run.

``--against REV`` (a git revision) measures that revision's ``src`` too, in the same run, alternating
the two for ``--rounds`` rounds, so that both see the same load; the machine's load average is printed.
``--warm N`` simulates N other random scenes of each modality (untimed) before the timed ones.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent


def measure(repeat: int, scenes: int, seed: int, warm: int = 0) -> dict:
    """Times in seconds (this process, one thread)."""
    import ase.build  # noqa: F401  (imports are not simulation: done before timing)
    import ase.cluster  # noqa: F401
    import ase.spacegroup  # noqa: F401
    from _timing import median_seconds

    from napari_lowdose.core.simulate import SceneConfig, simulate_scene
    from napari_lowdose.core.simulate.scene import AtomicScene, build_specimen, render, simulate_atomic
    from napari_lowdose.core.train import SimDistribution

    try:
        from napari_lowdose.core.simulate.optics import clear_caches
    except ImportError:  # code before the caches
        def clear_caches() -> None:
            pass

    size = 256
    cpu_time = time.process_time  # what one core spends: other work on a busy machine does not count
    out: dict = {"warm": warm, "baseline": median_seconds(lambda: simulate_scene(SceneConfig(shape=(size, size), pixel_size=2.0), seed=1), repeat, cpu_time)}
    dist = SimDistribution(atomic_fraction=1.0)
    for modality in ("haadf", "hrtem"):
        scene = AtomicScene(structure="SrTiO3", modality=modality, shape=(size, size), pixel_size=0.2, thickness=50.0)
        spec = build_specimen(scene, np.random.default_rng(0))
        out[f"{modality}_atoms"] = len(spec.symbols)
        out[f"{modality}_render"] = median_seconds(lambda: (clear_caches(), render(spec, scene)), repeat, cpu_time)
        out[f"{modality}_all"] = median_seconds(lambda: (clear_caches(), simulate_atomic(scene, 0)), repeat, cpu_time)
        warm_rng = np.random.default_rng(seed + 1000)
        for i in range(warm):  # other scenes first, untimed: the caches as a long training run has them
            simulate_atomic(dist._sample_atomic(warm_rng, size, modality)[0], 10_000 + i)
        rng = np.random.default_rng(seed)
        wall, cpu = [], []
        for i in range(scenes):
            sc = dist._sample_atomic(rng, size, modality)[0]
            t0, c0 = time.perf_counter(), time.process_time()
            simulate_atomic(sc, i)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        out[f"{modality}_wall"], out[f"{modality}_cpu"] = wall, cpu
    return out


def _stats(times: list[float]) -> str:
    return f"median {statistics.median(times) * 1e3:.0f} ms, 90th percentile {float(np.quantile(times, 0.9)) * 1e3:.0f} ms"


def report(name: str, r: dict) -> None:
    print(f"[{name}] baseline: island simulator, 256 x 256 HAADF: {r['baseline'] * 1e3:.1f} ms (CPU)")
    for m in ("haadf", "hrtem"):
        print(f"[{name}] {m}: SrTiO3 [001] 50 Å at 0.2 Å/px ({int(r[f'{m}_atoms'])} atoms): imaging {r[f'{m}_render'] * 1e3:.1f} ms (CPU), "
              f"with the specimen {r[f'{m}_all'] * 1e3:.1f} ms ({r[f'{m}_all'] / r['baseline']:.2f}x the baseline)")
        n = len(r[f"{m}_cpu"])
        print(f"[{name}] {m}: {n} random training scenes (after {int(r['warm'])} untimed): CPU {_stats(r[f'{m}_cpu'])}; wall {_stats(r[f'{m}_wall'])}")


def _load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scenes", type=int, default=24)
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--against", help="a git revision whose src/ is measured too, in the same run")
    parser.add_argument("--rounds", type=int, default=1, help="with --against: alternations of the two")
    parser.add_argument("--warm", type=int, default=0, help="untimed random scenes first (caches as in a long training run)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.repeat, args.scenes, args.seed, args.warm)))
        return
    if not args.against:
        print(_load())
        report("this code", measure(args.repeat, args.scenes, args.seed, args.warm))
        print(_load())
        return
    root = Path(subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=HERE, capture_output=True, text=True, check=True).stdout.strip())
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "archive", args.against, "src"], cwd=root, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        sources = {args.against: Path(tmp) / "src", "this code": root / "src"}
        results: dict = {name: [] for name in sources}
        for k in range(args.rounds):
            for name, src in sources.items():
                print(f"round {k + 1}, {name}: {_load()}", flush=True)
                env = dict(os.environ, PYTHONPATH=f"{src}{os.pathsep}{HERE}", OMP_NUM_THREADS="1")
                cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--repeat", str(args.repeat), "--scenes", str(args.scenes), "--seed", str(args.seed), "--warm", str(args.warm)]
                out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
                results[name].append(json.loads(out.strip().splitlines()[-1]))
        print(_load())
        for name, runs in results.items():
            merged = {key: (sum((r[key] for r in runs), []) if isinstance(runs[0][key], list) else statistics.median(r[key] for r in runs)) for key in runs[0]}
            report(name, merged)


if __name__ == "__main__":
    main()
