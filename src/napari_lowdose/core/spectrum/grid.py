"""Frequency grids, the Hann-windowed spectrum and its radial / wedge profiles: what the FFT mask, the
resolution readout and the FRC share.

Conventions as in :mod:`napari_lowdose.core.spectrum`: images ``(y, x)``, frequencies in cycles per pixel
(Nyquist = 0.5).

Before any spectrum the image is multiplied by a Hann window, so the jump between opposite edges does
not paint a cross along the kx and ky axes, exactly where the x and y wedges look.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft as sfft

from ..errors import InvalidImageError
from ..image import check_image, looks_like_rgb

MIN_SIDE = 32  #: smaller images give too few frequency samples for a readout
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


def _smooth(values: np.ndarray, width: int = 3) -> np.ndarray:
    if width <= 1 or values.size < width:
        return values
    kernel = np.ones(width) / width
    padded = np.pad(values, (width // 2, width // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid")


# The Hann window correlates neighbouring frequencies (equivalent noise bandwidth 1.5 bins per axis)
# and the rfft half plane counts each conjugate pair twice: independent samples = weighted count / 4.5.
_SAMPLES_PER_INDEPENDENT = 2 * 2.25
