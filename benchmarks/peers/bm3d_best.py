"""Oracle baselines for the peer benchmark: BM3D at its best sigma and the Gaussian filter at its best
sigma, each chosen per image WITH the truth (an oracle no real method has). Project venv; needs the
``bm3d`` package (benchmarks/requirements.txt), never a package dependency.

Scoring is the project's own: PSNR after the least-squares affine match to the truth
(:func:`napari_lowdose.core.evaluate.score`); the Gaussian oracle IS
:func:`napari_lowdose.core.evaluate.best_gaussian` (same sigma grid), re-exported here.

BM3D (Dabov et al. 2007; the ``bm3d`` package of Mäkinen, Azzari & Foi, profile "np", both stages)
assumes white Gaussian noise.
Detector data are Poisson (times a gain, plus an offset and read noise), so with
``transform="anscombe"`` the image is first put through the generalised Anscombe transform
(Mäkitalo & Foi 2013) with the given gain (ADU per counted electron), offset (ADU) and read noise
(ADU rms) -- for raw counts the defaults gain 1, offset 0, read noise 0 give the plain Anscombe
transform -- denoised there, and brought back with the closed-form approximation of the exact
unbiased inverse. ``transform="none"`` runs BM3D on the image as it is. ``transform="best"`` (the
default) runs both and keeps the better, twice the time: plain won four of five cells of smoke.py
by 0.14-0.55 dB, the Anscombe route the fifth by 0.03 dB (benchmarks/peers/README.md).
Either way the sigma grid is
in units of the noise std estimated from the image being denoised (after the transform, if any):
median absolute deviation of the finest diagonal Haar detail / 0.6745 (Donoho 1995), or its rms where
the MAD is 0 (sparse counts: most pixels hold no electron, as at 0.003-0.6 counts/px in the abTEM set). The estimate
only centres the grid; the oracle picks the factor.
"""

from __future__ import annotations

import numpy as np

from napari_lowdose.core.evaluate import GAUSSIAN_SIGMAS, best_gaussian, score

SIGMA_FACTORS = tuple(float(f) for f in np.round(np.geomspace(0.25, 16.0, 13), 4))  #: x noise-std estimate

__all__ = ["bm3d_oracle", "gaussian_oracle", "noise_std", "anscombe", "inverse_anscombe", "SIGMA_FACTORS"]


