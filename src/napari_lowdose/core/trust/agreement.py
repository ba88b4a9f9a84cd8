"""Agreement of a denoised image x̂ with the noisy counts y, window by window.

Under a faithful x̂ the residual r = y − x̂ (electrons) is Poisson(+read) noise with variance
v = x̂ + read² per pixel. Two normalised maps, both ~N(0, 1) pixel by pixel when x̂ is faithful:

* ``residual_z``: the residual smoothed at the atom scale (Gaussian, σ_s px), divided by its noise sd:
  > 0 where the data hold more than x̂ (a removed atom or particle), < 0 where x̂ holds more than the
  data (an invented atom).
* ``agreement``: the local deviance: q = residual_z² averaged over a window of w x w px, centred by its
  expectation (1) and scaled by its null spread, computed from the correlation that the smoothing puts
  between neighbouring q and from the Poisson excess kurtosis, then taken as χ²_k / k (Satterthwaite)
  and mapped to N(0, 1) by the Wilson-Hilferty cube root, so its tails are right too. > 0: structure in the residual beyond the
  noise (removed or invented structure, e.g. a lattice blurred away, which leaves a zero-mean residual
  that ``residual_z`` alone misses); < 0: x̂ follows the noise.

Thresholds come from a false-alarm rate per image: with N ≈ pixels / (w²) independent windows, a flag
needs a value beyond the one-sided normal quantile at α / N (Bonferroni).
Images (y, x); sizes in px.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, special


def threshold(alpha: float, n_windows: float) -> float:
    """One-sided N(0, 1) quantile with per-image false-alarm rate ``alpha`` over ``n_windows`` tests."""
    p = alpha / max(n_windows, 1.0)
    return float(-special.ndtri(p))


@dataclass
class AgreementMaps:
    residual_z: np.ndarray  #: (y, x) smoothed residual / its noise sd
    agreement: np.ndarray  #: (y, x) local deviance, normalised: ~N(0, 1) when faithful
    sigma: float  #: px, smoothing of the residual
    window: int  #: px, side of the deviance window
    n_windows: float  #: independent windows in the image (for thresholds)
    n_spots: float  #: independent smoothing spots in the image (for residual_z thresholds)


def _gauss_kernel(sigma: float) -> np.ndarray:
    R = int(np.ceil(4 * sigma))
    t = np.arange(-R, R + 1)
    g = np.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / (2 * sigma**2))
    return g / g.sum()


def agreement_maps(counts: np.ndarray, denoised: np.ndarray, read_noise_e: float, sigma: float,
                   window: int | None = None, tolerance: float = 0.0) -> AgreementMaps:
    """Both maps for ``counts`` and ``denoised`` (e⁻/px), read noise in electrons rms, smoothing σ (px).

    ``tolerance``: relative error of x̂ that is not counted as disagreement (added to the variance of
    the smoothed residual as (tolerance · smoothed x̂)²); 0 tests against the noise alone.
    """
    y = np.asarray(counts, np.float64)
    xh = np.clip(np.asarray(denoised, np.float64), 0.0, None)
    v = xh + read_noise_e**2 + 1e-6
    r = y - xh
    k = _gauss_kernel(sigma)
    s = ndimage.convolve(r, k, mode="reflect")
    var_s = ndimage.convolve(v, k**2, mode="reflect")
    if tolerance > 0:
        var_s = var_s + (tolerance * ndimage.convolve(xh, k, mode="reflect")) ** 2
    rz = s / np.sqrt(var_s)
    # Poisson skewness of the smoothed residual (κ3 = λ): first-order inverse Cornish-Fisher, so that the
    # tails match N(0, 1) at low counts too
    gamma = ndimage.convolve(xh, k**3, mode="reflect") / var_s**1.5
    rz_raw = rz
    rz = rz - gamma / 6.0 * (np.clip(rz, -8, 8) ** 2 - 1.0)
    # deviance window: q = rz², null mean 1; its window mean has variance (2 + excess kurtosis) Σ ρ² / W²
    w = int(window or max(8, int(round(6 * sigma))))
    q = rz_raw**2
    qbar = ndimage.uniform_filter(q, w, mode="reflect")
    kk = ndimage.convolve(np.pad(k, k.shape[0]), k, mode="constant")  # autocorrelation of the kernel
    rho2 = (kk / kk.max()) ** 2
    # Σ_{i,j ∈ W} ρ²(i − j) = Σ_d ρ²(d) · (w − |dy|)(w − |dx|) for |d| < w
    c = rho2.shape[0] // 2
    dyy, dxx = np.mgrid[-c : c + 1, -c : c + 1]
    overlap = np.clip(w - np.abs(dyy), 0, None) * np.clip(w - np.abs(dxx), 0, None)
    sum_rho2 = float((rho2 * overlap).sum())
    ek = ndimage.convolve(xh, k**4, mode="reflect") / var_s**2  # Poisson κ4 = λ (electrons)
    ekbar = ndimage.uniform_filter(ek, w, mode="reflect")
    sd_qbar = np.sqrt((2.0 + ekbar) * sum_rho2) / w**2
    # qbar ~ χ²_k / k with k = 2 / sd² (Satterthwaite); Wilson-Hilferty makes it ~N(0, 1), tails included
    kdof = 2.0 / sd_qbar**2
    a = 2.0 / (9.0 * kdof)
    agreement = (np.cbrt(np.clip(qbar, 0, None)) - (1.0 - a)) / np.sqrt(a)
    n_windows = y.size / float(w * w)
    n_spots = y.size / float(4 * np.pi * sigma**2)
    return AgreementMaps(rz.astype(np.float32), agreement.astype(np.float32), float(sigma), w, n_windows, n_spots)


def regions(score: np.ndarray, thresh: float, min_px: int = 4) -> list[tuple[float, float, float, float]]:
    """Connected regions of ``|score| > thresh``: (y, x, size px = sqrt(area), peak score with sign)."""
    out = []
    lab, n = ndimage.label(np.abs(score) > thresh)
    if n == 0:
        return out
    idx = np.arange(1, n + 1)
    areas = ndimage.sum(np.ones_like(score), lab, idx)
    for i, area in zip(idx, areas):
        if area < min_px:
            continue
        m = lab == i
        vals = score[m]
        j = int(np.argmax(np.abs(vals)))
        cy, cx = ndimage.center_of_mass(m)
        out.append((float(cy), float(cx), float(np.sqrt(area)), float(vals[j])))
    return out
