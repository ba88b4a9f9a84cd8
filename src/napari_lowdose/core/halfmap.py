"""Resolution of a *processed* (denoised) image: the half-data FRC, as the half-map FSC of cryo-EM.

The one-image readout (:func:`.spectrum.resolution`) cannot measure a denoised image: its high-frequency
floor is what the denoiser left there, not noise, and the checkerboard halves of a denoised image share
the network's output, so they are not independent. What can be measured is how reproducible the denoised
result is from *independent* data:

1. **Counts.** The raw image must hold counts ``n`` (``raw = offset + gain * n``, Poisson ``n``): integer
   counts as recorded (gain 1, offset 0), a gain and offset the caller gives, or ones estimated from the
   image (noise variance against mean over blocks: :func:`estimate_counts`). Data whose noise is not white
   or whose variance does not grow with the mean have no counts to split: the result is then "not
   measurable" with the reason, never a number.
2. **Binomial split.** Every count goes to half A or half B with probability 1/2: two independent Poisson
   images of half the dose (``a + b = n``). Checked: where only noise can be (k >= 0.45 cycles/pixel) the
   two halves must not correlate. With a gain g where the true one is g0 they correlate (g0 - g) / (g0 + g),
   so an estimated gain is corrected by that one step and the split made again; counts that still fail
   (read noise, a wrong offset, noise that is not Poisson) give "not measurable". Each half is put back on the raw's intensity scale
   (``offset + 2 * gain * a``), so a model sees the intensities it expects, at half the dose.
3. **Denoise each half** with the same ``denoise`` callable (the same model and settings).
4. **FRC between the two denoised halves** (Hann window, rings of 1 / min(ny, nx), the scan-artifact lines
   left out as in the readout), cut at **1/7**.

Half-to-full correction. Each half holds half the dose. As in cryo-EM (Rosenthal & Henderson 2003), the
1/7 threshold applied to the half-data curve gives the resolution of the *full*-data result: where
FRC_half = 1/7, the image made from both halves correlates 0.5 with the truth
(sqrt(2 FRC / (1 + FRC)), Spearman-Brown). ``frc_full`` is the half-data curve put to the full dose by the
same Spearman-Brown step, 2 FRC / (1 + FRC), the expected FRC of two full-dose results. Both steps are exact
for averaging; a denoiser is not linear, and a network that denoises the full dose better than either half
makes the stated value conservative (a lower bound on the full-dose resolution in that sense).

No resolution is invented. Content the denoiser makes from the noise differs between the halves and
does not correlate. But what it derives from the *signal* does: a non-linear network puts harmonics of
the signal above the data's band limit, the same in both halves (the bundled HAADF model on a test image
band-limited at k0 = 0.2 cycles/pixel: the denoised halves correlate up to 0.42, about 2 k0). Consistency
is not fidelity, so the reported ``cutoff`` is the lower of the denoised halves' FRC cutoff and the raw
data's own (the same split before denoising, and where that is below 0.24 cycles/pixel, the checkerboard
FRC of the raw image, whose range ends at 0.25: its halves come from different scan lines, so line noise the counts model
misses cannot raise it): a denoiser can lose resolution, which the first shows,
but what it adds beyond the data's own resolution comes from its prior, not from the measurement. Axis order ``(y, x)``; frequencies in cycles per pixel (Nyquist 0.5), periods in Å with a
pixel size in Å.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .errors import InvalidImageError
from .spectrum.frc import _binomial_half, _frc, _frc_cutoff, frc_curve
from .spectrum.grid import Profile, _bins, as_plane, windowed_spectrum
from .spectrum.noise import WHITE_RANGE, _noise_from_samples, column_floor, looks_like_counts, noise_whiteness
from .spectrum.readout import NOT_MEASURABLE

THRESHOLD = 1 / 7
BLOCK = 64  #: block side (px) for the noise-variance-against-mean fit of :func:`estimate_counts`



@dataclass(frozen=True)
class Counts:
    """The counts behind a raw image (``raw = offset + gain * counts``), or why there are none.

    ``source``: "integer counts" (the image itself), "given" (gain/offset from the caller) or "estimated"
    (:func:`estimate_counts`). ``reason`` is "" when ``counts`` is usable, else one sentence.
    """

    counts: np.ndarray | None
    gain: float
    offset: float
    source: str
    reason: str = ""


def _block_noise(plane: np.ndarray, block: int = BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """(mean, white-noise variance) per ``block`` x ``block`` block: the variance from the block's
    Hann-windowed power spectrum at k >= 0.45 cycles/pixel (corners included), median / ln 2, where
    the images this is for hold noise only."""
    ny, nx = (plane.shape[0] // block) * block, (plane.shape[1] // block) * block
    blocks = plane[:ny, :nx].astype(np.float64).reshape(ny // block, block, nx // block, block).transpose(0, 2, 1, 3)
    blocks = blocks.reshape(-1, block, block)
    w = np.hanning(block + 1)[:-1]
    w2 = w[:, None] * w[None, :]
    F = np.fft.rfft2((blocks - blocks.mean(axis=(1, 2))[:, None, None]) * w2, axes=(1, 2))
    k = np.hypot(np.fft.fftfreq(block)[:, None], np.fft.rfftfreq(block)[None, :])
    p = np.abs(F[:, k >= 0.45]) ** 2
    # the windowed spectrum weighs each pixel's variance by w^2: weigh the mean the same way
    means = np.tensordot(blocks, w2**2, axes=([1, 2], [0, 1])) / float(np.sum(w2**2))
    return means, np.median(p, axis=1) / math.log(2.0) / float(np.sum(w2**2))


def estimate_counts(image, gain: float | None = None, offset: float | None = None) -> Counts:
    """The counts of a raw 2-D image: given ``gain`` (and ``offset``, default 0), else integer Poisson
    counts as they are, else gain and offset fitted to the noise variance against the mean over
    ``BLOCK``-pixel blocks (variance = gain * (mean - offset)). Refused (``counts`` None, ``reason`` set)
    when the noise is not white or the fit does not show variance growing with the mean."""
    raw = np.asarray(image)
    plane = as_plane(raw, "raw image")
    if gain is not None:
        if not (np.isfinite(gain) and gain > 0):
            raise InvalidImageError(f"gain must be a positive number of intensity units per count, got {gain}")
        off = float(offset or 0.0)
        n = np.clip(np.rint((plane.astype(np.float64) - off) / gain), 0, None).astype(np.int64)
        return Counts(n, float(gain), off, "given")
    F, energy = windowed_spectrum(plane)
    power = F.real * F.real + F.imag * F.imag
    # any dependence of the noise on kx or ky (afterglow, line jitter) means neighbouring pixels share
    # noise, which a split of the counts would share too: no streak columns are left out here
    _, streak_kx, _ = column_floor(power, plane.shape)
    if streak_kx is not None:
        return Counts(None, float("nan"), float("nan"), "estimated",
                      f"the two halves are not independent: the noise floor varies with kx up to {streak_kx:.3f} cyc/px "
                      "(scan-line jitter or afterglow), which a split of the counts gives both halves")
    white = noise_whiteness(power, plane.shape)
    if not WHITE_RANGE[0] <= white <= WHITE_RANGE[1]:
        along = "x" if white < 1 else "y"
        return Counts(None, float("nan"), float("nan"), "estimated",
                      f"the two halves are not independent: counts unknown (the noise is not white: neighbouring pixels "
                      f"along {along} share it, high-frequency power x/y {white:.2f}), so a split of the data shares noise")
    if np.issubdtype(raw.dtype, np.integer) and raw.min() >= 0:
        grid = _bins(plane.shape)
        hf = F.ravel()[grid.noise_ring]
        noise = _noise_from_samples(hf.real * hf.real + hf.imag * hf.imag) / energy
        if looks_like_counts(raw, noise):
            return Counts(raw.astype(np.int64), 1.0, 0.0, "integer counts")
    if min(plane.shape) < 2 * BLOCK:
        return Counts(None, float("nan"), float("nan"), "estimated",
                      f"counts unknown: the image is too small ({plane.shape[0]} x {plane.shape[1]}) to fit the detector gain")
    means, variances = _block_noise(plane)
    order = np.argsort(means)
    groups = np.array_split(order, min(16, max(4, means.size // 8)))
    gm = np.array([np.median(means[g]) for g in groups])
    gv = np.array([np.median(variances[g]) for g in groups])
    spread = gm[-1] - gm[0]
    if not spread > 0:
        return Counts(None, float("nan"), float("nan"), "estimated", "counts unknown: the image has no range of intensities to fit the gain on")
    (slope, intercept), cov = np.polyfit(gm, gv, 1, cov=True)
    slope_err = math.sqrt(max(cov[0, 0], 0.0))
    if not slope > 0 or slope_err > 0.1 * slope:
        return Counts(None, float("nan"), float("nan"), "estimated",
                      "the two halves are not independent: counts unknown (the noise variance does not grow with the "
                      "intensity as for counted electrons; give the detector gain and offset)")
    off = -intercept / slope
    n = np.clip(np.rint((plane.astype(np.float64) - off) / slope), 0, None).astype(np.int64)
    if float(n.mean()) < 0.05:
        return Counts(None, float("nan"), float("nan"), "estimated", "counts unknown: the fitted gain leaves almost no counts")
    return Counts(n, float(slope), float(off), "estimated")


NOISE_FROM = 0.45  #: cycles/pixel: the shell where the raw halves' FRC tests their independence
NOISE_FRC_MAX = 0.01  #: FRC over that shell above which (and above 4 sigma) the halves are not independent
CHECKER_RANGE = 0.24  #: cycles/pixel: a checkerboard FRC cutoff below this is a measurement, not its range's end


def _raw_frc(a: np.ndarray, b: np.ndarray, nyquist_band: float) -> Profile:
    Fa, _ = windowed_spectrum(a.astype(np.float32))
    Fb, _ = windowed_spectrum(b.astype(np.float32))
    return _frc(Fa, Fb, a.shape, None, 1.0, nyquist_band)


def _split(n: np.ndarray, seed: int, nyquist_band: float):
    """(a, b, FRC of a and b over k >= NOISE_FROM, its standard deviation for independent halves)."""
    small = n.max() < 2**31
    a = _binomial_half(n.astype(np.int32 if small else np.int64), np.random.default_rng(seed)).astype(np.float64)
    b = n - a
    curve = _raw_frc(a, b, nyquist_band)
    shell = (curve.k >= NOISE_FROM) & np.isfinite(curve.values) & (curve.counts > 0)
    weights = curve.counts[shell]
    if weights.sum() <= 0:
        return a, b, 0.0, 1.0
    frc = float(np.sum(curve.values[shell] * weights) / weights.sum())
    independent = float(weights.sum()) / 4.5  # window and half plane: as the readout counts them
    return a, b, frc, 1.0 / math.sqrt(max(independent, 1.0))


@dataclass(frozen=True)
class HalfDataFRC:
    """Half-data FRC of a denoised result. ``cutoff`` (cycles/pixel): where the FRC between the two
    denoised halves falls below 1/7, the full-dose resolution by Rosenthal & Henderson's criterion;
    ``None`` with ``reason`` when it could not be measured. ``frc``: the half-data curve; ``frc_full``: it
    put to the full dose (2 FRC / (1 + FRC)). ``resolution`` in Å with a pixel size (Å)."""

    cutoff: float | None
    pixel_size: float | None
    gain: float
    offset: float
    counts_source: str
    reason: str = ""
    denoised_cutoff: float | None = None  #: 1/7 crossing of the denoised halves' FRC
    raw_cutoff: float | None = None  #: 1/7 crossing of the raw halves' FRC (the data's own resolution)
    frc: Profile | None = field(default=None, repr=False, compare=False)
    frc_full: Profile | None = field(default=None, repr=False, compare=False)

    METHOD = ("half-data FRC: raw counts split binomially into two half-dose images, each denoised with the same "
              "model, FRC between them at 1/7 (Rosenthal-Henderson: the full-dose resolution; curve put to the full "
              "dose with 2 FRC / (1 + FRC)), capped at the raw halves' own FRC cutoff")

    @property
    def resolution(self) -> float | None:
        return self.pixel_size / self.cutoff if (self.cutoff and self.pixel_size) else None

    def summary(self) -> str:
        if self.cutoff is None:
            return f"half-data FRC: — ({self.reason})"
        res = f"{self.resolution:.3g} Å ({self.cutoff:.3f} cyc/px)" if self.resolution else f"{self.cutoff:.3f} cyc/px"
        by = "the raw data's own FRC" if self.limited_by == "raw data" else "the denoised halves"
        return f"half-data FRC (1/7, full dose): {res}, limited by {by}"

    @property
    def limited_by(self) -> str:
        if self.cutoff is None:
            return ""
        return "raw data" if self.raw_cutoff is not None and self.cutoff == self.raw_cutoff and self.denoised_cutoff != self.raw_cutoff else "denoiser"

    def to_dict(self, curves: bool = False) -> dict:
        out = {
            "half_data_frc_cutoff": self.cutoff,
            "half_data_frc_resolution_A": self.resolution,
            "denoised_halves_frc_cutoff": self.denoised_cutoff,
            "raw_halves_frc_cutoff": self.raw_cutoff,
            "limited_by": self.limited_by,
            "method": self.METHOD,
            "counts": self.counts_source,
            "gain": None if math.isnan(self.gain) else self.gain,
            "offset": None if math.isnan(self.offset) else self.offset,
            "reason": self.reason,
        }
        if curves:
            out["frc"] = self.frc.to_dict() if self.frc is not None else None
            out["frc_full"] = self.frc_full.to_dict() if self.frc_full is not None else None
        return out


def half_data_frc(
    raw,
    denoise: Callable[[np.ndarray], np.ndarray],
    pixel_size: float | None = None,
    gain: float | None = None,
    offset: float | None = None,
    seed: int = 0,
    nyquist_band: float = 0.03,
) -> HalfDataFRC:
    """Half-data FRC of ``denoise`` applied to the raw 2-D image ``raw`` (see the module docstring).

    ``denoise`` maps a 2-D float32 image to its denoised 2-D image (same shape); it is called twice, once
    per half. ``gain``/``offset``: intensity per count and the zero level, if known (else estimated or
    read from integer counts). Raises :class:`InvalidImageError` for images the readout refuses (NaN,
    RGB, not 2-D, under 32 px a side)."""
    if pixel_size is not None and not (np.isfinite(pixel_size) and pixel_size > 0):
        raise InvalidImageError(f"pixel size must be a positive number of Å, got {pixel_size}")
    px = float(pixel_size) if pixel_size else None
    counts = estimate_counts(raw, gain, offset)
    if counts.counts is None:
        return HalfDataFRC(None, px, counts.gain, counts.offset, counts.source, counts.reason)
    n = counts.counts
    if not np.any(n != n.flat[0]):
        return HalfDataFRC(None, px, counts.gain, counts.offset, counts.source, "the image is constant: no signal to correlate")
    plane = np.asarray(raw, dtype=np.float64)
    a, b, noise_frc, sigma = _split(n, seed, nyquist_band)
    if counts.source == "estimated" and 3 * sigma < abs(noise_frc) < 0.9:  # only a significant correlation
        # where only noise can be, the halves correlate (g_true - g) / (g_true + g) for a gain g used in
        # place of the true one g_true: one step puts the gain right, the split is then made again
        g = counts.gain * (1 + noise_frc) / (1 - noise_frc)
        n = np.clip(np.rint((plane - counts.offset) / g), 0, None).astype(np.int64)
        counts = Counts(n, float(g), counts.offset, "estimated")
        a, b, noise_frc, sigma = _split(n, seed, nyquist_band)
    if abs(noise_frc) > max(4 * sigma, NOISE_FRC_MAX):
        return HalfDataFRC(None, px, counts.gain, counts.offset, counts.source,
                           f"the two halves are not independent: where only noise can be (k >= {NOISE_FROM} cyc/px) they "
                           f"correlate {noise_frc:.3f} (> {max(4 * sigma, NOISE_FRC_MAX):.3f}): these counts ({counts.source}, gain "
                           f"{counts.gain:.4g}) do not describe the detector's noise")
    scale = 2.0 * counts.gain
    halves = []
    for h in (a, b):
        image = (counts.offset + scale * h).astype(np.float32)
        out = np.asarray(denoise(image), dtype=np.float32)
        if out.shape != image.shape:
            raise InvalidImageError(f"the denoiser returned shape {out.shape} for a {image.shape} image")
        halves.append(out)
    Fa, _ = windowed_spectrum(halves[0])
    Fb, _ = windowed_spectrum(halves[1])
    curve = _frc(Fa, Fb, n.shape, None, 1.0, nyquist_band)
    k_min = 2 * 3 / min(n.shape)  # as the readout: 3 bins, doubled for the FRC
    denoised_cut = _frc_cutoff(curve, THRESHOLD, k_min=k_min)
    raw_cut = _frc_cutoff(_raw_frc(a, b, nyquist_band), THRESHOLD, k_min=k_min)
    # the checkerboard's halves come from different scan lines, so they share no line noise, which a split
    # of the counts does: where it measures within its range (< 0.25 cycles/pixel) it caps the raw value too
    # (content beyond it aliases in the checkerboard's halves, so only where the split says so too)
    if raw_cut is not None and raw_cut < CHECKER_RANGE:
        checker = _frc_cutoff(frc_curve(plane.astype(np.float32), "checkerboard"), THRESHOLD, k_min=k_min)
        if checker is not None and checker < raw_cut:
            raw_cut = checker
    cuts = [c for c in (denoised_cut, raw_cut) if c is not None]
    cutoff = min(cuts) if denoised_cut is not None and cuts else None
    with np.errstate(invalid="ignore", divide="ignore"):
        full = 2 * curve.values / (1 + curve.values)
    reason = "" if cutoff is not None else "the denoised halves do not correlate at low frequency (no signal above the noise)"
    return HalfDataFRC(cutoff, px, counts.gain, counts.offset, counts.source, reason, denoised_cut, raw_cut, curve,
                       Profile(curve.k, full, curve.counts))
