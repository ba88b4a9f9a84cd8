"""Wiener refinement of a denoiser's output, for images whose noise is white (HRTEM cameras).

A network trained for too short a time (the bundled HRTEM model: CPU hours) smooths away detail that
the noisy image still holds at moderate and high dose. Two classical, training-free steps put it back,
using only the noisy image, the network's output and the noise power read from the spectrum's
corners (the seed's "noise level from the high-frequency part"):

1. :func:`restore_residual`: the *method noise* (noisy − denoised) is Wiener-filtered with its own
   radial power profile and its own noise floor, and added back: at frequencies where the residual holds more power than
   the noise it holds lost signal (a Wiener form of Tukey's "twicing").
2. :func:`local_wiener`: an empirical Wiener filter of the noisy image in overlapping 64² windows, with
   the step-1 image as the pilot signal spectrum (the second step of BM3D, with a network pilot).

Both assume noise of the same power at every frequency and position. That holds for counting noise
and read noise on a camera without a strong MTF and without scan artifacts; it does **not** hold for
STEM (line offsets, streaks along the fast scan), where the residual is mostly artifacts and these
steps put them back (measured: −6 dB). So a model card opts in (``"refine": "wiener"``; the bundled
``hrtem`` model does, ``haadf`` does not) and the user can switch it off. A camera whose point spread
correlates the noise (a scintillator's MTF) leaves little noise power in the corners; when the edge of
the spectrum holds more than :data:`WHITE_RATIO_MAX` times the corners' power,
:func:`noise_looks_white` says no and the denoiser skips the refinement with a note. Measurements:
docs/model.md, "Wiener refinement".
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft as sfft

REFINE_METHODS = ("none", "wiener")  #: what a model card's ``refine`` and ``denoise(refine=)`` accept
CORNERS = 1.0  #: the noise power is read where r = k / Nyquist >= this: the spectrum's corners
WINDOW = 64  #: px, side of the local Wiener windows (50 % overlap)
RADIAL_BINS = 64
MIN_SIDE = 16  #: planes smaller than this on either side are returned unrefined
EDGE = (0.9, 1.0)  #: r range of the ring just inside the Nyquist circle that :func:`noise_looks_white` compares
CORNER_FAR = 1.25  #: ... with the far corners (r >= this)
#: edge / corner power above which the noise is not white. Simulated HRTEM (docs/model.md): 0.1-2.6 without
#: a camera point spread (the edge holds signal at high dose), 2.3-6 with 0.5 px (where refining still
#: helped), 57-151 with 0.8 px (where it cost up to 3.8 dB)
WHITE_RATIO_MAX = 10.0


def _radius(shape: tuple[int, int]) -> np.ndarray:
    """r = k / Nyquist on the rfft2 half plane (0 at DC, 1 on the Nyquist circle, sqrt(2) in the corners)."""
    ky = sfft.fftfreq(shape[0])[:, None]
    kx = sfft.rfftfreq(shape[1])[None, :]
    return np.sqrt(ky * ky + kx * kx) / 0.5


def white_noise_variance(noisy: np.ndarray) -> float:
    """Per-pixel variance of the noise of ``noisy``, if it is white: the mean power in the spectrum's
    corners (beyond the Nyquist circle, where optics pass little signal), from their median / ln 2
    (robust to a few signal peaks), divided by the pixel count."""
    x = np.asarray(noisy, dtype=np.float64)
    return _corner_power(np.abs(sfft.rfft2(x - x.mean())) ** 2, _radius(x.shape)) / x.size


def _corner_power(power: np.ndarray, r: np.ndarray) -> float:
    corner = power[r >= CORNERS]
    return float(np.median(corner) / math.log(2.0)) if corner.size else 0.0


def noise_looks_white(noisy: np.ndarray) -> tuple[bool, float]:
    """(white?, ratio): the median power in the ring just inside the Nyquist circle over that in the far
    corners of the spectrum. White noise gives about 1 (more where signal reaches the edge); a camera point
    spread, which damps the corners far more than the edge, gives tens to hundreds."""
    x = np.asarray(noisy, dtype=np.float64)
    power = np.abs(sfft.rfft2(x - x.mean())) ** 2
    r = _radius(x.shape)
    edge, corner = power[(r >= EDGE[0]) & (r < EDGE[1])], power[r >= CORNER_FAR]
    if edge.size == 0 or corner.size == 0:
        return True, 1.0
    ratio = float(np.median(edge) / max(float(np.median(corner)), 1e-300))
    return ratio <= WHITE_RATIO_MAX, ratio


def restore_residual(noisy: np.ndarray, denoised: np.ndarray, bins: int = RADIAL_BINS) -> np.ndarray:
    """``denoised`` plus the Wiener-filtered residual: gain max(0, 1 − N / P(r)) on the residual's
    spectrum, with P(r) its radial power profile and N the residual's own power in the corners (what
    is left there of the noise: the network keeps part of it, e.g. half in a 90 e⁻/px HRTEM image)."""
    residual = np.asarray(noisy, dtype=np.float64) - denoised
    spec = sfft.rfft2(residual - residual.mean())
    power = spec.real**2 + spec.imag**2
    r = _radius(residual.shape)
    idx = np.minimum((r / math.sqrt(2.0) * bins).astype(np.intp), bins - 1)
    counts = np.bincount(idx.ravel(), minlength=bins)
    profile = np.bincount(idx.ravel(), power.ravel(), minlength=bins) / np.maximum(counts, 1)
    noise = _corner_power(power, r)
    gain = np.clip(1.0 - noise / np.maximum(profile, 1e-300), 0.0, 1.0)
    return denoised + sfft.irfft2(spec * gain[idx], s=residual.shape)


def local_wiener(noisy: np.ndarray, pilot: np.ndarray, noise_variance: float, window: int = WINDOW) -> np.ndarray:
    """Empirical Wiener filter of ``noisy`` in ``window``² windows at 50 % overlap (sine analysis and
    synthesis windows), each with gain S / (S + N): S the power spectrum of ``pilot`` in that window,
    N the white noise power (``noise_variance`` per pixel)."""
    x = np.asarray(noisy, dtype=np.float64)
    p = np.asarray(pilot, dtype=np.float64)
    step = window // 2
    w1 = np.sin(np.pi * (np.arange(window) + 0.5) / window)
    w = np.outer(w1, w1)
    noise = noise_variance * float((w * w).sum())
    pad = window
    xp, pp = np.pad(x, pad, mode="reflect"), np.pad(p, pad, mode="reflect")
    xw = sliding_window_view(xp, (window, window))[::step, ::step]
    pw = sliding_window_view(pp, (window, window))[::step, ::step]
    out = np.zeros_like(xp)
    weight = np.zeros_like(xp)
    for i in range(xw.shape[0]):  # one row of windows at a time bounds the memory
        xs, ps = xw[i], pw[i]
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
            weight[y0 : y0 + window, x0 : x0 + window] += w * w
    out /= np.maximum(weight, 1e-12)
    return out[pad:-pad, pad:-pad]


def wiener_refine(noisy: np.ndarray, denoised: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """Both steps (module docstring) on one plane: returns float32 of its shape. Planes smaller than
    :data:`MIN_SIDE` are returned as ``denoised``; the window shrinks to fit smaller planes."""
    noisy = np.asarray(noisy)
    if noisy.ndim != 2 or noisy.shape != np.shape(denoised):
        raise ValueError(f"wiener_refine needs two planes of one shape, got {noisy.shape} and {np.shape(denoised)}")
    if min(noisy.shape) < MIN_SIDE:
        return np.asarray(denoised, dtype=np.float32)
    while window > min(noisy.shape) // 2:
        window //= 2
    pilot = restore_residual(noisy, np.asarray(denoised, dtype=np.float64))
    return local_wiener(noisy, pilot, white_noise_variance(noisy), window).astype(np.float32)
