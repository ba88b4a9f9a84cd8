"""Whole-process CPU time and peak memory on one 2048 x 2048 image: napari-lowdose's default model vs
tk-r-em (sfr_hrstem), side by side in one run, one thread each.

    python benchmarks/bench_peer_speed.py [--size 2048] [--model haadf]

Each tool runs in a fresh process on the same file (a simulated atomic-resolution HAADF image, raw
counts): ours is ``napari-lowdose denoise FILE.tif -o DIR --model M --device cpu`` (reading, tiled
inference, writing) three times: the network alone (``--guard off``), as a user runs it (``--guard auto``:
the guard runs where it can tell the detector gain from the image) and with the guard forced on (``--guard
on --gain 1 --offset 0``: 5 more network runs on a 256² crop), tk-r-em is ``benchmarks/peers/run_tkrem.py --time FILE.npy`` in its own venv
(``bash benchmarks/peers/setup_tkrem.sh``). Reported: wall and CPU seconds and peak resident memory of
each whole process (``resource.getrusage(RUSAGE_CHILDREN)``), and the ratios tk-r-em / ours.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TKREM_PY = ROOT / "benchmarks" / "peers" / ".venv-tkrem" / "bin" / "python"


def run(cmd: list[str], env: dict) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
    return {"wall_s": round(wall, 2), "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 2),
            "peak_rss_mb": round(after.ru_maxrss / 1024, 1)}  # max over children so far: run the smaller first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--model", default="haadf")
    args = parser.parse_args()
    if not TKREM_PY.exists():
        raise SystemExit("tk-r-em's venv is missing: run bash benchmarks/peers/setup_tkrem.sh")
    from napari_lowdose.core.simulate import Acquisition, ScanArtifacts, acquire
    from napari_lowdose.core.simulate.scene import AtomicScene, simulate_atomic
    from napari_lowdose.io import write_image

    scene = AtomicScene(structure="SrTiO3", shape=(args.size, args.size), pixel_size=0.15, thickness=60.0)
    truth = simulate_atomic(scene, seed=1)
    counts = acquire(truth, scene.pixel_size, Acquisition(dose=800.0, artifacts=ScanArtifacts.none(), detector_gain=1.0, detector_offset=0.0, read_noise=0.0), seed=2)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tif, npy = tmp / "image.tif", tmp / "image.npy"
        write_image(tif, counts, pixel_size=scene.pixel_size)
        np.save(npy, counts.astype(np.float32))
        # ours first (the smaller process), because RUSAGE_CHILDREN's ru_maxrss is a running maximum
        cli = [str(Path(sys.executable).with_name("napari-lowdose")), "denoise", str(tif), "--model", args.model, "--device", "cpu"]
        variants = {"network (--guard off)": ["--guard", "off"], "default (--guard auto)": ["--guard", "auto"],
                    "with the guard (--guard on)": ["--guard", "on", "--gain", "1", "--offset", "0"]}
        runs = {k: run(cli + ["-o", str(tmp / f"out{i}")] + v, env) for i, (k, v) in enumerate(variants.items())}
        peer = run([str(TKREM_PY), str(ROOT / "benchmarks" / "peers" / "run_tkrem.py"), "--time", str(npy), "--model", "sfr_hrstem", "--threads", "1"], env)
    print(json.dumps({"image": f"{args.size}x{args.size}", "ours": {"model": args.model, **runs}, "tk-r-em": {"model": "sfr_hrstem", **peer}}, indent=1))
    for name, ours in runs.items():
        print(f"tk-r-em / ours {name}: wall {peer['wall_s'] / ours['wall_s']:.2f}x, CPU {peer['cpu_s'] / ours['cpu_s']:.2f}x, "
              f"peak memory {peer['peak_rss_mb'] / ours['peak_rss_mb']:.2f}x (goal: CPU >= 3x)")


if __name__ == "__main__":
    main()
