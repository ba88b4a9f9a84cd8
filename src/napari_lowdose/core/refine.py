"""Wiener refinement of a denoiser's output, for images whose noise is white (HRTEM cameras).

A network trained for too short a time (the bundled HRTEM model: CPU hours) smooths away detail that
the noisy image still holds at moderate and high dose. Two classical, training-free steps put it back,
using only the noisy image, the network's output and the noise power read from the spectrum's
corners (the seed's "noise level from the high-frequency part"):

1. :func:`restore_residual`: the *method noise* (noisy − denoised) is Wiener-filtered with its own
   radial power profile and its own noise floor, and added back: at frequencies where the residual holds more power than
   the noise it holds lost signal (a Wiener form of Tukey's "twicing").
2. :func:`global_wiener`: an empirical Wiener filter of the whole noisy image, its signal spectrum read
   from the image's own power spectrum less the noise (radially averaged, which follows the CTF's Thon
   rings, or smoothed over 15 x 15 frequencies, which keeps the particles' lattice peaks). The pilot
   is the mean of the step-1 and step-2 images: the network knows the scene, the spectrum knows this
   image's optics.
3. :func:`local_wiener`: an empirical Wiener filter of the noisy image in overlapping 64² windows, with
   the pilot's power spectrum as the signal's (the second step of BM3D, with a network pilot).

All three assume noise of the same power at every frequency and position. That holds for counting noise
and read noise on a camera without a strong MTF and without scan artifacts; it does **not** hold for
STEM (line offsets, streaks along the fast scan), where the residual is mostly artifacts and these
steps put them back (measured with the shipped haadf network, forced on: −7.7 to −12 dB at the lowest
doses; at higher doses the guard below refuses). So a model card opts in (``"refine": "wiener"``; the bundled
``hrtem`` model does, ``haadf`` does not) and the user can switch it off. A camera whose point spread
correlates the noise (a scintillator's MTF) leaves little noise power in the corners; when the edge of
the spectrum holds more than :data:`WHITE_RATIO_MAX` times the corners' power, or the network removed
more than :data:`REMOVED_RATIO_MAX` times the variance of white noise at the corners' level, or the
noise is that of a scanned image (:func:`scan_noise`: its high frequencies differ along x and y),
:func:`refinement_check` says no and the denoiser skips the refinement with a note. Measurements:
docs/model.md, "Wiener refinement".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft as sfft
from scipy import ndimage

from .spectrum.grid import _rgrid
from .spectrum.noise import _noise_from_samples

REFINE_METHODS = ("none", "wiener")  #: what a model card's ``refine`` and ``denoise(refine=)`` accept
CORNERS = 1.0  #: the noise power is read where r = k / Nyquist >= this: the spectrum's corners
WINDOW = 64  #: px, side of the local Wiener windows (50 % overlap)
GLOBAL_SMOOTH = 15  #: frequency bins, side of the box that smooths the power spectrum in :func:`global_wiener`
RADIAL_BINS = 64
MIN_SIDE = 16  #: planes smaller than this on either side are returned unrefined
EDGE = (0.9, 1.0)  #: r range of the ring just inside the Nyquist circle that :func:`noise_looks_white` compares
CORNER_FAR = 1.25  #: ... with the far corners (r >= this)
#: edge / corner power above which the noise is not white. Simulated HRTEM, 1 Å pixels, 3-90 e⁻/px: 1.0-2.6
#: without a camera point spread (more where signal reaches the edge, at high dose); 2.2-5.8 with a 0.5 px
#: spread; 1.7-35 with 0.8 px. Read noise is white and is added after the spread, so where it fills the
#: corners (few electrons per pixel) the ratio cannot see the spread: the guard catches strong spreads
#: with little read noise only (docs/model.md, "Wiener refinement")
WHITE_RATIO_MAX = 10.0
#: removed variance / corner white-noise variance above which :func:`refinement_check` says no (chosen on
#: development images, seeds 20261122 and 77, not the held-out set)
REMOVED_RATIO_MAX = 1.5


def _radius(shape: tuple[int, int]) -> np.ndarray:
    """r = k / Nyquist on the rfft2 half plane (0 at DC, 1 on the Nyquist circle, sqrt(2) in the corners), float32."""
    return _rgrid(tuple(shape))[2] * np.float32(2.0)


def _spectrum(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rfft2 of the mean-free image, its power), in single precision: a whole plane's transform is
    the largest array here (an 8192² plane: 270 MB complex64)."""
    x = np.asarray(image, dtype=np.float32)
    spec = sfft.rfft2(x - np.float32(x.mean(dtype=np.float64)))
    return spec, spec.real * spec.real + spec.imag * spec.imag


