"""Batch throughput on Dask: ``--workers 2`` (one thread each) against the serial run with one thread.

    python benchmarks/bench_dask.py [--files 16] [--size 1024] [--workers 2] [--model haadf]

Writes ``--files`` noisy images of ``--size``² into a temporary folder and denoises them twice with the
same model and tiling: serially in this process with one torch thread (what ``napari-lowdose denoise``
does), then with :func:`napari_lowdose.denoise_files` on a LocalCluster of ``--workers`` single-threaded
worker processes started for the run. Prints the wall times, the throughput ratio (files per second,
Dask / serial) end to end and after the cluster is up, checks the outputs are identical, and states
the cluster's overhead on a single file (Dask end to end minus serial, model loading included in both).

A ratio is only valid on a quiet machine: anything else using a core (a training run) takes it from
the workers. Run it with nothing else running.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"  # the serial baseline is one thread; the workers get one each from Dask


def make_files(folder: Path, count: int, size: int) -> list[Path]:
    import numpy as np

    from napari_lowdose.io import write_image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size] / size
    paths = []
    for i in range(count):
        truth = 20 + 15 * np.sin(2 * np.pi * (3 + i) * xx) * np.cos(2 * np.pi * 5 * yy)
        paths.append(write_image(folder / f"frame_{i:03d}.tif", rng.poisson(truth).astype(np.uint16), pixel_size=2.0))
    return paths


def serial(paths, outdir: Path, model_name, tile) -> tuple[float, list]:
    import torch

    from napari_lowdose.batch.task import denoise_path
    from napari_lowdose.core.model import load_model
    from napari_lowdose.core.tiling import TiledDenoiser

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    denoiser = TiledDenoiser(load_model(model_name), tile=tile, device="cpu")
    records = [denoise_path(p, outdir, denoiser) for p in paths]
    return time.perf_counter() - t0, records


def on_dask(paths, outdir: Path, model_name, tile, workers: int) -> tuple[float, float, list]:
    from napari_lowdose import denoise_files

    started = {}
    t0 = time.perf_counter()
    records = denoise_files(paths, outdir, model=model_name, workers=workers, device="cpu", tile=tile, threads=1,
                            on_start=lambda link: started.setdefault("up", time.perf_counter()))
    total = time.perf_counter() - t0
    return total, started["up"] - t0, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", default="haadf")
    parser.add_argument("--tile", type=int, default=None, help="tile in pixels (default: the CPU default)")
    args = parser.parse_args()
    import numpy as np

    from napari_lowdose.io import read_image

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        paths = make_files(tmp / "in", args.files, args.size)
        t_serial, rec_serial = serial(paths, tmp / "serial", args.model, args.tile)
        t_dask, t_up, rec_dask = on_dask(paths, tmp / "dask", args.model, args.tile, args.workers)
        assert all(r.ok for r in rec_serial + rec_dask), [r.error for r in rec_serial + rec_dask if not r.ok]
        same = all(np.array_equal(read_image(a.outputs[0])[0].data, read_image(b.outputs[0])[0].data) for a, b in zip(rec_serial, rec_dask))
        # one file: the cluster's fixed cost (start, workers importing torch, model shipped) shows alone
        t1_serial, _ = serial(paths[:1], tmp / "serial1", args.model, args.tile)
        t1_dask, _, _ = on_dask(paths[:1], tmp / "dask1", args.model, args.tile, args.workers)
    work = sum(r.seconds for r in rec_dask)
    busy = t_dask - t_up  # from the cluster being up (workers started, client connected) to the end
    print(f"{args.files} files of {args.size}x{args.size} uint16, model {args.model}, CPU, {os.cpu_count()} cores seen")
    print(f"serial, 1 thread:                 {t_serial:8.1f} s  ({args.files / t_serial:.3f} files/s)")
    print(f"dask, {args.workers} workers x 1 thread:       {t_dask:8.1f} s  ({args.files / t_dask:.3f} files/s) end to end; "
          f"{busy:.1f} s after the cluster was up ({t_up:.1f} s to start it); {work:.1f} s of per-file work in the workers")
    print(f"throughput ratio dask / serial:    {t_serial / t_dask:8.2f}x end to end, {t_serial / busy:.2f}x once the cluster is up "
          f"(goal >= 1.7x on 2 cores)")
    print(f"outputs identical to the serial run: {same}")
    print(f"one file: serial {t1_serial:.1f} s, dask {t1_dask:.1f} s: cluster overhead {t1_dask - t1_serial:.1f} s")


if __name__ == "__main__":
    main()
