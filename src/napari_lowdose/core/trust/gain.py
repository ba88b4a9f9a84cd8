"""Detector gain and offset from the image itself (Poisson-Gaussian noise, Foi et al. 2008).

A pixel holding ``K ~ Poisson(λ)`` detected electrons reads ``y = offset + gain·K + N(0, read²)`` ADU,
so its cumulants are ``κ1 = offset + gain·λ``, ``κ2 = gain²·λ + read²`` and ``κ3 = gain³·λ``: the variance
rises by ``gain`` per ADU of mean. The noise is isolated by a 4th difference along y (the slow
scan direction; it cancels smooth signal and is not correlated by a detector's afterglow along x). The
gain is the instrumental-variable slope Cov(z², m) / Cov(block mean, m), where the instrument m is a
smoothed neighbourhood that shares no pixel (so no noise) with z: unlike a fit of binned local variances
against noisy local means, it is not pulled down by the noise of the means (regression dilution), which
dominates at a fraction of an electron per pixel. The mean third cumulant gives the mean electrons per
pixel, hence the offset, bounded by read² >= 1/12 (rounding) and by the darkest smoothed place of the
image (counts are not negative); the read noise follows from κ2.
Images are (y, x), ADU.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from ..errors import LowdoseError

#: largest relative standard error of an estimated gain that is trusted (see :attr:`GainEstimate.identifiable`)
GAIN_SE_LIMIT = 0.05
_D4 = np.array([1.0, -4.0, 6.0, -4.0, 1.0])
_D2 = np.array([1.0, -2.0, 1.0])
#: noise filters: zero response to constant, linear, ... signal; "d4y": 4th difference along y (the slow
#: scan direction, so a detector's afterglow along x does not correlate its taps)
_KERNELS = {
    "d4y": _D4[:, None],
    "d6y": np.array([1.0, -6.0, 15.0, -20.0, 15.0, -6.0, 1.0])[:, None],
    "d2d2": np.outer(_D2, _D2),
    "d4d4": np.outer(_D4, _D4),
    "ring8": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]) / 8.0,
}


@dataclass(frozen=True)
class GainEstimate:
    """ADU per detected electron, dark level (ADU), read noise (ADU rms), and how the fit went."""

    gain: float
    offset: float
    read_noise: float
    bins: int  #: local-mean bins used in the fit
    pixels: int  #: pixels used
    source: str = "estimated"  #: "estimated" or "given"
    #: relative error of the gain (fraction): statistical (cluster-robust, over 16 x 16 px tiles) and the
    #: disagreement of two noise filters (signal leaking through), combined in quadrature; 0 when given
    gain_se: float = 0.0

    @property
    def identifiable(self) -> bool:
        """Whether the image pins the gain down: given, or estimated with a standard error <= 5 %
        (so an error beyond 10 % is a two-sigma event); else the user should give it."""
        return self.source == "given" or self.gain_se <= GAIN_SE_LIMIT

    def to_dict(self) -> dict:
        return asdict(self)

    def counts(self, image: np.ndarray) -> np.ndarray:
        """``image`` (ADU) in detected electrons, float64."""
        return (np.asarray(image, np.float64) - self.offset) / self.gain


def _wls(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted least squares y = a·x + b; returns (a, b)."""
    sw = w.sum()
    mx, my = (w * x).sum() / sw, (w * y).sum() / sw
    sxx = (w * (x - mx) ** 2).sum()
    if sxx <= 0:
        return 0.0, my
    a = (w * (x - mx) * (y - my)).sum() / sxx
    return float(a), float(my - a * mx)