def _noise_stats(noisy: np.ndarray) -> tuple[float, float]:
    """(edge / far-corner power ratio, white-noise variance per pixel), from one transform of ``noisy``."""
    _, power = _spectrum(noisy)
    r = _radius(np.shape(noisy))
    edge, far = power[(r >= EDGE[0]) & (r < EDGE[1])], power[r >= CORNER_FAR]
    ratio = 1.0
    if edge.size and far.size:
        ratio = float(np.median(edge.astype(np.float64)) / max(float(np.median(far.astype(np.float64))), 1e-300))
    return ratio, _corner_power(power, r) / np.size(noisy)


def white_noise_variance(noisy: np.ndarray) -> float:
    """Per-pixel variance of the noise of ``noisy``, if it is white: the mean power in the spectrum's
    corners (beyond the Nyquist circle, where optics pass little signal), from their median / ln 2
    (robust to a few signal peaks), divided by the pixel count."""
    return _noise_stats(noisy)[1]


def _corner_power(power: np.ndarray, r: np.ndarray) -> float:
    corner = power[r >= CORNERS]
    return _noise_from_samples(corner.astype(np.float64)) if corner.size else 0.0


def noise_looks_white(noisy: np.ndarray) -> tuple[bool, float]:
    """(white?, ratio): the median power in the ring just inside the Nyquist circle over that in the far
    corners of the spectrum. White noise gives about 1 (more where signal reaches the edge); a camera point
    spread, which damps the corners far more than the edge, gives tens to hundreds, unless white read
    noise fills the corners (see :func:`refinement_check`)."""
    ratio = _noise_stats(noisy)[0]
    return ratio <= WHITE_RATIO_MAX, ratio


@dataclass(frozen=True)
class NoiseCheck:
    """What :func:`refinement_check` found: ``reason`` is "" when the refinement may run."""

    reason: str
    noise_variance: float  #: per pixel, white-noise level of the spectrum's corners (for :func:`wiener_refine`)


def scan_noise(noisy: np.ndarray) -> str:
    """Why the noise of ``noisy`` is that of a scanned (STEM) image, or "": its high-frequency power
    differs along x and y (:func:`.spectrum.noise_whiteness` outside :data:`.spectrum.WHITE_RANGE`:
    detector afterglow along the fast scan, line-to-line streaks). Measured on the real STEM files:
    16_STOimage_1.ser 0.67, Acquisition_18.emd 2.79, test_STEM_image.dm3 0.70, the simulated HAADF
    sample 0.46 (multi_signal.dm3: 0.95, taken as white); white Poisson noise 1.00. Images under
    128 px a side hold too few high frequencies to tell, and pass."""
    from .spectrum import WHITE_RANGE, noise_whiteness, windowed_spectrum

    plane = np.asarray(noisy, dtype=np.float32)
    if plane.ndim != 2 or min(plane.shape) < 128:  # too few high-frequency samples to tell
        return ""
    F, _ = windowed_spectrum(plane)
    white = noise_whiteness(F.real * F.real + F.imag * F.imag, plane.shape)
    if not WHITE_RANGE[0] <= white <= WHITE_RANGE[1]:
        return (f"the noise is not white: its high-frequency power along x is {white:.2f} times that along y "
                "(a scanned image: detector afterglow or scan-line noise)")
    return ""


