"""tk-r-em 1.0.4 from the project venv: :func:`restore` hands images to ``run_tkrem.py`` running in the
TensorFlow venv ``benchmarks/peers/.venv-tkrem`` (made by ``setup_tkrem.sh``) and returns the result.
TensorFlow and tk-r-em are never imported here, and never become dependencies of napari-lowdose.

    import sys; sys.path.insert(0, "benchmarks/peers")
    from tkrem import restore, model_for
    out = restore({"a": counts_a, "b": counts_b}, model="sfr_hrstem")   # dict of 2-D float32 arrays

Give it raw detector values (counts or ADU): the networks standardise each image themselves, so a
gain and an offset change nothing (see run_tkrem.py). One whole image per pass by default; ``patch``
uses tk-r-em's overlapping-tile mode. Set ``TKREM_PYTHON`` to use another interpreter than the venv's.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
VENV_PYTHON = HERE / ".venv-tkrem" / "bin" / "python"
RUNNER = HERE / "run_tkrem.py"
MODELS = ("sfr_hrstem", "sfr_lrstem", "sfr_hrtem", "sfr_lrtem")


class TkremUnavailable(RuntimeError):
    """The tk-r-em venv is missing: run ``bash benchmarks/peers/setup_tkrem.sh``."""


def python() -> Path:
    """The interpreter of the tk-r-em venv (``TKREM_PYTHON`` overrides)."""
    p = Path(os.environ.get("TKREM_PYTHON", VENV_PYTHON))
    if not p.exists():
        raise TkremUnavailable(f"tk-r-em is not set up ({p} is missing): run bash benchmarks/peers/setup_tkrem.sh")
    return p


HR_MAX_PIXEL_A = 1.0  #: Å per pixel; at or below it the high-resolution (atomic-scale) network


def model_for(modality: str, pixel_size_A: float | None = None) -> str:
    """The benchmark's rule for tk-r-em's matching network: STEM (``"haadf"``, ``"stem"``) -> ``sfr_*stem``,
    TEM (``"hrtem"``, ``"tem"``) -> ``sfr_*tem``; ``hr`` (trained on atomic-resolution images) when the
    pixel is at most :data:`HR_MAX_PIXEL_A` (columns or lattice fringes resolved) or unknown, ``lr``
    (particles, low magnification) above it. Our rule, not tk-r-em's: its documentation names the two
    families by the features they restore (high- and low-resolution), not by a pixel size."""
    m = modality.lower()
    if m in ("haadf", "stem", "adf"):
        kind = "stem"
    elif m in ("hrtem", "tem"):
        kind = "tem"
    else:
        raise ValueError(f"modality must be STEM (haadf) or TEM (hrtem), not {modality!r}")
    hr = pixel_size_A is None or pixel_size_A <= HR_MAX_PIXEL_A
    return f"sfr_{'hr' if hr else 'lr'}{kind}"


def restore(images: dict[str, np.ndarray], model: str, threads: int = 1, patch: int = 0,
            timeout: float | None = None) -> dict[str, np.ndarray]:
    """Restore each named 2-D image (y, x) with tk-r-em network ``model``; the result has the same names,
    shapes and intensity scale (float32). ``threads``: TensorFlow threads; ``patch``: 0 for the whole
    image in one pass, else tk-r-em's tile size (>= 128)."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, not {model!r}")
    if not images:
        return {}
    for name, a in images.items():
        if np.ndim(a) != 2:
            raise ValueError(f"image {name!r} has shape {np.shape(a)}; tk-r-em restores 2-D images only")
    exe = python()
    with tempfile.TemporaryDirectory(prefix="tkrem-") as tmp:
        inp, out = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(inp, **{k: np.asarray(v, np.float32) for k, v in images.items()})
        cmd = [str(exe), str(RUNNER), str(inp), str(out), "--model", model, "--threads", str(threads), "--patch", str(patch)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            tail = (r.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise RuntimeError(f"tk-r-em failed (exit {r.returncode}): {tail}")
        with np.load(out) as z:
            return {k: z[k] for k in images}
