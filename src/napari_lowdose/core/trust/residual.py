"""Structure left in the residual r = y − x̂ (electrons): peaks of its power spectrum (lattice reflections
the denoiser removed), block by block and over the whole image, and its autocorrelation.

Under a faithful x̂ the residual is white noise of variance v = x̂ + read² per pixel; with a Hann window
h the power |R(k)|² at each frequency has mean Σ h² v, so P = |R(k)|² / Σ h² v is Exp(1) for noise
of even variance, and at most (χ²₁ x 2) when the shot noise's variance follows the lattice; P > 2 ln(n / α)
has a chance below α among n frequencies either way. A peak is reported
when it passes that test *and* the residual holds at least ``fraction`` of the data's own amplitude
at that frequency (so a denoiser that only lowers a reflection's contrast a little is not reported) and
the data's peak passes the same test (the reflection is really in the data). Spacings in Å.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class LatticePeak:
    """A reflection found in the residual: position of the block (px), its size, spacing (Å), score."""

    y: float
    x: float
    size: float
    spacing: float  #: Å (px when the pixel size is unknown)
    score: float  #: normalised residual power P (Exp(1) under a faithful x̂)
    removed: float  #: residual amplitude / data amplitude at that frequency (1: all of it removed)

    def to_dict(self) -> dict:
        return {k: round(float(v), 4) for k, v in self.__dict__.items()}


def _peaks_in(r: np.ndarray, y: np.ndarray, v: np.ndarray, thresh: float, fraction: float,
              min_period: float, max_period: float) -> list[tuple[float, float, float]]:
    """(period px, score, removed fraction) for the significant reflections of one block."""
    n0, n1 = r.shape
    h = np.outer(np.hanning(n0), np.hanning(n1))
    level = float((h**2 * v).sum())
    R = np.fft.fft2(h * (r - r.mean()))
    Y = np.fft.fft2(h * (y - y.mean()))
    pr = np.abs(R) ** 2 / level
    py = np.abs(Y) ** 2 / level
    fy = np.fft.fftfreq(n0)[:, None]
    fx = np.fft.fftfreq(n1)[None, :]
    f = np.hypot(fy, fx)
    band = (f >= 1.0 / max_period) & (f <= 1.0 / min_period) & (fx >= 0)
    frac = np.sqrt(pr / np.maximum(py, 1e-12))
    # a reflection is sharp: its power stands above the residual's power 3-5 bins around it (a removed
    # blob or a broad error is not)
    dy, dx = np.mgrid[-5:6, -5:6]
    ring = ((np.hypot(dy, dx) >= 3) & (np.hypot(dy, dx) <= 5)).astype(float)
    around = ndimage.convolve(pr, ring / ring.sum(), mode="wrap")
    peak = pr == ndimage.maximum_filter(pr, size=3, mode="wrap")  # one bin per reflection, not its window's lobe
    hit = band & peak & (pr > thresh) & (py > thresh) & (frac >= fraction) & (pr > 6.0 * around)
    out = []
    for iy, ix in np.argwhere(hit):
        out.append((1.0 / float(f[iy, ix]), float(pr[iy, ix]), float(min(frac[iy, ix], 9.99))))
    # one entry per spacing (neighbouring bins of one reflection): keep the strongest within 5 %
    out.sort(key=lambda t: -t[1])
    kept: list[tuple[float, float, float]] = []
    for p in out:
        if all(abs(p[0] - q[0]) > 0.05 * q[0] for q in kept):
            kept.append(p)
    return kept


def lattice_peaks(counts: np.ndarray, denoised: np.ndarray, variance: np.ndarray, pixel_size: float | None,
                  block: int = 64, alpha: float = 0.01, fraction: float = 0.5, min_period: float = 2.5,
                  min_spacing: float = 0.0) -> list[LatticePeak]:
    """Removed reflections, block by block (``block`` px, half-overlapping) and over the whole image;
    periods shorter than ``min_period`` px or ``min_spacing`` Å are not tested."""
    if pixel_size and min_spacing > 0:
        min_period = max(min_period, min_spacing / float(pixel_size))
    y = np.asarray(counts, np.float64)
    r = y - np.asarray(denoised, np.float64)
    ny, nx = y.shape
    b = int(min(block, ny, nx))
    step = max(b // 2, 1)
    starts_y = list(range(0, max(ny - b, 0) + 1, step))
    starts_x = list(range(0, max(nx - b, 0) + 1, step))
    n_tests = len(starts_y) * len(starts_x) * b * (b // 2 + 1) + ny * (nx // 2 + 1)  # half-planes
    # 2 ln(n / α), not ln(n / α): shot noise whose variance follows the lattice is not circular in Fourier
    # space (E R(k)² ≠ 0 where 2k is a reflection), so |R|² / level can be one component's χ²₁ x 2
    thresh = float(2.0 * np.log(n_tests / alpha))
    scale = float(pixel_size) if pixel_size else 1.0
    found: list[LatticePeak] = []
    for y0 in starts_y:
        for x0 in starts_x:
            sl = (slice(y0, y0 + b), slice(x0, x0 + b))
            for period, score, frac in _peaks_in(r[sl], y[sl], variance[sl], thresh, fraction, min_period, b / 4.0):
                found.append(LatticePeak(y0 + b / 2.0, x0 + b / 2.0, float(b), period * scale, score, frac))
    for period, score, frac in _peaks_in(r, y, variance, thresh, fraction, min_period, min(ny, nx) / 4.0):
        found.append(LatticePeak(ny / 2.0, nx / 2.0, float(min(ny, nx)), period * scale, score, frac))
    return found


def autocorrelation(counts: np.ndarray, denoised: np.ndarray, variance: np.ndarray, min_lag: int = 3,
                    max_lag: int = 24) -> dict:
    """Autocorrelation of the standardised residual: the largest |ρ|·sqrt(N) at lags min_lag..max_lag px
    (~N(0, 1) per lag for white noise) and where it is."""
    z = (np.asarray(counts, np.float64) - np.asarray(denoised, np.float64)) / np.sqrt(variance)
    z = z - z.mean()
    n = z.size
    F = np.fft.rfft2(z, s=(2 * z.shape[0], 2 * z.shape[1]))
    acf = np.fft.irfft2(np.abs(F) ** 2, s=(2 * z.shape[0], 2 * z.shape[1]))
    acf = np.fft.fftshift(acf) / max(float((z**2).sum()), 1e-12)
    cy, cx = acf.shape[0] // 2, acf.shape[1] // 2
    L = max_lag
    win = acf[cy - L : cy + L + 1, cx - L : cx + L + 1]
    dy, dx = np.mgrid[-L : L + 1, -L : L + 1]
    d = np.hypot(dy, dx)
    band = (d >= min_lag) & (d <= max_lag)
    vals = np.where(band, np.abs(win), 0.0) * np.sqrt(n)
    j = np.unravel_index(int(np.argmax(vals)), vals.shape)
    return {"max_z": round(float(vals[j]), 3), "lag_y": int(dy[j]), "lag_x": int(dx[j])}