def estimate_gain(image: np.ndarray, ring: int = 5, flat_fraction: float = 0.8, kernel: str = "d4y",
                  kernel3: str = "d4y") -> GainEstimate:
    """Gain (ADU/e⁻), offset (ADU) and read noise (ADU) of a single 2-D image (y, x) in ADU, with the
    gain's relative standard error (:attr:`GainEstimate.gain_se`; :attr:`GainEstimate.identifiable` says
    whether the image pins the gain down, else the user should give it).

    The gain's error combines its statistical part (the cluster-robust sandwich of the slope) and a
    systematic one: the relative difference between the gains from the 4th and the 6th difference along y,
    which let different amounts of signal through at bright, sharp columns (a leak inflates the gain).

    Needs some signal variation (a range of local means) and noise: raises :class:`LowdoseError` on a
    constant image or one whose noise does not grow with the signal. ``kernel``: the noise filter for
    the variance (default the 4th difference along y; "d6y" lets less signal leak but gave the check more
    false alarms at high dose, benchmarks/bench_trust.py), ``kernel3``: for the third cumulant.
    """
    y = np.asarray(image, np.float64)
    if y.ndim != 2 or min(y.shape) < 16:
        raise LowdoseError(f"gain estimation needs a 2-D image of at least 16 x 16 pixels, got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise LowdoseError("the image has NaN or Inf pixels: the gain cannot be estimated")
    if float(y.max() - y.min()) == 0.0:
        raise LowdoseError("the image is constant: it holds no noise to estimate the detector gain from")
    gain, se, bs, z2, sel = _iv_slope(y, kernel, kernel3, ring, flat_fraction)
    alt = "d6y" if kernel != "d6y" else "d4y"  # a second noise filter: how much signal leaks through
    try:
        leak = abs(gain / _iv_slope(y, alt, kernel3, ring, flat_fraction)[0] - 1.0)
    except LowdoseError:
        leak = float("inf")
    gain_se = float(np.hypot(se, leak))
    m1 = float(bs.mean())
    m2 = float(z2.mean())
    k3 = np.asarray(_KERNELS[kernel3], np.float64)
    z3 = ndimage.correlate(y, k3, mode="reflect")[sel]
    m3 = float((z3**3).mean()) / float((k3**3).sum())  # = gain³·Λ (the read noise is symmetric)
    electrons = m3 / gain**3  # mean detected electrons per pixel
    offset = m1 - gain * electrons
    # the read noise is at least the rounding to whole ADU: offset >= m1 - (m2 - 1/12) / gain
    offset = max(offset, m1 - (m2 - 1.0 / 12.0) / gain)
    # counts are never negative: the offset is at most the darkest smoothed place of the image
    offset = min(offset, dark_level(y))
    read2 = max(m2 - gain**2 * electrons, 1.0 / 12.0)  # at least the rounding to whole ADU
    return GainEstimate(gain=gain, offset=float(offset), read_noise=float(np.sqrt(read2)), bins=0, pixels=int(sel.sum()),
                        gain_se=gain_se)


def _iv_slope(y: np.ndarray, kernel: str, kernel3: str, ring: int, flat_fraction: float):
    """The instrumental-variable gain with the noise filter ``kernel``: (gain, its statistical relative
    error, the block means and normalised z² at the selected pixels, the selection mask)."""
    k = np.asarray(_KERNELS[kernel], np.float64)
    w2, w3 = float((k**2).sum()), float((k**3).sum())
    z = ndimage.correlate(y, k, mode="reflect")
    block = ndimage.correlate(y, k**2 / w2, mode="reflect")  # the pixels z is made of, with z²'s weights
    # the instrument: a smoothed neighbourhood without z's own pixels, so it shares no noise with z or block
    r = int(ring)
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    kr = np.exp(-(yy**2 + xx**2) / (2.0 * (r / 2.0) ** 2))
    for kk in (k, np.asarray(_KERNELS[kernel3])):
        hy, hx = kk.shape[0] // 2, kk.shape[1] // 2
        kr[r - hy : r + hy + 1, r - hx : r + hx + 1][kk != 0] = 0.0
    kr /= kr.sum()
    m = ndimage.convolve(y, kr, mode="reflect")
    # smooth places (low curvature of the instrument, so the choice shares no noise with z), off the edges
    curv = np.abs(ndimage.laplace(m))
    inner = np.zeros(y.shape, bool)
    inner[r:-r, r:-r] = True
    sel = inner & (curv <= np.quantile(curv[inner], flat_fraction))
    zs, bs, ms = z[sel], block[sel], m[sel]
    mc = ms - ms.mean()
    cov_bm = float((bs * mc).mean())
    if not np.isfinite(cov_bm) or cov_bm <= 0 or cov_bm < 1e-6 * max(float(bs.var()), 1e-12):
        raise LowdoseError("the image has too little structure (a range of intensities) to estimate the detector gain from; give the gain and offset")
    z2 = zs**2 / w2
    gain = float((z2 * mc).mean()) / cov_bm  # κ2 rises by gain per ADU of mean: instrumental-variable slope
    if not gain > 0:
        raise LowdoseError("the noise does not grow with the signal in this image: it does not look like "
                           "detector counts, so the gain cannot be estimated (give the gain and offset)")
    return gain, _cluster_se(z2, bs, mc, gain, sel), bs, z2, sel


def _cluster_se(z2: np.ndarray, bs: np.ndarray, mc: np.ndarray, gain: float, sel: np.ndarray, cluster: int = 16) -> float:
    """Relative standard error of the instrumental-variable slope ``gain`` = Σ z2·mc / Σ bs·mc (values at
    the ``sel`` pixels of the image): the cluster-robust sandwich, with the residuals summed over
    ``cluster`` x ``cluster`` pixel tiles (neighbouring noise filters share pixels, so pixels are not
    independent, tiles nearly are)."""
    u = z2 - gain * bs
    u = (u - u.mean()) * mc
    iy, ix = np.nonzero(sel)
    tiles = (iy // cluster) * (sel.shape[1] // cluster + 1) + ix // cluster
    per_tile = np.bincount(tiles, u)
    den = float((bs * mc).sum())
    if den <= 0 or gain <= 0:
        return float("inf")
    return float(np.sqrt((per_tile**2).sum())) / den / gain


def dark_level(image: np.ndarray, sigma: float = 4.0, quantile: float = 0.002) -> float:
    """ADU: a low quantile of the image smoothed by ``sigma`` px, an upper bound of the offset."""
    return float(np.quantile(ndimage.gaussian_filter(np.asarray(image, np.float64), sigma), quantile))


def given(gain: float, offset: float, read_noise: float = 0.0) -> GainEstimate:
    """A :class:`GainEstimate` from numbers the user typed (checked)."""
    if not (np.isfinite(gain) and gain > 0):
        raise LowdoseError(f"the gain must be a positive number of ADU per electron, got {gain}")
    if not np.isfinite(offset):
        raise LowdoseError(f"the offset must be a finite number of ADU, got {offset}")
    if not (np.isfinite(read_noise) and read_noise >= 0):
        raise LowdoseError(f"the read noise must be >= 0 ADU, got {read_noise}")
    return GainEstimate(gain=float(gain), offset=float(offset), read_noise=float(read_noise), bins=0, pixels=0, source="given")


def read_noise_for(image: np.ndarray, gain: float, offset: float) -> float:
    """ADU rms: the read noise implied by a given gain and offset (noise variance minus the shot noise),
    at least the rounding to whole ADU."""
    y = np.asarray(image, np.float64)
    k = _KERNELS["d4y"]
    z = ndimage.correlate(y, k, mode="reflect")[2:-2]
    m2 = float((z**2).mean()) / float((k**2).sum())
    return float(np.sqrt(max(m2 - gain * (float(y.mean()) - offset), 1.0 / 12.0)))
