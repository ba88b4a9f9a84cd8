"""Memory of 4D-STEM denoising and lazy browsing on datasets larger than a few hundred MB (issue 18).

(a) Writes a ``--size``⁴ uint16 4D-STEM dataset (default 128: 0.5 GB) to a temporary folder as ``.npy``,
    scan row by scan row (never held whole): Poisson counts of a simple pattern model (a bright disc whose
    intensity and an annular dark-field ring and Bragg spots vary over the scan with an 8-position lattice
    period, about ``--dose`` electrons per pattern). Then runs ``napari-lowdose denoise4d IN -o OUT.zarr``
    (``--minutes`` of training, the CLI's defaults otherwise) in a child process and reports its peak
    resident memory (``os.wait4``'s ``ru_maxrss`` of that child, and the peaks of anonymous and
    file-backed resident memory polled from ``/proc/PID/status`` every 0.2 s) against the goal of 1.5 GB;
    then checks the output: the input's shape, float32, stored in chunks of one scan row.
(b) Writes a ``--big``⁴ uint16 file (default 256: 8 GiB) as ``.npy`` block by block (a few rows of
    Poisson counts reused with a shift, so that writing is not dominated by random numbers), then in a
    child process opens it with :func:`napari_lowdose.io.read_4dstem` (lazy, dask) and does what browsing
    does: the mean pattern over a 32 x 32 block of the scan, a virtual bright-field image over a 64 x 64
    block, the pattern at one position; with ``--full-browse`` also the whole-scan mean pattern and one
    whole-scan virtual image (what the panel computes when a layer is chosen). Reports the wall time of
    each step and the child's peak resident memory. The file is deleted afterwards.

One thread (torch, BLAS) in every process; run it niced on a shared machine::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/bench_fourd_memory.py [--minutes 2] [--skip-big]

Numbers are printed as one JSON line per part and a summary; nothing is written outside the temporary
folder (``--tmp``, default the system's).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402

GOAL_MB = 1536.0  # 1.5 GB, the goal for the 128^4 run (GiB-based: 1.5 x 1024 MB)
MB = 2**20


def pattern_model(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bright disc, ADF ring, Bragg spots) on a size x size detector, each summing to 1."""
    c = (size - 1) / 2
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - c, xx - c)
    disc_r = 0.1 * size
    disc = (r < disc_r).astype(np.float64)
    ring = np.where((r >= 1.3 * disc_r) & (r < 4 * disc_r), 1.0 / np.maximum(r, 1) ** 2, 0.0)
    spots = np.zeros((size, size))
    for k in range(6):
        a = k * np.pi / 3
        spots += np.exp(-((yy - c - 2 * disc_r * np.sin(a)) ** 2 + (xx - c - 2 * disc_r * np.cos(a)) ** 2) / (2 * (0.02 * size) ** 2))
    return disc / disc.sum(), ring / ring.sum(), spots / spots.sum()


def rows_of_counts(shape: tuple[int, int, int, int], dose: float, seed: int = 0):
    """Yield (row index, uint16 (nx, ky, kx)) Poisson counts of the pattern model, one scan row at a time."""
    ny, nx, ky, kx = shape
    disc, ring, spots = pattern_model(ky)
    rng = np.random.default_rng(seed)
    x = np.arange(nx)
    for i in range(ny):
        column = 0.5 + 0.5 * np.cos(2 * np.pi * i / 8) * np.cos(2 * np.pi * x / 8)  # an atomic column every 8 positions
        w_bf, w_adf, w_spot = 0.8 - 0.3 * column, 0.1 + 0.3 * column, 0.1
        rate = dose * (w_bf[:, None, None] * disc + w_adf[:, None, None] * ring + w_spot * spots)
        yield i, rng.poisson(rate).astype(np.uint16)


def write_npy(path: Path, shape: tuple[int, ...], rows) -> None:
    """An .npy file written row block by row block with plain writes (no memory map in this process)."""
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": np.dtype(np.uint16).str, "fortran_order": False, "shape": tuple(shape)})
        for _, block in rows:
            fh.write(np.ascontiguousarray(block, np.uint16).tobytes())


