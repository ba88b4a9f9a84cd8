"""One-image Fourier ring correlation: the second, independent resolution estimate (1/7 threshold).

Counting data (non-negative integers whose noise variance equals their mean) are split binomially:
every count goes to one half or the other, giving two independent Poisson images, and the FRC reaches
Nyquist. Other data are split on a checkerboard with the half-pixel shift between the halves undone in
Fourier space; that FRC reaches only 0.25 cycles/pixel (the halves' Nyquist) and is only meaningful
for images whose content stays below it. The FRC counts only when its lowest usable ring is
correlated above both 1/7 and the 3-sigma curve of noise.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

import numpy as np

from ..errors import InvalidImageError
from .grid import _SAMPLES_PER_INDEPENDENT, Profile, _bins, _rgrid, _smooth, windowed_spectrum

SplitKind = Literal["auto", "checkerboard", "binomial", "none"]
MIN_SAMPLES = 15  #: independent samples the lowest usable FRC ring needs


def frc_curve(image, split: SplitKind = "checkerboard", seed: int = 0, spectrum: np.ndarray | None = None, nyquist_band: float = 0.0) -> Profile:
    """Fourier ring correlation of two half-images of one image; ``k`` in cycles/pixel of the *input*.

    ``checkerboard``: the (even, even) / (odd, odd) and (even, odd) / (odd, even) pixel sub-lattices,
    the half-pixel shift between each pair undone in Fourier space, the two curves averaged; it
    measures up to 0.25 cycles/pixel (the sub-images' Nyquist). ``binomial``: each count goes to one
    half or the other with probability 1/2 (two independent Poisson images, for counting data only);
    it measures up to 0.5. ``spectrum``: the image's :func:`.grid.windowed_spectrum`, if already computed.
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
