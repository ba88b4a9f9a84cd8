"""Image quality against a known truth: PSNR and SSIM (numpy/scipy), plus the least-squares affine
intensity match used to compare methods whose outputs may differ from the truth by gain and offset."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def data_range(truth: np.ndarray) -> float:
    r = float(np.max(truth) - np.min(truth))
    return r if r > 0 else 1.0


def psnr(x: np.ndarray, truth: np.ndarray, data_range_: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB, peak = the truth's range (max - min) unless given."""
    peak = data_range(truth) if data_range_ is None else data_range_
    mse = float(np.mean((np.asarray(x, np.float64) - np.asarray(truth, np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(peak**2 / mse))


def ssim(x: np.ndarray, truth: np.ndarray, data_range_: float | None = None, sigma: float = 1.5) -> float:
    """Mean structural similarity (Wang et al. 2004): Gaussian window (sigma 1.5 px, truncated at 3.5
    sigma), K1 = 0.01, K2 = 0.03, population statistics; the border (3.5 sigma) is left out of the mean."""
    L = data_range(truth) if data_range_ is None else data_range_
    x = np.asarray(x, np.float64)
    y = np.asarray(truth, np.float64)
    f = lambda a: ndimage.gaussian_filter(a, sigma, truncate=3.5)  # noqa: E731
    mx, my = f(x), f(y)
    vx, vy, cxy = f(x * x) - mx * mx, f(y * y) - my * my, f(x * y) - mx * my
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    pad = int(3.5 * sigma + 0.5)
    return float(s[pad:-pad, pad:-pad].mean()) if min(s.shape) > 2 * pad else float(s.mean())


def affine_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, b) minimising ``|y - (a x + b)|^2`` over all pixels."""
    x = np.asarray(x, np.float64).ravel()
    y = np.asarray(y, np.float64).ravel()
    xm, ym = x.mean(), y.mean()
    var = float(((x - xm) ** 2).mean())
    a = float(((x - xm) * (y - ym)).mean() / var) if var > 0 else 0.0
    return a, float(ym - a * xm)


def affine_match(x: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``a x + b`` with ``a, b`` minimising the squared error to ``truth`` (float64)."""
    a, b = affine_fit(x, truth)
    return a * np.asarray(x, np.float64) + b