def refinement_check(noisy: np.ndarray, denoised: np.ndarray) -> NoiseCheck:
    """Whether :func:`wiener_refine` may run on this plane, and why not. Two tests of the white-noise
    assumption: the spectrum's edge / corner power (:func:`noise_looks_white`), and the variance the network
    removed (noisy − denoised) over the white-noise variance read in the corners. With white noise the
    network cannot remove much more than the noise: 0.95-1.68 measured with the bundled hrtem network on
    development images (above 1 where it also removed signal, at high dose; over 1.5 on 3 of 8 images at
    90 e/A^2, which are then refused). Correlated noise holds far more variance than its corners show: 2.4-3.5 with a 0.5 px
    camera point spread, 13-107 with 0.8 px (docs/model.md, "Wiener refinement")."""
    ratio, floor = _noise_stats(noisy)
    scanned = scan_noise(noisy)
    if scanned:
        return NoiseCheck(scanned, floor)
    if ratio > WHITE_RATIO_MAX:
        return NoiseCheck(f"the noise is not white (spectrum edge / corner power {ratio:.0f} > {WHITE_RATIO_MAX:g}: a camera point spread?)", floor)
    removed = float(np.var(np.asarray(noisy, dtype=np.float64) - np.asarray(denoised, dtype=np.float64)))
    if floor <= 0 or removed > REMOVED_RATIO_MAX * floor:
        return NoiseCheck(f"the network removed {removed / max(floor, 1e-300):.1f}x the white-noise variance of the spectrum's corners "
                          f"(> {REMOVED_RATIO_MAX:g}): the noise is correlated (a camera point spread?)", floor)
    return NoiseCheck("", floor)


