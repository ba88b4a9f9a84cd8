"""Fourier tools for one 2-D image: the FFT low-pass mask and the resolution / anisotropy readout.

Conventions. Images are ``(y, x)``, x the fast-scan direction. Spatial frequencies are in **cycles per
pixel** (Nyquist = 0.5); with a pixel size ``p`` in Å, a frequency ``k`` is ``k / p`` Å⁻¹ and its
resolution (period) is ``p / k`` Å. The mask's cutoff ``keep`` is a **fraction of Nyquist**, measured as
a radius: the frequency ``(ky, kx)`` sits at ``r = sqrt(kx² + ky²) / 0.5``; ``r <= keep`` passes.

Method (the Gold Standard seeds):

* FFT mask: keep the lowest ``keep`` of the frequencies (default 0.65: the top ~35% removed), with a
  raised-cosine edge ``edge`` wide (fraction of Nyquist) so the filtered image does not ring; an optional
  notch removes the kx = Nyquist line where the every-other-column detector artifact puts its power.
* Resolution: the radially averaged power spectrum, without the single lines where scan artifacts put
  their power (ky = 0: what repeats in every line; kx = 0: line offsets; kx near 1/2: the copy of the
  image that every-other-column gain makes); the noise level is estimated from its high-frequency
  part (k >= ``noise_from``, corners included, median / ln 2, which ignores isolated artifact peaks);
  the cutoff is the highest frequency at which the profile exceeds ``factor`` (3) x that noise level.
  The same in wedges of half-width ``sector_deg`` around the kx and ky axes gives cutoff_x, cutoff_y and
  the anisotropy cutoff_x / cutoff_y (< 1: x is blurrier, as with streaking along the fast scan).
* Second, independent estimate: one-image Fourier ring correlation between two half-images, 1/7
  threshold. Counting data (non-negative integers whose noise variance equals their mean) are split
  binomially: every count goes to one half or the other, giving two independent Poisson images, and
  the FRC reaches Nyquist. Other data are split on a checkerboard with the half-pixel shift between
  the halves undone in Fourier space; that FRC reaches only 0.25 cycles/pixel (the halves' Nyquist)
  and is only meaningful for images whose content stays below it.

Before any spectrum the image is multiplied by a Hann window, so the jump between opposite edges does
not paint a cross along the kx and ky axes, exactly where the x and y wedges look. Bins with too few
independent samples for pure noise to stay under the threshold are not used, and the FRC counts
only when its lowest usable ring is correlated above both 1/7 and the 3-sigma curve of noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np
import scipy.fft as sfft
from scipy import ndimage

from .errors import InvalidImageError
from .image import check_image, looks_like_rgb

MIN_SIDE = 32  #: smaller images give too few frequency samples for a readout
NO_CUTOFF = "no cutoff above noise"
NOT_MEASURABLE = "not measurable on a processed image"
_WORKERS = -1  # scipy.fft threads: all cores


def as_plane(image, name: str = "image", min_side: int = MIN_SIDE) -> np.ndarray:
    """Validate a 2-D image for spectral work and return it as float32 (a copy only when needed)."""
    arr = np.asarray(image)
    if looks_like_rgb(arr.shape, arr.dtype):
        raise InvalidImageError(f"{name} is an RGB colour image; spectra need a single-channel detector image")
    if arr.ndim != 2:
        raise InvalidImageError(
            f"{name} has {arr.ndim} dimensions {arr.shape}; spectral tools work on one 2-D (y, x) slice"
        )
    check_image(arr, name, min_side=min_side)
    return arr.astype(np.float32, copy=False)


# ------------------------------------------------------------------------------- frequency grids
@lru_cache(maxsize=8)
def _rgrid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ky, kx, k) on the rfft2 half plane, cycles/pixel, float32; read-only, cached per shape."""
    ky = sfft.fftfreq(shape[0]).astype(np.float32)[:, None]
    kx = sfft.rfftfreq(shape[1]).astype(np.float32)[None, :]
    k = np.sqrt(ky * ky + kx * kx)
    for a in (ky, kx, k):
        a.setflags(write=False)
    return ky, kx, k


_LUT_SIZE = 8192
_LUT_RMAX = 1.5  # r = k / 0.5 reaches sqrt(2) in the corners


@lru_cache(maxsize=4)
def _r_index(shape: tuple[int, int]) -> np.ndarray:
    """Radius r = k / Nyquist quantised to a lookup-table index (uint16), so a mask is one table lookup."""
    _, _, k = _rgrid(shape)
    idx = np.minimum((k / 0.5) * ((_LUT_SIZE - 1) / _LUT_RMAX), _LUT_SIZE - 1).astype(np.uint16)
    idx.setflags(write=False)
    return idx


def mask_profile(r: np.ndarray, keep: float, edge: float = 0.05) -> np.ndarray:
    """The mask as a function of r = k / Nyquist: 1 inside keep - edge/2, raised cosine to 0 at keep + edge/2."""
    if edge <= 0:
        return (r <= keep).astype(np.float32)
    t = np.clip((r - (keep - edge / 2)) / edge, 0.0, 1.0)
    return (0.5 + 0.5 * np.cos(np.pi * t)).astype(np.float32)