def run_child(cmd: list[str], env: dict | None = None) -> dict:
    """Run ``cmd``, polling /proc for resident memory; its own rusage from os.wait4."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    peaks = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
    out_chunks: list[str] = []
    import threading

    def drain(stream, sink):
        for line in stream:
            sink.append(line)

    err_lines: list[str] = []
    threads = [threading.Thread(target=drain, args=(proc.stdout, out_chunks), daemon=True),
               threading.Thread(target=drain, args=(proc.stderr, err_lines), daemon=True)]
    for t in threads:
        t.start()
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                key = line.split(":")[0]
                if key in peaks:
                    peaks[key] = max(peaks[key], int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
        time.sleep(0.2)
    proc.returncode = os.waitstatus_to_exitcode(status)
    for t in threads:
        t.join(timeout=5)
    return {
        "rc": proc.returncode,
        "wall_s": round(time.perf_counter() - t0, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "maxrss_mb": round(usage.ru_maxrss / 1024, 1),
        "polled_peak_rss_mb": round(peaks["VmRSS"] / 1024, 1),
        "polled_peak_anon_mb": round(peaks["RssAnon"] / 1024, 1),
        "polled_peak_file_mb": round(peaks["RssFile"] / 1024, 1),
        "stdout": "".join(out_chunks),
        "stderr_tail": "".join(err_lines[-8:]),
    }


def child_env(src: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(src) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def part_a(args, tmp: Path, src: Path) -> dict:
    n = args.size
    shape = (n, n, n, n)
    inp = tmp / f"scan{n}.npy"
    t0 = time.perf_counter()
    write_npy(inp, shape, rows_of_counts(shape, args.dose))
    t_write = time.perf_counter() - t0
    out = tmp / f"scan{n}_denoised.{args.out_format}"
    cmd = [sys.executable, "-m", "napari_lowdose.cli", "denoise4d", str(inp), "-o", str(out), "--minutes", str(args.minutes)]
    if args.steps:
        cmd += ["--steps", str(args.steps)]
    res = run_child(cmd, child_env(src))
    res.update(part="a", shape=list(shape), input_bytes=inp.stat().st_size, input_write_s=round(t_write, 1), goal_mb=GOAL_MB, command=" ".join(cmd[1:]))
    if res["rc"] == 0:
        res.update(check_output(out, inp, shape))
    res["meets_goal"] = res["rc"] == 0 and res["maxrss_mb"] <= GOAL_MB
    return res


def check_output(out: Path, inp: Path, shape) -> dict:
    """Shape, dtype, chunking of the result and a sanity check: finite, mean counts close to the input's."""
    if out.suffix == ".zarr":
        import zarr

        arr = zarr.open_group(str(out), mode="r")["data"]
        chunks = tuple(arr.chunks)
    else:
        import h5py

        fh = h5py.File(out, "r")
        arr = fh["data"]
        chunks = tuple(arr.chunks)
    src = np.load(inp, mmap_mode="r")
    rows = [0, shape[0] // 2, shape[0] - 1]
    got = np.concatenate([np.asarray(arr[r : r + 1]) for r in rows])
    ref = np.concatenate([np.asarray(src[r : r + 1], np.float64) for r in rows])
    return {"out_shape": list(arr.shape), "out_dtype": str(arr.dtype), "out_chunks": list(chunks),
            "out_finite_rows_checked": bool(np.isfinite(got).all()),
            "mean_counts_out_over_in": round(float(got.mean() / ref.mean()), 4)}


BROWSE = r"""
import json, sys, time
import numpy as np
t0 = time.perf_counter()
from napari_lowdose.io.read4d import read_4dstem
from napari_lowdose.core.fourd.detector import DetectorRegion, detector_mask, mean_pattern, virtual_image
t_import = time.perf_counter() - t0
path, full = sys.argv[1], sys.argv[2] == "1"
res = {}
t = time.perf_counter(); ds = read_4dstem(path); res["open_s"] = time.perf_counter() - t
res["lazy"] = ds.lazy; res["chunks"] = [list(c[:1]) + [len(c)] for c in ds.data.chunks] if ds.lazy else None
ny, nx, ky, kx = ds.shape
c = ((ky - 1) / 2, (kx - 1) / 2)
mask = detector_mask((ky, kx), DetectorRegion(c, 0.1 * ky))
t = time.perf_counter(); m = np.asarray(mean_pattern(ds.data[:32, :32])); res["mean_pattern_32x32_s"] = time.perf_counter() - t
t = time.perf_counter(); v = np.asarray(virtual_image(ds.data[:64, :64], mask)); res["virtual_bf_64x64_s"] = time.perf_counter() - t
t = time.perf_counter(); p = np.asarray(ds.data[ny // 2, nx // 2]); res["pattern_at_position_s"] = time.perf_counter() - t
res["checks"] = {"mean_pattern_shape": list(m.shape), "virtual_shape": list(v.shape), "pattern_shape": list(p.shape), "mean_counts_per_pattern": float(m.sum())}
if full:
    t = time.perf_counter(); M = np.asarray(mean_pattern(ds.data)); res["mean_pattern_full_s"] = time.perf_counter() - t
    t = time.perf_counter(); V = np.asarray(virtual_image(ds.data, mask)); res["virtual_bf_full_s"] = time.perf_counter() - t
    res["checks"]["full_mean_counts_per_pattern"] = float(M.sum())
res = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in res.items()}
print(json.dumps(res))
"""


def part_b(args, tmp: Path, src: Path) -> dict:
    n = args.big
    shape = (n, n, n, n)
    path = tmp / f"scan{n}.npy"
    pool = [block for _, block in rows_of_counts((4, n, n, n), args.dose, seed=1)]

    def rows():
        for i in range(n):
            yield i, np.roll(pool[i % len(pool)], i, axis=0)

    t0 = time.perf_counter()
    try:
        write_npy(path, shape, rows())
        t_write = time.perf_counter() - t0
        res = run_child([sys.executable, "-c", BROWSE, str(path), "1" if args.full_browse else "0"], child_env(src))
        res.update(part="b", shape=list(shape), file_bytes=path.stat().st_size, file_write_s=round(t_write, 1))
        if res["rc"] == 0 and res["stdout"].strip():
            res["browse"] = json.loads(res["stdout"].strip().splitlines()[-1])
    finally:
        path.unlink(missing_ok=True)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=128, help="side of the denoised dataset (default 128: 128^4 uint16, 0.5 GB)")
    ap.add_argument("--big", type=int, default=256, help="side of the browsed dataset (default 256: 8 GiB)")
    ap.add_argument("--dose", type=float, default=500.0, help="mean electrons per pattern (default 500)")
    ap.add_argument("--minutes", type=float, default=2.0, help="training minutes of the denoise4d run (default 2)")
    ap.add_argument("--steps", type=int, default=None, help="cap on training steps (optional)")
    ap.add_argument("--out-format", choices=["zarr", "h5"], default="zarr")
    ap.add_argument("--skip-denoise", action="store_true")
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--full-browse", action="store_true", help="also the whole-scan mean pattern and virtual image of the big file")
    ap.add_argument("--tmp", type=Path, default=None, help="folder for the temporary files (default: the system's)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args(argv)
    src = Path(__file__).resolve().parents[1] / "src"
    tmp = Path(tempfile.mkdtemp(prefix="bench_fourd_memory.", dir=args.tmp))
    results = []
    try:
        if not args.skip_denoise:
            results.append(part_a(args, tmp, src))
            print(json.dumps({k: v for k, v in results[-1].items() if k != "stdout"}), flush=True)
        if not args.skip_big:
            results.append(part_b(args, tmp, src))
            print(json.dumps({k: v for k, v in results[-1].items() if k != "stdout"}), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print("\nsummary")
    for r in results:
        if r["part"] == "a":
            print(f"(a) denoise4d {'x'.join(map(str, r['shape']))} uint16 ({r['input_bytes'] / MB:.0f} MB): rc {r['rc']}, wall {r['wall_s']} s, "
                  f"CPU {r['cpu_s']} s, peak RSS {r['maxrss_mb']:.0f} MB (anon {r['polled_peak_anon_mb']:.0f}, file-backed "
                  f"{r['polled_peak_file_mb']:.0f}) = {r['maxrss_mb'] / GOAL_MB:.2f} x the 1.5 GB goal; output "
                  f"{r.get('out_shape')} {r.get('out_dtype')} chunks {r.get('out_chunks')}")
        else:
            b = r.get("browse", {})
            print(f"(b) browse {'x'.join(map(str, r['shape']))} uint16 ({r['file_bytes'] / 2**30:.1f} GiB): rc {r['rc']}, open {b.get('open_s')} s, "
                  f"mean pattern 32x32 {b.get('mean_pattern_32x32_s')} s, virtual BF 64x64 {b.get('virtual_bf_64x64_s')} s, pattern "
                  f"{b.get('pattern_at_position_s')} s, full mean {b.get('mean_pattern_full_s')} s, full virtual {b.get('virtual_bf_full_s')} s; "
                  f"peak RSS {r['maxrss_mb']:.0f} MB (anon {r['polled_peak_anon_mb']:.0f}, file-backed {r['polled_peak_file_mb']:.0f})")
    return 0 if all(r["rc"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
