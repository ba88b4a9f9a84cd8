"""The FFT low-pass mask of one 2-D image (and of every plane of a stack), with the live slider's cache.

The mask's cutoff ``keep`` is a **fraction of Nyquist**, measured as a radius: the frequency
``(ky, kx)`` sits at ``r = sqrt(kx² + ky²) / 0.5``; ``r <= keep`` passes. It keeps the lowest ``keep``
of the frequencies (default 0.65: the top ~35% removed), with a raised-cosine edge ``edge`` wide
(fraction of Nyquist) so the filtered image does not ring; an optional notch removes the kx = Nyquist
line where the every-other-column detector artifact puts its power.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft as sfft

from ..errors import InvalidImageError
from .grid import _WORKERS, _rgrid, as_plane

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