def lowpass_mask(shape: tuple[int, int], keep: float = 0.65, edge: float = 0.05, notch: bool = False) -> np.ndarray:
    """The rfft2 half-plane mask (float32, shape (ny, nx // 2 + 1)) for an image of ``shape``."""
    if not 0.0 < keep:
        raise ValueError(f"keep must be a positive fraction of Nyquist, got {keep}")
    lut = mask_profile(np.linspace(0.0, _LUT_RMAX, _LUT_SIZE, dtype=np.float32), keep, edge)
    mask = lut[_r_index(tuple(shape))]
    if notch:
        mask = mask.copy()
        _apply_notch(mask, shape[1])
    return mask


def _apply_notch(mask: np.ndarray, nx: int) -> None:
    """Remove the kx = Nyquist line (period-2 columns), tapering into the column next to it."""
    mask[:, -1] = 0.0
    if nx >= 8:
        mask[:, -2] *= 0.5


class MaskedFilter:
    """The FFT of one 2-D image, computed once; :meth:`apply` then costs one mask and one inverse FFT.

    This is the cache behind the live slider: build it once per layer and slice, call ``apply`` for
    every slider position.
    """

    def __init__(self, image, name: str = "image") -> None:
        plane = as_plane(image, name, min_side=2)
        self.shape: tuple[int, int] = plane.shape
        self.mean = float(plane.mean(dtype=np.float64))
        self.spectrum = sfft.rfft2(plane - np.float32(self.mean), workers=_WORKERS)
        self.spectrum.flags.writeable = False

    def apply(self, keep: float = 0.65, notch: bool = False, edge: float = 0.05) -> np.ndarray:
        """The image low-passed at ``keep`` (fraction of Nyquist), float32, same shape.

        The inverse FFT runs in two passes, over ky then kx, and the first skips the kx columns the
        mask zeroes entirely (faster here than one 2-D inverse transform).
        """
        ny, nx = self.shape
        mask = lowpass_mask(self.shape, keep, edge, notch)
        reach = (keep + max(edge, 0.0) / 2) * 0.5  # highest |k| the mask passes, cycles/pixel
        ncols = min(mask.shape[1], int(math.ceil(reach * nx)) + 2)
        if notch:
            ncols = mask.shape[1]
        half = self.spectrum[:, :ncols] * mask[:, :ncols]
        half = sfft.ifft(half, axis=0, workers=_WORKERS, overwrite_x=True)
        out = sfft.irfft(half, n=nx, axis=1, workers=_WORKERS, overwrite_x=True)
        out += np.float32(self.mean)
        return out

    def log_power(self, max_size: int = 256) -> np.ndarray:
        """log10 power spectrum, centred (fftshift), full plane, binned down to at most ``max_size`` px a side."""
        full = np.abs(sfft.ifftshift(_full_plane(self.spectrum, self.shape[1]), axes=1)) ** 2
        full = sfft.fftshift(full, axes=0)
        fy = max(1, math.ceil(full.shape[0] / max_size))
        fx = max(1, math.ceil(full.shape[1] / max_size))
        ny, nx = (full.shape[0] // fy) * fy, (full.shape[1] // fx) * fx
        binned = full[:ny, :nx].reshape(ny // fy, fy, nx // fx, fx).mean(axis=(1, 3))
        return np.log10(binned + 1e-12).astype(np.float32)


def _full_plane(half: np.ndarray, nx: int) -> np.ndarray:
    """Rebuild the full (ny, nx) FFT from the rfft2 half plane (kx order 0..nx-1 as fft2 gives)."""
    ny = half.shape[0]
    full = np.empty((ny, nx), dtype=half.dtype)
    nh = half.shape[1]
    full[:, :nh] = half
    n_neg = nx - nh
    if n_neg > 0:
        # F(-ky, -kx) = conj F(ky, kx)
        src = half[:, 1 : 1 + n_neg][:, ::-1]
        full[:, nh:] = np.conj(src[(-np.arange(ny)) % ny])
    return full


def fft_mask(image, keep: float = 0.65, notch: bool = False, edge: float = 0.05) -> np.ndarray:
    """Low-pass ``image`` (2-D) keeping ``keep`` of Nyquist (radius), optional notch; float32, same shape."""
    return MaskedFilter(image).apply(keep, notch, edge)


# ------------------------------------------------------------------------------------ profiles
@lru_cache(maxsize=8)
def _hann(shape: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Separable periodic Hann window (float32) and its energy sum(w^2)."""
    wy = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(shape[0]) / shape[0])).astype(np.float32)
    wx = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(shape[1]) / shape[1])).astype(np.float32)
    w = wy[:, None] * wx[None, :]
    w.setflags(write=False)
    return w, float(np.sum(w.astype(np.float64) ** 2))


def windowed_spectrum(plane: np.ndarray) -> tuple[np.ndarray, float]:
    """rfft2 of the mean-removed, Hann-windowed plane, and the window energy (the factor by which a
    white noise of unit variance shows in |F|^2). The window keeps the jump between opposite edges
    from painting a cross along the kx and ky axes, where the x and y wedges look."""
    w, energy = _hann(plane.shape)
    u = (plane - np.float32(plane.mean(dtype=np.float64))) * w
    return sfft.rfft2(u, workers=_WORKERS), energy


@dataclass(frozen=True)
class Profile:
    """A power (or correlation) profile: ``values[i]`` at frequency ``k[i]`` (cycles/pixel)."""

    k: np.ndarray
    values: np.ndarray
    counts: np.ndarray

    def to_dict(self) -> dict:
        return {"k": self.k.tolist(), "values": self.values.tolist()}


@dataclass(frozen=True)
class _Selection:
    """A set of half-plane frequencies to average over: their flat positions (None = all), radial bin
    indices and half-plane weights, and the weighted count per bin (cached with the grid)."""

    positions: np.ndarray | None
    idx: np.ndarray
    weight: np.ndarray
    counts: np.ndarray
    nbins: int
    dk: float

    @staticmethod
    def make(idx, weight, nbins, dk, select=None) -> "_Selection":
        if select is None:
            positions, i, w = None, idx, weight
        elif select.mean() > 0.5:  # most frequencies: zero the others' weight instead of gathering
            positions, i, w = None, idx, np.where(select, weight, 0.0)
        else:
            positions = np.flatnonzero(select)
            i, w = idx[positions], weight[positions]
        counts = np.bincount(i, weights=w, minlength=nbins)
        return _Selection(positions, i, w, counts, nbins, dk)

    def profile(self, values: np.ndarray) -> "Profile":
        return self.profile_of_gathered(self.gather(values))

    def gather(self, values: np.ndarray) -> np.ndarray:
        """The selected values (all of them when the selection zeroes weights instead)."""
        return values.ravel() if self.positions is None else values.ravel()[self.positions]

    def profile_of_gathered(self, v: np.ndarray) -> "Profile":
        """Like :meth:`profile` for values already taken with :meth:`gather`."""
        sums = np.bincount(self.idx, weights=v * self.w_cast(v), minlength=self.nbins)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(self.counts > 0, sums / np.maximum(self.counts, 1e-300), np.nan)
        return Profile((np.arange(self.nbins) + 0.5) * self.dk, mean, self.counts)

    def w_cast(self, v: np.ndarray) -> np.ndarray:
        return self.weight if v.dtype == np.float64 else self.weight.astype(v.dtype)


@dataclass(frozen=True)
class _Grid:
    """Everything a readout needs per image shape and configuration, computed once (cached)."""

    ring: _Selection
    wedge_x: _Selection
    wedge_y: _Selection
    noise_ring: np.ndarray  #: flat positions of the high-frequency shell (noise estimate)
    noise_x: np.ndarray
    noise_y: np.ndarray


@lru_cache(maxsize=6)
def _bins(
    shape: tuple[int, int], sector_deg: float = 15.0, nyquist_band: float = 0.0, noise_from: float = 0.45, stride: int = 1,
    streaks: tuple[int, ...] = (),
) -> _Grid:
    """Radial bin index per half-plane frequency, and the x / y wedge selections; ``streaks``: kx
    columns (rfft indices) left out as well (the peaks of :func:`column_floor`)."""
    ky, kx, k = _rgrid(shape)
    dk = 1.0 / min(shape)
    idx = np.floor(k / dk).astype(np.int32)
    nbins = int(idx.max()) + 1
    angle = np.degrees(np.arctan2(np.abs(ky), np.abs(kx)))  # 0 along kx, 90 along ky
    # Scan artifacts sit on single lines: what repeats in every scan line (flyback) on ky = 0, what
    # is constant along a line (line offsets) on kx = 0, every-other-column lines on kx = Nyquist.
    # They are left out of every profile and noise estimate.
    # The Hann window spreads each line over its neighbours (main lobe +-1 bin): those go too.
    scan_lines = np.zeros(k.shape, dtype=bool)
    scan_lines[[0, 1, -1], :] = True
    scan_lines[:, :2] = True
    if shape[1] % 2 == 0:
        scan_lines[:, -2:] = True
    # every-other-column gain multiplies the image by a kx = 1/2 carrier: a copy of the low-frequency
    # content lands within the content's bandwidth of kx = 1/2
    if nyquist_band > 0:
        scan_lines |= np.broadcast_to(kx >= 0.5 - nyquist_band, k.shape)
    if streaks:
        scan_lines[:, [c for c in streaks if c < k.shape[1]]] = True
    if stride > 1:  # every stride-th frequency in each direction (FRC on large images)
        scan_lines[np.arange(k.shape[0]) % stride != 0, :] = True
        scan_lines[:, np.arange(k.shape[1]) % stride != 0] = True
    keep = ~scan_lines.ravel()
    in_x = (angle <= sector_deg).ravel() & keep
    in_y = (angle >= 90.0 - sector_deg).ravel() & keep
    # the rfft half plane holds the kx > 0 columns once for two conjugate points; weight 2 keeps
    # every ring's mean equal to the full plane's
    weight = np.full(k.shape, 2.0, dtype=np.float64)
    weight[:, 0] = 1.0
    if shape[1] % 2 == 0:
        weight[:, -1] = 1.0
    idx, weight = idx.ravel(), weight.ravel()
    high = k.ravel() >= noise_from

    def noise_positions(select):
        # a median needs no more than ~250 000 samples: take every n-th of a large region
        pos = np.flatnonzero(high & select)
        return pos[:: max(1, pos.size // 250_000)]

    return _Grid(
        ring=_Selection.make(idx, weight, nbins, dk, keep),
        wedge_x=_Selection.make(idx, weight, nbins, dk, in_x),
        wedge_y=_Selection.make(idx, weight, nbins, dk, in_y),
        noise_ring=noise_positions(keep),
        noise_x=noise_positions(in_x),
        noise_y=noise_positions(in_y),
    )


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


def _smooth(values: np.ndarray, width: int = 3) -> np.ndarray:
    if width <= 1 or values.size < width:
        return values
    kernel = np.ones(width) / width
    padded = np.pad(values, (width // 2, width // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid")


# The Hann window correlates neighbouring frequencies (equivalent noise bandwidth 1.5 bins per axis)
# and the rfft half plane counts each conjugate pair twice: independent samples = weighted count / 4.5.
_SAMPLES_PER_INDEPENDENT = 2 * 2.25
MIN_SAMPLES = 15  #: independent samples the lowest usable FRC ring needs
FALSE_ALARM = 1e-6  #: chance that pure noise lifts one profile bin above its threshold


def _noise_quantile(independent: np.ndarray) -> np.ndarray:
    """Level (in units of the mean noise power) that the mean of ``independent`` exponential noise
    powers exceeds with probability FALSE_ALARM: a bin must rise above it to count as signal."""
    return _noise_quantile_cached(np.round(np.maximum(independent, 0.5), 3).tobytes())


@lru_cache(maxsize=32)
def _noise_quantile_cached(key: bytes) -> np.ndarray:
    from scipy.stats import gamma

    n = np.frombuffer(key, dtype=np.float64)
    return gamma.isf(FALSE_ALARM, n) / n


def _highest_crossing(
    profile: Profile, noise: float, factor: float, k_min: float, k_max: float = 0.5, smooth: int = 1
) -> float | None:
    """Highest k in [k_min, k_max] where the profile (``smooth``-bin moving average) exceeds
    ``factor`` x ``noise`` and, where a bin holds few independent samples, the level pure noise
    reaches with probability FALSE_ALARM; interpolated in log power to where it crosses ``factor`` x
    ``noise``. None when no bin qualifies."""
    threshold = factor * noise
    if not np.isfinite(threshold) or threshold <= 0:
        return None
    k = profile.k
    vals = _smooth(np.nan_to_num(profile.values, nan=0.0), smooth)
    # neighbouring bins are correlated through the window: the average gets no credit for them
    independent = _smooth(profile.counts, smooth) / _SAMPLES_PER_INDEPENDENT
    significant = vals > noise * _noise_quantile(independent)
    valid = (k >= k_min) & (k <= k_max) & (independent > 0)
    above = np.nonzero(valid & significant & (vals > threshold))[0]
    if above.size == 0:
        return None
    i = int(above[-1])
    if i + 1 >= k.size or not valid[i + 1] or vals[i + 1] <= 0:
        return float(min(k[i], k_max))
    lo, hi = math.log(vals[i]), math.log(vals[i + 1])
    frac = (lo - math.log(threshold)) / (lo - hi) if lo != hi else 0.0
    return float(min(k[i] + frac * (k[i + 1] - k[i]), k_max))


# ------------------------------------------------------------------------------------------ FRC
SplitKind = Literal["auto", "checkerboard", "binomial", "none"]


def looks_like_counts(plane: np.ndarray, noise_variance: float) -> bool:
    """True for non-negative integers whose white-noise variance (from the spectrum's high-frequency
    power) matches their mean, as Poisson counts do (within a factor 1.5)."""
    if not np.issubdtype(plane.dtype, np.integer) or plane.size == 0 or plane.min() < 0:
        return False
    mean = float(plane.mean())
    return mean > 0 and 1 / 1.5 <= noise_variance / mean <= 1.5


def noise_whiteness(power: np.ndarray, shape: tuple[int, int]) -> float:
    """Median high-frequency power along kx (kx >= 0.4, |ky| < 0.25) over that along ky (|ky| >= 0.4,
    0.02 <= kx < 0.25), from a :func:`windowed_spectrum` power: about 1
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


def frc_curve(image, split: SplitKind = "checkerboard", seed: int = 0, spectrum: np.ndarray | None = None, nyquist_band: float = 0.0) -> Profile:
    """Fourier ring correlation of two half-images of one image; ``k`` in cycles/pixel of the *input*.

    ``checkerboard``: the (even, even) / (odd, odd) and (even, odd) / (odd, even) pixel sub-lattices,
    the half-pixel shift between each pair undone in Fourier space, the two curves averaged; it
    measures up to 0.25 cycles/pixel (the sub-images' Nyquist). ``binomial``: each count goes to one
    half or the other with probability 1/2 (two independent Poisson images, for counting data only);
    it measures up to 0.5. ``spectrum``: the image's :func:`windowed_spectrum`, if already computed.
    """
    plane = np.asarray(image)
    if split == "binomial":
        if not np.issubdtype(plane.dtype, np.integer) or plane.min() < 0:
            raise InvalidImageError("binomial splitting needs non-negative integer counts")
        a = _binomial_half(plane, np.random.default_rng(seed))
        Fa, _ = windowed_spectrum(a)
        Fn = spectrum if spectrum is not None else windowed_spectrum(plane.astype(np.float32))[0]
        # b = n - a, and the windowed, mean-removed transform is linear: F_b = F_n - F_a
        return _frc(Fa, Fn, plane.shape, None, 1.0, nyquist_band, b_is_total=True)
    plane = plane.astype(np.float32, copy=False)
    ny, nx = (plane.shape[0] // 2) * 2, (plane.shape[1] // 2) * 2
    p = plane[:ny, :nx]
    curves = []
    for (a, b, shift) in (
        (p[0::2, 0::2], p[1::2, 1::2], (0.5, 0.5)),
        (p[0::2, 1::2], p[1::2, 0::2], (0.5, -0.5)),
    ):
        Fa, _ = windowed_spectrum(np.ascontiguousarray(a))
        Fb, _ = windowed_spectrum(np.ascontiguousarray(b))
        curves.append(_frc(Fa, Fb, a.shape, shift, 2.0, 0.0))
    c1, c2 = curves
    n = min(c1.k.size, c2.k.size)
    return Profile(c1.k[:n], 0.5 * (c1.values[:n] + c2.values[:n]), c1.counts[:n] + c2.counts[:n])


def _binomial_half(counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One half of a random split of every count n into a + b = n, float32.

    Low counts (99.9% of pixels under 16, as in low-dose data): exactly Binomial(n, 1/2), the number
    of set bits among n random bits in one or two bytes per pixel; the few larger counts use numpy's
    binomial sampler. Higher counts: a = n/2 + sqrt(n)/2 z with z standard normal, which for Poisson n
    gives halves with the binomial split's mean and variance and no correlation between them, all
    the FRC uses."""
    n = np.asarray(counts)
    for dtype in (np.uint8, np.uint16):
        width = np.iinfo(dtype).bits
        big = n >= width
        n_big = int(np.count_nonzero(big))
        if n_big <= 0.001 * n.size:
            bits = np.frombuffer(rng.bytes(n.size * width // 8), dtype=dtype).reshape(n.shape)
            small = np.minimum(n, width - 1).astype(dtype)
            out = np.bitwise_count(bits & ((dtype(1) << small) - dtype(1))).astype(np.float32)
            if n_big:
                out[big] = rng.binomial(n[big].astype(np.int64), 0.5)
            return out
    nf = n.astype(np.float32)
    z = rng.standard_normal(n.shape, dtype=np.float32)
    return nf * np.float32(0.5) + np.float32(0.5) * np.sqrt(nf) * z


@lru_cache(maxsize=4)
def _half_pixel_ramp(shape: tuple[int, int], dy: float, dx: float) -> np.ndarray:
    ky, kx, _ = _rgrid(shape)
    ramp = np.exp(-2j * np.pi * (ky * dy + kx * dx)).astype(np.complex64)
    ramp.setflags(write=False)
    return ramp


def _frc(
    Fa: np.ndarray, Fb: np.ndarray, shape, shift, step: float, nyquist_band: float, b_is_total: bool = False
) -> Profile:
    """FRC of two half-plane spectra of ``shape``; ``shift`` (dy, dx), in sub-image pixels, of b
    relative to a is undone; ``step``: input pixels per sub-image pixel (frequencies are reported per
    input pixel). ``b_is_total``: ``Fb`` is the spectrum of a + b (b's is then Fb - Fa)."""
    # Neighbouring frequencies are strongly correlated through the window: on large images every other
    # one in each direction carries nearly all the information at a quarter of the cost. The sample
    # count used by the significance guard then under-counts independence: it stays conservative.
    stride = 2 if min(shape) >= 1024 else 1
    ring = _bins(tuple(shape), 15.0, nyquist_band, 0.45, stride).ring
    a, b = ring.gather(Fa), ring.gather(Fb)
    if b_is_total:
        b = b - a
    if shift is not None:
        b = b * ring.gather(_half_pixel_ramp(tuple(shape), *shift))
    cross = ring.profile_of_gathered(a.real * b.real + a.imag * b.imag)
    pa = ring.profile_of_gathered(a.real * a.real + a.imag * a.imag)
    pb = ring.profile_of_gathered(b.real * b.real + b.imag * b.imag)
    with np.errstate(invalid="ignore", divide="ignore"):
        frc = cross.values / np.sqrt(pa.values * pb.values)
    keep = cross.k <= 0.5
    return Profile(cross.k[keep] / step, frc[keep], cross.counts[keep])


def _frc_cutoff(curve: Profile, threshold: float = 1 / 7, k_min: float = 0.0) -> float | None:
    """Where the (3-ring smoothed) FRC first falls below ``threshold``, going up from the lowest usable
    ring (k >= ``k_min`` with enough independent samples). That ring must be correlated beyond doubt,
    above ``threshold`` and above 3 / sqrt(independent samples), the 3-sigma curve of uncorrelated
    noise: real images correlate best at low frequency. None when it is not (no correlated signal);
    the curve's last frequency when the FRC never falls below the threshold."""
    vals = _smooth(np.nan_to_num(curve.values, nan=0.0))
    k = curve.k
    independent = _smooth(curve.counts) * 3 / _SAMPLES_PER_INDEPENDENT
    usable = np.nonzero((k >= k_min) & (independent >= MIN_SAMPLES))[0]
    if usable.size == 0:
        return None
    first = int(usable[0])
    if not (vals[first] >= threshold and vals[first] >= 3.0 / np.sqrt(independent[first])):
        return None
    for i in range(first, k.size - 1):
        if vals[i + 1] < threshold <= vals[i]:
            frac = (vals[i] - threshold) / (vals[i] - vals[i + 1])
            return float(k[i] + frac * (k[i + 1] - k[i]))
    return float(k[-1])


def frc_failure(curve: Profile, threshold: float = 1 / 7, k_min: float = 0.0) -> str:
    """Why :func:`_frc_cutoff` gave None for ``curve``: one phrase for the panel and the CLI."""
    vals = _smooth(np.nan_to_num(curve.values, nan=0.0))
    independent = _smooth(curve.counts) * 3 / _SAMPLES_PER_INDEPENDENT
    usable = np.nonzero((curve.k >= k_min) & (independent >= MIN_SAMPLES))[0]
    if usable.size == 0:
        return "too few frequencies in the lowest rings (image too small)"
    i = int(usable[0])
    need = max(threshold, 3.0 / math.sqrt(independent[i]))
    return (f"the two halves do not correlate at the lowest usable frequency (FRC {vals[i]:.2f} at {curve.k[i]:.3f} cyc/px, "
            f"needs {need:.2f}): no signal above the noise there")


# ----------------------------------------------------------------------------------- the report
@dataclass(frozen=True)
class ResolutionConfig:
    """Parameters of the readout. Frequencies in cycles/pixel, angles in degrees."""

    factor: float = 3.0  #: cutoff where the profile exceeds factor x noise (the seed's 3)
    noise_from: float = 0.45  #: the noise level is estimated from frequencies >= this (corners included)
    sector_deg: float = 15.0  #: half-width of the wedges around the kx and ky axes
    nyquist_band: float = 0.03  #: frequencies with kx >= 0.5 - this are left out (every-other-column artifact)
    k_min: float | None = None  #: lowest frequency considered (default: 3 frequency bins)
    frc_split: SplitKind = "auto"  #: auto: binomial for Poisson counts, else checkerboard; none: no FRC
    frc_threshold: float = 1 / 7

    def __post_init__(self) -> None:
        if self.factor <= 1:
            raise ValueError("factor must be > 1")
        if not 0.1 <= self.noise_from < 0.7:
            raise ValueError("noise_from must be in [0.1, 0.7) cycles/pixel")
        if not 1.0 <= self.sector_deg <= 45.0:
            raise ValueError("sector_deg must be in [1, 45]")
        if not 0.0 <= self.nyquist_band <= 0.1:
            raise ValueError("nyquist_band must be in [0, 0.1] cycles/pixel")


@dataclass(frozen=True)
class ResolutionReport:
    """Resolution readout of one 2-D image.

    Cutoffs are in cycles/pixel (Nyquist = 0.5), ``None`` when no frequency rises above the noise
    (then ``message`` says so). With ``pixel_size`` (Å) the ``*_resolution`` properties give the
    matching period in Å.
    """

    cutoff: float | None
    cutoff_x: float | None
    cutoff_y: float | None
    frc_cutoff: float | None
    frc_split: str
    noise_level: float
    noise_level_x: float
    noise_level_y: float
    factor: float
    pixel_size: float | None
    shape: tuple[int, int]
    message: str = ""
    note: str = ""  #: why the cutoffs are not given (a processed image), else ""
    frc_note: str = ""  #: why ``frc_cutoff`` is None, else ""
    streak_kx: float | None = None  #: highest kx (cycles/pixel) of the scan-line streak columns left out, None if none
    profile: Profile | None = field(default=None, repr=False, compare=False)
    profile_x: Profile | None = field(default=None, repr=False, compare=False)
    profile_y: Profile | None = field(default=None, repr=False, compare=False)
    frc: Profile | None = field(default=None, repr=False, compare=False)

    @property
    def anisotropy(self) -> float | None:
        """cutoff_x / cutoff_y: 1 isotropic, < 1 blurrier along x (fast scan)."""
        if self.cutoff_x and self.cutoff_y:
            return self.cutoff_x / self.cutoff_y
        return None

    def _period(self, k: float | None) -> float | None:
        return self.pixel_size / k if (k and self.pixel_size) else None

    @property
    def resolution(self) -> float | None:
        return self._period(self.cutoff)

    @property
    def resolution_x(self) -> float | None:
        return self._period(self.cutoff_x)

    @property
    def resolution_y(self) -> float | None:
        return self._period(self.cutoff_y)

    @property
    def frc_resolution(self) -> float | None:
        return self._period(self.frc_cutoff)

    def to_dict(self, curves: bool = False) -> dict:
        out = {
            "cutoff": self.cutoff,
            "cutoff_x": self.cutoff_x,
            "cutoff_y": self.cutoff_y,
            "anisotropy": self.anisotropy,
            "frc_cutoff": self.frc_cutoff,
            "frc_split": self.frc_split,
            "noise_level": self.noise_level if math.isfinite(self.noise_level) else None,
            "factor": self.factor,
            "units": "cycles/pixel (Nyquist = 0.5)",
            "shape": list(self.shape),
            "message": self.message,
            "note": self.note,
            "frc_note": self.frc_note,
            "streak_columns_up_to_kx": self.streak_kx,
        }
        if self.pixel_size:
            out.update(
                pixel_size_A=self.pixel_size,
                resolution_A=self.resolution,
                resolution_x_A=self.resolution_x,
                resolution_y_A=self.resolution_y,
                frc_resolution_A=self.frc_resolution,
            )
        if curves:
            for name in ("profile", "profile_x", "profile_y", "frc"):
                prof = getattr(self, name)
                out[name] = prof.to_dict() if prof is not None else None
        return out

    def summary(self) -> str:
        """A few lines of text for the widget and the command line."""

        def fmt(k, res):
            if k is None:
                return "—"
            text = f"{k:.3f} cyc/px"
            return f"{res:.3g} Å ({text})" if res else text

        if self.note:  # the reason in full is in ``note`` (and the CLI's JSON)
            return f"cutoff, FRC: {self.message}{self.note[len(NOT_MEASURABLE):].split(':')[0]}"
        if self.message:
            head = self.message
        else:
            head = f"cutoff {fmt(self.cutoff, self.resolution)}"
        aniso = f"{self.anisotropy:.2f}" if self.anisotropy else "—"
        frc = fmt(self.frc_cutoff, self.frc_resolution)
        if self.frc_cutoff is None and self.frc_note:
            frc += f" ({self.frc_note})"
        lines = [
            head,
            f"x: {fmt(self.cutoff_x, self.resolution_x)}   y: {fmt(self.cutoff_y, self.resolution_y)}",
            f"anisotropy x/y: {aniso}",
            f"FRC (1/7, {self.frc_split}): {frc}",
        ]
        if self.streak_kx:
            lines.append(f"noise floor varies with kx (to {self.streak_kx:.3f} cyc/px: scan-line streaks, afterglow): read per column")
        return "\n".join(lines)


def resolution(
    image, pixel_size: float | None = None, config: ResolutionConfig | None = None, processed: str | None = None
) -> ResolutionReport:
    """Resolution cutoff, x/y cutoffs, anisotropy and one-image FRC of a 2-D image.

    ``pixel_size`` in Å (optional) adds resolutions in Å. Raises
    :class:`~napari_lowdose.core.errors.InvalidImageError` for NaN/Inf, RGB, non-2-D or images under
    32 pixels a side. A constant image or pure noise gives cutoffs of ``None`` and
    ``message == "no cutoff above noise"``. ``processed``: what was done to the image (e.g. "denoised
    with haadf"), when known: its floor is then not noise and its halves are not independent, so no
    cutoff or FRC is given, and ``note`` says why (:func:`.halfmap.half_data_frc` measures such images
    from their raw input). Where the noise floor depends on kx (:func:`column_floor`: scan-line streaks
    along ky, detector afterglow), every frequency is measured against its own column's floor, the
    streaks' peak columns are left out, and ``streak_kx`` says how far in kx the floor stands out.
    """
    config = config or ResolutionConfig()
    raw = np.asarray(image)
    plane = as_plane(raw)
    shape = plane.shape
    if pixel_size is not None and not (np.isfinite(pixel_size) and pixel_size > 0):
        raise InvalidImageError(f"pixel size must be a positive number of Å, got {pixel_size}")
    px = float(pixel_size) if pixel_size else None
    if processed:
        note = (f"{NOT_MEASURABLE} ({processed}): its high-frequency floor is the processing's output, not noise, and "
                "its halves share it; measure the half-data FRC of its raw input instead")
        return ResolutionReport(None, None, None, None, "none", float("nan"), float("nan"), float("nan"), config.factor,
                                px, shape, message=NOT_MEASURABLE, note=note, frc_note=NOT_MEASURABLE)

    F, energy = windowed_spectrum(plane)
    power = F.real * F.real + F.imag * F.imag  # float32
    floor, streak_kx, peaks = column_floor(power, shape, float(config.noise_from))
    if floor is not None:  # each column against its own noise floor; the streaks' peaks left out
        power = power / floor[None, :]
    grid = _bins(shape, float(config.sector_deg), float(config.nyquist_band), float(config.noise_from), 1, peaks)
    dk = grid.ring.dk
    k_min = config.k_min if config.k_min is not None else 3 * dk
    frc_job = None
    if config.frc_split != "none":
        # the FRC (one more FFT and its own profiles) runs on the second core while the spectrum
        # profiles are taken here; it reads F and the cached grids, writes nothing shared
        frc_job = _executor().submit(_frc_for, raw, plane, F, energy, config, floor is not None)
    prof = grid.ring.profile(power)
    prof_x = grid.wedge_x.profile(power)
    prof_y = grid.wedge_y.profile(power)
    noise = _noise_level(power, grid.noise_ring)
    noise_x = _noise_level(power, grid.noise_x)
    noise_y = _noise_level(power, grid.noise_y)

    flat = not np.any(power > 0) or not noise > 0
    if flat:
        cutoff = cutoff_x = cutoff_y = None
    else:
        cutoff = _highest_crossing(prof, noise, config.factor, k_min)
        # the wedges hold 1/6 of each ring: a 3-bin average steadies them
        cutoff_x = _highest_crossing(prof_x, noise_x, config.factor, k_min, smooth=3)
        cutoff_y = _highest_crossing(prof_y, noise_y, config.factor, k_min, smooth=3)

    frc, frc_cut, split, frc_note = None, None, "none", ""
    if frc_job is not None:
        split, frc, frc_note = frc_job.result()
        if flat:
            frc, split, frc_note = None, "none", "constant image"
        elif frc is not None:
            frc_cut = _frc_cutoff(frc, config.frc_threshold, k_min=2 * k_min)
            if frc_cut is None:
                frc_note = frc_failure(frc, config.frc_threshold, k_min=2 * k_min)
    message = NO_CUTOFF if cutoff is None else ""
    return ResolutionReport(
        cutoff=cutoff,
        cutoff_x=cutoff_x,
        cutoff_y=cutoff_y,
        frc_cutoff=frc_cut,
        frc_split=split,
        noise_level=noise,
        noise_level_x=noise_x,
        noise_level_y=noise_y,
        factor=config.factor,
        pixel_size=px,
        shape=shape,
        message=message,
        frc_note=frc_note,
        streak_kx=streak_kx,
        profile=prof,
        profile_x=prof_x,
        profile_y=prof_y,
        frc=frc,
    )


_EXECUTOR = None


def _executor():
    global _EXECUTOR
    if _EXECUTOR is None:
        from concurrent.futures import ThreadPoolExecutor

        _EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="napari-lowdose-frc")
    return _EXECUTOR


def _frc_for(raw: np.ndarray, plane: np.ndarray, F: np.ndarray, energy: float, config: ResolutionConfig, streaked: bool = False):
    """(split used, FRC curve, "") for :func:`resolution`. The checkerboard takes its two halves from
    different rows and columns: noise correlated along x only (afterglow) or y only leaves
    them independent, and so does line-to-line jitter (each half's rows are its own scan lines):
    streaks lower this FRC, never raise it. It uses the spectrum as recorded, not divided by the
    column floor. Where that floor depends on kx (``streaked``), "auto" takes the checkerboard: a
    binomial split would give both halves the same line jitter, and its FRC would reach Nyquist
    (measured on band-limited count images with 1-2 px of jitter per line: 0.499 cycles/pixel)."""
    split = config.frc_split
    if split == "auto" and streaked:
        # a noise floor that depends on kx: scan-line jitter or offsets, which a binomial split of the
        # counts would give both halves; the checkerboard's halves come from different scan lines
        split = "checkerboard"
    if split == "auto":
        grid = _bins(plane.shape, float(config.sector_deg), float(config.nyquist_band), float(config.noise_from))
        hf = F.ravel()[grid.noise_ring]
        noise = _noise_from_samples(hf.real * hf.real + hf.imag * hf.imag)
        split = "binomial" if noise > 0 and looks_like_counts(raw, noise / energy) else "checkerboard"
    if split == "binomial":
        return split, frc_curve(raw, split, spectrum=F, nyquist_band=config.nyquist_band), ""
    return split, frc_curve(plane, split), ""


# ---------------------------------------------------------------------------- mask helpers
def keep_to_frequency(keep: float, pixel_size: float | None = None) -> float:
    """The mask's cutoff radius: cycles/pixel, or Å⁻¹ when ``pixel_size`` (Å) is given."""
    k = keep * 0.5
    return k / pixel_size if pixel_size else k


def describe_cutoff(keep: float, pixel_size: float | None = None) -> str:
    """'65% of Nyquist: 0.325 cyc/px' or, with a pixel size, '65% of Nyquist: 0.0650 Å⁻¹ (15.4 Å)'."""
    head = f"{keep * 100:.0f}% of Nyquist"
    if keep >= math.sqrt(2):
        return f"{head}: no low-pass"
    if pixel_size:
        q = keep_to_frequency(keep, pixel_size)
        return f"{head}: {q:.4g} Å⁻¹ ({1 / q:.3g} Å)"
    return f"{head}: {keep_to_frequency(keep):.3f} cyc/px"


@dataclass(frozen=True)
class Progress:
    """A progress record yielded by long computations: ``done`` of ``total`` units."""

    done: int
    total: int
    message: str = ""


def iter_fft_mask(data, keep: float = 0.65, notch: bool = False, edge: float = 0.05):
    """Generator: low-pass every 2-D plane (last two axes) of ``data``; yields :class:`Progress` after
    each plane (a cancel point) and returns the float32 result of ``data``'s shape."""
    arr = np.asarray(data)
    if arr.ndim < 2:
        raise InvalidImageError(f"image has {arr.ndim} dimension(s); the FFT mask needs (..., y, x)")
    planes = arr.reshape((-1,) + arr.shape[-2:])
    out = np.empty(planes.shape, dtype=np.float32)
    for i, plane in enumerate(planes):
        out[i] = MaskedFilter(plane, name=f"plane {i}").apply(keep, notch, edge)
        yield Progress(i + 1, len(planes), f"plane {i + 1} of {len(planes)}")
    return out.reshape(arr.shape)
