"""Noise of one spectrum: its level, its floor per kx column (scan-line streaks, afterglow), its
whiteness, and whether the image holds Poisson counts.

The noise level is estimated from the high-frequency part of the spectrum (median / ln 2, which
ignores isolated artifact peaks).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft as sfft
from scipy import ndimage

from .grid import _smooth


def _noise_level(power: np.ndarray, positions: np.ndarray) -> float:
    """Mean noise power over the given (high-frequency) positions of ``power``."""
    return _noise_from_samples(power.ravel()[positions])


def _noise_from_samples(values: np.ndarray) -> float:
    """Mean noise power from samples of it: median / ln 2, which holds for the exponential statistics
    of noise power and ignores isolated artifact peaks."""
    if values.size == 0:
        return float("nan")
    return float(np.median(values) / math.log(2.0))


STREAK_SIGMAS = 5.0  #: how far (in standard deviations of the estimate) a column's noise must stand out to be a streak
MIN_STREAKS = 4  #: fewer flagged columns than this are chance, not a streak band


def column_floor(power: np.ndarray, shape: tuple[int, int], noise_from: float = 0.45):
    """The noise floor per kx column, where it is not flat: (floor relative to the median column, shape
    (nx // 2 + 1,); the highest kx in cycles/pixel whose floor stands out; the streaks' peak columns),
    or (None, None, ()) for a flat floor.

    Each column's floor is its median power over the rows |ky| >= ``noise_from`` (where the images this
    readout is for hold noise only), averaged over 3 columns. Scan-line artifacts make it depend on kx:
    line-to-line jitter smears every Bragg peak and low-frequency feature along ky, as far as the content
    reaches in kx (on the STO image 16_STOimage_1.ser up to kx ~ 0.1 cycles/pixel), offsets that vary
    along a line do the same near kx = 0, and detector afterglow damps the noise at high kx. The floor
    counts as not flat when at least MIN_STREAKS columns below kx = 0.3 stand more than STREAK_SIGMAS
    standard deviations of the estimate above the median column. The readout then measures every
    frequency against its own column's floor (divides the power by it), so streaks and coloured noise
    read as noise, and a Bragg peak on a streak still reads as signal."""
    ny, nx = shape
    rows = np.abs(sfft.fftfreq(ny)) >= noise_from
    nrows = int(np.count_nonzero(rows))
    kx = sfft.rfftfreq(nx)
    if nrows < 8 or kx.size < 16:
        return None, None, ()
    col = np.median(power[rows], axis=0).astype(np.float64)
    usable = kx < 0.5 - 0.03
    ref = float(np.median(col[usable]))
    if not ref > 0:
        return None, None, ()
    floor = _smooth(col / ref, 3)
    # median of n exponential samples: relative sd ~ 1.44 / sqrt(n); the window correlates neighbouring
    # rows (x 1.5), the 3-column average gains ~2 independent samples
    sd = 1.44 * math.sqrt(1.5) / math.sqrt(2.0 * nrows)
    idx = np.arange(kx.size)
    high = np.flatnonzero((floor > 1.0 + STREAK_SIGMAS * sd) & (kx < 0.3) & (idx >= 2))
    if high.size < MIN_STREAKS:
        return None, None, ()
    floor = np.maximum(floor, 1e-6)
    # peaks: columns far above the smooth run of the floor around them (a Bragg peak smeared along ky
    # by line jitter); their power falls with |ky|, so the high-|ky| floor under-counts them nearer the
    # centre, and they are left out. A smooth floor (afterglow) has none.
    width = max(9, (kx.size // 32) | 1)
    smooth = ndimage.median_filter(floor.astype(np.float64), size=width, mode="nearest")
    peaks = np.flatnonzero((floor > smooth * (1.0 + STREAK_SIGMAS * sd)) & (kx < 0.3) & (idx >= 2))
    return floor.astype(np.float32), float(kx[high.max()]), tuple(int(c) for c in peaks)


def looks_like_counts(plane: np.ndarray, noise_variance: float) -> bool:
    """True for non-negative integers whose white-noise variance (from the spectrum's high-frequency
    power) matches their mean, as Poisson counts do (within a factor 1.5)."""
    if not np.issubdtype(plane.dtype, np.integer) or plane.size == 0 or plane.min() < 0:
        return False
    mean = float(plane.mean())
    return mean > 0 and 1 / 1.5 <= noise_variance / mean <= 1.5


def noise_whiteness(power: np.ndarray, shape: tuple[int, int]) -> float:
    """Median high-frequency power along kx (kx >= 0.4, |ky| < 0.25) over that along ky (|ky| >= 0.4,
    0.02 <= kx < 0.25), from a :func:`.grid.windowed_spectrum` power: about 1
    for white noise, < 1 when neighbours along x share noise (detector afterglow), > 1 along y. Where
    it is far from 1, neighbouring pixels are not independent, and neither are checkerboard halves."""
    ky = np.abs(sfft.fftfreq(shape[0]))[:, None]
    kx = sfft.rfftfreq(shape[1])[None, :]
    sel_y = (ky >= 0.4) & (kx < 0.25) & (kx >= 0.02)
    band_x, band_y = power[(kx >= 0.4) & (ky < 0.25)], power[sel_y]
    if band_x.size < 16 or band_y.size < 16:
        return 1.0
    return _noise_from_samples(band_x) / max(_noise_from_samples(band_y), 1e-300)


WHITE_RANGE = (0.75, 1.33)  #: noise_whiteness of noise taken as white (independent neighbouring pixels)