def noise_std(x: np.ndarray) -> float:
    """Robust white-noise std of ``x`` (y, x): MAD of the finest diagonal Haar detail / 0.6745."""
    x = np.asarray(x, np.float64)
    ny, nx = (x.shape[0] // 2) * 2, (x.shape[1] // 2) * 2
    x = x[:ny, :nx]
    d = (x[0::2, 0::2] - x[0::2, 1::2] - x[1::2, 0::2] + x[1::2, 1::2]) / 2.0
    mad = float(np.median(np.abs(d - np.median(d))) / 0.6745)
    # sparse counts (most pixels 0, a fraction of an electron per pixel) give a MAD of 0: the rms instead
    return mad if mad > 0 else float(np.sqrt(np.mean(d**2)))


def anscombe(x: np.ndarray, gain: float = 1.0, offset: float = 0.0, read_noise: float = 0.0) -> np.ndarray:
    """Generalised Anscombe transform of detector values ``x`` = gain * Poisson + offset + N(0, read_noise²)
    (all in ADU): noise of std ~1 in the result."""
    z = (np.asarray(x, np.float64) - offset) / gain
    s2 = (read_noise / gain) ** 2
    return 2.0 * np.sqrt(np.maximum(z + 3.0 / 8.0 + s2, 0.0))


def inverse_anscombe(y: np.ndarray, gain: float = 1.0, offset: float = 0.0, read_noise: float = 0.0) -> np.ndarray:
    """Closed-form approximation of the exact unbiased inverse (Mäkitalo & Foi 2011), back to ADU."""
    y = np.maximum(np.asarray(y, np.float64), 0.8)  # the approximation diverges below ~0.8; counts there are ~0
    r = np.sqrt(1.5)
    z = 0.25 * y**2 + 0.25 * r / y - 11.0 / 8.0 / y**2 + 0.625 * r / y**3 - 0.125 - (read_noise / gain) ** 2
    return np.maximum(z, 0.0) * gain + offset


def _bm3d(x: np.ndarray, sigma: float) -> np.ndarray:
    import bm3d  # benchmark-only dependency

    return np.asarray(bm3d.bm3d(x, sigma_psd=sigma, profile="np"), np.float64)


def bm3d_oracle(
    noisy: np.ndarray,
    truth: np.ndarray,
    sigmas=SIGMA_FACTORS,
    transform: str = "best",
    gain: float = 1.0,
    offset: float = 0.0,
    read_noise: float = 0.0,
    refine: bool = True,
    record: list | None = None,
) -> tuple[np.ndarray, float]:
    """(restored image in the units of ``noisy``, best sigma factor): BM3D at the sigma, in units of the
    estimated noise std (see the module docstring), that maximises PSNR to ``truth`` after the affine
    match. The grid is climbed from its value nearest 1 in both directions while PSNR improves;
    ``refine`` then adds the two geometric midpoints around the best grid value. ``record``, if given,
    receives one dict per BM3D run (factor, sigma, psnr)."""
    if transform == "best":  # both, keep the better: an oracle over the transform too (twice the time)
        ra, rn = [], []
        a = bm3d_oracle(noisy, truth, sigmas, "anscombe", gain, offset, read_noise, refine, ra)
        n = bm3d_oracle(noisy, truth, sigmas, "none", gain, offset, read_noise, refine, rn)
        if record is not None:
            record.extend(ra + rn)
        return a if max(r["psnr"] for r in ra) >= max(r["psnr"] for r in rn) else n
    noisy = np.asarray(noisy, np.float64)
    if noisy.ndim != 2 or noisy.shape != np.shape(truth):
        raise ValueError(f"noisy {noisy.shape} and truth {np.shape(truth)} must be the same 2-D shape")
    if transform == "anscombe":
        fwd = anscombe(noisy, gain, offset, read_noise)
        back = lambda y: inverse_anscombe(y, gain, offset, read_noise)  # noqa: E731
    elif transform == "none":
        fwd, back = noisy, (lambda y: y)
    else:
        raise ValueError(f"transform must be 'anscombe', 'none' or 'best', not {transform!r}")
    est = max(noise_std(fwd), 1e-12)
    tried: dict[float, tuple[float, np.ndarray]] = {}

    def run(f: float) -> None:
        if f in tried:
            return
        out = back(_bm3d(fwd, f * est))
        p = score(out, truth)[0]
        tried[f] = (p, out)
        if record is not None:
            record.append({"factor": f, "sigma": f * est, "psnr": p, "transform": transform})

    # Hill climb on the grid from the value nearest 1 (PSNR against sigma is unimodal in practice),
    # so that a scan costs ~4-6 BM3D runs instead of the whole grid.
    grid = sorted(float(s) for s in sigmas)
    i = int(np.argmin([abs(np.log(f)) for f in grid]))
    run(grid[i])
    for step in (1, -1):
        j = i
        while 0 <= j + step < len(grid):
            run(grid[j + step])
            if tried[grid[j + step]][0] <= tried[grid[j]][0]:
                break
            j += step
    if refine and len(grid) > 1:
        best = max(tried, key=lambda f: tried[f][0])
        k = grid.index(best)
        for j in (k - 1, k + 1):
            if 0 <= j < len(grid):
                run(float(np.round(np.sqrt(best * grid[j]), 4)))
    best = max(tried, key=lambda f: tried[f][0])
    return tried[best][1], best


def gaussian_oracle(noisy: np.ndarray, truth: np.ndarray, sigmas=GAUSSIAN_SIGMAS) -> tuple[np.ndarray, float]:
    """(blurred image, best blur sigma in px): :func:`napari_lowdose.core.evaluate.best_gaussian`."""
    return best_gaussian(np.asarray(noisy, np.float64), np.asarray(truth, np.float64), sigmas)
