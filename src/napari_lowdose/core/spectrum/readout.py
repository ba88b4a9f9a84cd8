"""The resolution / anisotropy readout of one 2-D image (:func:`resolution`).

The radially averaged power spectrum, without the single lines where scan artifacts put their power
(ky = 0: what repeats in every line; kx = 0: line offsets; kx near 1/2: the copy of the image that
every-other-column gain makes); the noise level is estimated from its high-frequency part
(k >= ``noise_from``, corners included, median / ln 2, which ignores isolated artifact peaks); the
cutoff is the highest frequency at which the profile exceeds ``factor`` (3) x that noise level. The
same in wedges of half-width ``sector_deg`` around the kx and ky axes gives cutoff_x, cutoff_y and the
anisotropy cutoff_x / cutoff_y (< 1: x is blurrier, as with streaking along the fast scan). The
one-image FRC (:mod:`.frc`) is the second, independent estimate.

Bins with too few independent samples for pure noise to stay under the threshold are not used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..errors import InvalidImageError
from .frc import SplitKind, _frc_cutoff, frc_curve, frc_failure
from .grid import _SAMPLES_PER_INDEPENDENT, Profile, _bins, _smooth, as_plane, windowed_spectrum
from .noise import _noise_from_samples, _noise_level, column_floor, looks_like_counts

NO_CUTOFF = "no cutoff above noise"
NOT_MEASURABLE = "not measurable on a processed image"
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
    from their raw input). Where the noise floor depends on kx (:func:`.noise.column_floor`: scan-line streaks
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
