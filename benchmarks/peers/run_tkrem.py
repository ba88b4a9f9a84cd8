"""Restore images with tk-r-em 1.0.4 (Lobato et al., npj Comput. Mater. 2024). Runs INSIDE
benchmarks/peers/.venv-tkrem (made by setup_tkrem.sh); imports only numpy, tensorflow and tk_r_em.

    .venv-tkrem/bin/python run_tkrem.py IN.npz OUT.npz --model sfr_hrstem [--threads 1] [--patch N]
    .venv-tkrem/bin/python run_tkrem.py --time IMAGE.npy --model sfr_hrstem [--threads 1] [--patch N]

IN.npz holds named 2-D arrays (y, x) of raw detector values (counts); OUT.npz gets the restored
float32 arrays under the same names, on the same scale as the input.

What tk-r-em does with the input (read from its source and its saved graphs): the first layer of each
network standardises the whole image, (x - mean) / max(std, 0.1), and the last layer undoes it, so
raw counts go in and come out on their own scale; no other normalisation is needed (inputs whose std is
below 0.1, e.g. counts rescaled to [0, 1], would be under-scaled, so always give it raw counts). The
networks are fully convolutional with one stride-2 stage, so any size works once rows and columns are
even: ``Model.predict`` pads an odd last row/column with the image mean and crops it off again.

Default: the whole image in one pass (tk-r-em's ``predict``), the way its own examples restore a
single image, and the only way in which its standardisation sees the whole image. ``--patch N`` uses
tk-r-em's ``predict_patch_based`` instead (N x N tiles, stride N/2, Butterworth-weighted overlap;
each tile is then standardised on its own), for images too large for memory.

``--time`` restores one image (.npy, or the first array of an .npz) and prints one JSON line: wall
time of the whole process (from interpreter start, TensorFlow import included), of the model load and
of the restoration alone, CPU time, and the peak resident memory (``ru_maxrss``) of the process.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

_T_START = time.perf_counter()
MODELS = ("sfr_hrstem", "sfr_lrstem", "sfr_hrtem", "sfr_lrtem")


def _fail(msg: str) -> None:
    print(f"run_tkrem: {msg}", file=sys.stderr)
    sys.exit(2)


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("inp", nargs="?", help="input .npz of named 2-D arrays (raw counts)")
    p.add_argument("out", nargs="?", help="output .npz (same names, restored, float32)")
    p.add_argument("--model", required=True, choices=MODELS)
    p.add_argument("--threads", type=int, default=1, help="TensorFlow intra- and inter-op threads (default 1)")
    p.add_argument("--patch", type=int, default=0,
                   help="tile size for tk-r-em's predict_patch_based (default 0: whole image in one pass)")
    p.add_argument("--time", metavar="IMAGE", help="restore this one image (.npy/.npz) and print timings")
    a = p.parse_args(argv)
    if a.time is None and (a.inp is None or a.out is None):
        _fail("give IN.npz and OUT.npz, or --time IMAGE.npy")
    if a.threads < 1:
        _fail("--threads must be at least 1")
    if a.patch and a.patch < 128:
        _fail("--patch must be 0 (whole image) or at least 128 (tk-r-em's smallest tile)")
    return a


def _set_threads(n: int) -> None:
    # Before TensorFlow is imported: its Eigen/oneDNN pools and OpenMP read these at start-up.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ[var] = str(n)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["CUDA_VISIBLE_DEVICES"] = os.environ.get("TKREM_CUDA_VISIBLE_DEVICES", "")


def _check_image(name: str, a):
    import numpy as np

    a = np.asarray(a)
    if a.ndim != 2:
        _fail(f"array {name!r} has shape {a.shape}; tk-r-em restores 2-D images (y, x) only")
    if min(a.shape) < 2:
        _fail(f"array {name!r} of shape {a.shape} is too small to restore")
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        _fail(f"array {name!r} holds NaN or infinite values")
    return a


def _restore(net, image, patch: int):
    import numpy as np

    if patch:
        # tk-r-em's patch loop calls Keras predict with its progress bar on: keep stdout clean.
        with contextlib.redirect_stdout(sys.stderr):
            out = net.predict_patch_based(image, patch_size=patch, stride=patch // 2, batch_size=4)
    else:
        out = net.predict(image, batch_size=1)
    out = np.asarray(out, dtype=np.float32).reshape(image.shape)
    return out


def _load(model: str, threads: int):
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.get_logger().setLevel("ERROR")
    import tk_r_em

    return tk_r_em.load_network(model)


def _read_one(path: str):
    import numpy as np

    if path.endswith(".npy"):
        return _check_image(os.path.basename(path), np.load(path))
    if path.endswith(".npz"):
        with np.load(path) as z:
            name = z.files[0]
            return _check_image(name, z[name])
    _fail(f"{path}: --time reads .npy or .npz (this venv has no TIFF reader); convert with numpy first")


def main(argv=None) -> int:
    a = _parse(argv)
    _set_threads(a.threads)
    import resource

    import numpy as np

    if a.time:
        image = _read_one(a.time)
        t0 = time.perf_counter()
        net = _load(a.model, a.threads)
        t1 = time.perf_counter()
        out = _restore(net, image, a.patch)
        t2 = time.perf_counter()
        ru = resource.getrusage(resource.RUSAGE_SELF)
        import json

        print(json.dumps({
            "model": a.model, "shape": list(image.shape), "threads": a.threads, "patch": a.patch,
            "load_s": round(t1 - t0, 2), "restore_s": round(t2 - t1, 2),
            "process_wall_s": round(t2 - _T_START, 2),
            "process_cpu_s": round(ru.ru_utime + ru.ru_stime, 2),
            "peak_rss_mb": round(ru.ru_maxrss / 1024, 1),  # Linux: ru_maxrss is in KiB
            "out_mean": float(out.mean()), "in_mean": float(image.mean()),
        }))
        return 0

    if not os.path.isfile(a.inp):
        _fail(f"{a.inp}: no such file")
    with np.load(a.inp) as z:
        images = {name: _check_image(name, z[name]) for name in z.files}
    if not images:
        _fail(f"{a.inp} holds no arrays")
    net = _load(a.model, a.threads)
    restored = {name: _restore(net, im, a.patch) for name, im in images.items()}
    tmp = a.out + ".part.npz"
    np.savez(tmp, **restored)
    os.replace(tmp, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