def _radial_profile(power: np.ndarray, r: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(bin of each frequency, mean power per bin): ``bins`` equal rings over r = 0 to sqrt(2)."""
    idx = np.minimum((r * np.float32(bins / math.sqrt(2.0))).astype(np.int32), bins - 1)
    flat = idx.ravel()
    return idx, np.bincount(flat, power.ravel(), minlength=bins) / np.maximum(np.bincount(flat, minlength=bins), 1)


def restore_residual(noisy: np.ndarray, denoised: np.ndarray, bins: int = RADIAL_BINS) -> np.ndarray:
    """``denoised`` plus the Wiener-filtered residual: gain max(0, 1 − N / P(r)) on the residual's
    spectrum, with P(r) its radial power profile and N the residual's own power in the corners (what
    is left there of the noise: the network keeps part of it, e.g. half in a 90 e⁻/px HRTEM image)."""
    denoised = np.asarray(denoised, dtype=np.float32)
    spec, power = _spectrum(np.asarray(noisy, dtype=np.float32) - denoised)
    r = _radius(denoised.shape)
    noise = _corner_power(power, r)
    idx, profile = _radial_profile(power, r, bins)
    del r, power
    gain = np.clip(1.0 - noise / np.maximum(profile, 1e-300), 0.0, 1.0).astype(np.float32)
    spec *= gain[idx]
    return denoised + sfft.irfft2(spec, s=denoised.shape)


def global_wiener(noisy: np.ndarray, noise_variance: float, smooth: int = GLOBAL_SMOOTH) -> np.ndarray:
    """Empirical Wiener filter of the whole plane, with no pilot: gain S / (S + N), N the white noise
    power (``noise_variance`` per pixel) and S the larger of two estimates of the signal power, each less
    N and clipped at 0: the radial profile of the plane's power spectrum (one bin per frequency step:
    sharp enough for Thon rings) and the power spectrum smoothed over ``smooth`` x ``smooth`` frequencies
    (keeps off-axis peaks such as a particle's lattice reflections). Returns float32."""
    x = np.asarray(noisy, dtype=np.float32)
    mean = np.float32(x.mean(dtype=np.float64))
    spec, power = _spectrum(x)
    noise = np.float32(noise_variance * x.size)
    idx, profile = _radial_profile(power, _radius(x.shape), max(int(math.ceil(min(x.shape) / 2 * math.sqrt(2.0))), 1))
    # the rfft half plane: periodic along ky, mirrored at kx = 0 and at the last column
    signal = np.maximum(profile.astype(np.float32)[idx], ndimage.uniform_filter(power, smooth, mode=("wrap", "mirror")))
    del idx, power
    signal -= noise
    np.maximum(signal, 0, out=signal)
    spec *= signal / np.maximum(signal + noise, np.float32(1e-30))
    return sfft.irfft2(spec, s=x.shape) + mean


def local_wiener(noisy: np.ndarray, pilot: np.ndarray, noise_variance: float, window: int = WINDOW) -> np.ndarray:
    """Empirical Wiener filter of ``noisy`` in ``window``² windows at 50 % overlap (sine analysis and
    synthesis windows), each with gain S / (S + N): S the power spectrum of ``pilot`` in that window,
    N the white noise power (``noise_variance`` per pixel)."""
    step = window // 2
    w1 = np.sin(np.pi * (np.arange(window) + 0.5) / window)
    w = np.outer(w1, w1)
    noise = noise_variance * float((w * w).sum())
    # padded by a window: every pixel of the plane lies under exactly two windows along each axis, whose
    # squared sine windows add up to 1 (sin² + cos²), so the overlap-add needs no normalisation
    pad = window
    xp = np.pad(np.asarray(noisy, dtype=np.float32), pad, mode="reflect")
    pp = np.pad(np.asarray(pilot, dtype=np.float32), pad, mode="reflect")
    xw = sliding_window_view(xp, (window, window))[::step, ::step]
    pw = sliding_window_view(pp, (window, window))[::step, ::step]
    out = np.zeros(xp.shape, dtype=np.float32)
    for i in range(xw.shape[0]):  # one row of windows at a time (float64) bounds the memory
        xs, ps = xw[i].astype(np.float64), pw[i].astype(np.float64)
        mean = ps.mean(axis=(-2, -1), keepdims=True)
        xs_f = sfft.rfft2((xs - mean) * w)
        ps_f = sfft.rfft2((ps - mean) * w)
        s = ps_f.real**2 + ps_f.imag**2
        gain = s / np.maximum(s + noise, 1e-300) if noise > 0 else 1.0
        filt = sfft.irfft2(xs_f * gain, s=(window, window)) * w + mean * (w * w)
        y0 = i * step
        for j in range(xw.shape[1]):
            x0 = j * step
            out[y0 : y0 + window, x0 : x0 + window] += filt[j]
    return out[pad:-pad, pad:-pad]


def wiener_refine(noisy: np.ndarray, denoised: np.ndarray, window: int = WINDOW, noise_variance: float | None = None) -> np.ndarray:
    """The three steps (module docstring) on one plane: returns float32 of its shape. Planes smaller than
    :data:`MIN_SIDE` are returned as ``denoised``; the window shrinks to fit smaller planes.
    ``noise_variance``: the white-noise level if already known (:class:`NoiseCheck`), else read here."""
    noisy = np.asarray(noisy)
    if noisy.ndim != 2 or noisy.shape != np.shape(denoised):
        raise ValueError(f"wiener_refine needs two planes of one shape, got {noisy.shape} and {np.shape(denoised)}")
    if min(noisy.shape) < MIN_SIDE:
        return np.asarray(denoised, dtype=np.float32)
    while window > min(noisy.shape) // 2:
        window //= 2
    noise_variance = white_noise_variance(noisy) if noise_variance is None else noise_variance
    pilot = restore_residual(noisy, denoised)
    pilot += global_wiener(noisy, noise_variance)
    pilot *= np.float32(0.5)
    return local_wiener(noisy, pilot, noise_variance, window)
