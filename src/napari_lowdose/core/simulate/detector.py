"""Acquisition: dose, scan artifacts of short dwell times and the detector chain (gain, offset, read
noise, camera point spread), applied to any noise-free image (islands or atoms). Axis order (y, x); x is
the fast-scan direction."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
from scipy import ndimage

from ..errors import LowdoseError

ELECTRON_CHARGE = 1.602176634e-19  # C


@dataclass(frozen=True)
class ScanArtifacts:
    """Strengths of the scan artifacts at the reference dwell time (1 µs); see :meth:`at_dwell`.

    Set a field to 0 to switch that artifact off; :meth:`none` switches all off, :meth:`scaled`
    multiplies all strengths by one factor.
    """

    flyback_px: float = 6.0  #: px, width of the settling region at the start of each line
    flyback_gain: float = 0.8  #: relative extra signal in the first pixel of each line
    stretch: float = 0.04  #: fraction of the line width by which the left edge is stretched
    jitter_px: float = 0.35  #: px, rms random x shift of each line
    streak_px: float = 1.2  #: px, decay length of the detector afterglow along x
    column_gain: float = 0.3  #: relative gain deficit of every other column
    line_offset: float = 0.08  #: rms line-to-line offset, relative to the mean signal
    line_offset_corr: float = 0.9  #: line-to-line correlation of that offset (AR(1) coefficient)
    median_drop: float = 0.15  #: relative drop of the overall signal (lower median at short dwell)

    @staticmethod
    def none() -> "ScanArtifacts":
        return ScanArtifacts(**{k: 0.0 for k in asdict(ScanArtifacts())})

    def scaled(self, factor: float) -> "ScanArtifacts":
        """All strengths times ``factor`` (the line-offset correlation is kept)."""
        return replace(self, **{k: v * factor for k, v in asdict(self).items() if k != "line_offset_corr"})

    def at_dwell(self, dwell_us: float, reference_us: float = 1.0) -> "ScanArtifacts":
        """Artifacts scale as (reference / dwell) ** 0.5: strong at 0.2 µs, weak at 4 µs."""
        f = float(np.clip((reference_us / max(dwell_us, 1e-6)) ** 0.5, 0.0, 3.0))
        scaled = {k: v * f for k, v in asdict(self).items() if k != "line_offset_corr"}
        scaled["flyback_gain"] = min(scaled["flyback_gain"], 2.0)
        scaled["column_gain"] = min(scaled["column_gain"], 0.9)
        scaled["median_drop"] = min(scaled["median_drop"], 0.9)
        return replace(self, **scaled)


@dataclass(frozen=True)
class Acquisition:
    """How the scene is imaged. Dose in e⁻/Å², dwell in µs; detector in analogue-to-digital units."""

    dose: float = 0.681  #: e⁻/Å² (the seed's 1 µs images at 200 kV)
    dwell_us: float = 1.0  #: µs per probe position (sets the artifact strength)
    artifacts: ScanArtifacts = field(default_factory=ScanArtifacts)
    detector_gain: float = 20.0  #: ADU per detected electron
    detector_offset: float = 200.0  #: ADU dark level
    read_noise: float = 3.0  #: ADU rms
    #: px, rms width of a camera's point spread (scintillator and fibre optics; an MTF), applied to the
    #: detected electrons, so it correlates their noise; 0: none (STEM detectors, direct electron counting)
    camera_psf_px: float = 0.0

    def __post_init__(self) -> None:
        if not self.dose > 0:
            raise LowdoseError(f"dose must be positive, got {self.dose} e-/Å²")
        if self.camera_psf_px < 0:
            raise LowdoseError(f"camera_psf_px must be >= 0, got {self.camera_psf_px}")

    @classmethod
    def from_beam(cls, current_pA: float, dwell_us: float, pixel_size: float, **kwargs) -> "Acquisition":
        """STEM dose from the probe current (pA), the dwell time per probe position (µs) and the pixel
        size (Å): electrons per probe position = current x dwell / e, dose = that / pixel area."""
        if current_pA <= 0 or dwell_us <= 0 or pixel_size <= 0:
            raise LowdoseError("beam current, dwell time and pixel size must be positive")
        electrons = current_pA * 1e-12 * dwell_us * 1e-6 / ELECTRON_CHARGE
        return cls(dose=electrons / pixel_size**2, dwell_us=dwell_us, **kwargs)

    def electrons_per_pixel(self, pixel_size: float) -> float:
        """Incident electrons per pixel (per probe position in STEM): dose x pixel area."""
        return self.dose * pixel_size**2


def _apply_scan(rate: np.ndarray, art: ScanArtifacts, rng: np.random.Generator) -> np.ndarray:
    """Geometric scan errors on the expected signal: left-edge stretch and per-line jitter."""
    ny, nx = rate.shape
    x = np.arange(nx, dtype=np.float64)
    if art.stretch > 0:
        # the beam lags at the start of each line: positions are compressed near x = 0
        tau = 0.1 * nx
        x = x - art.stretch * nx * np.exp(-x / tau) * (1 - np.exp(-x / (0.01 * nx + 1)))
    jitter = rng.normal(0.0, art.jitter_px, size=ny) if art.jitter_px > 0 else np.zeros(ny)
    if art.stretch <= 0 and art.jitter_px <= 0:
        return rate
    out = np.empty_like(rate)
    for row in range(ny):
        out[row] = np.interp(np.clip(x + jitter[row], 0, nx - 1), np.arange(nx), rate[row])
    return out


def _apply_detector_artifacts(signal: np.ndarray, art: ScanArtifacts, rng: np.random.Generator) -> np.ndarray:
    """Artifacts of the detector chain, on detected electrons: afterglow, flyback, columns, offsets."""
    ny, nx = signal.shape
    out = signal.astype(np.float64)
    mean = max(float(out.mean()), 1e-6)
    if art.streak_px > 0:
        # causal exponential afterglow along the fast-scan direction (keeps total signal)
        a = np.exp(-1.0 / art.streak_px)
        acc = np.zeros(ny)
        for col in range(nx):
            acc = a * acc + (1 - a) * out[:, col]
            out[:, col] = acc
    if art.flyback_gain > 0 and art.flyback_px > 0:
        ramp = art.flyback_gain * np.exp(-np.arange(nx) / art.flyback_px)
        out += mean * ramp[None, :] * (1.0 + 0.3 * rng.standard_normal((ny, 1)))
    if art.column_gain > 0:
        out[:, 1::2] *= 1.0 - art.column_gain
    if art.line_offset > 0:
        ar = np.empty(ny)
        ar[0] = rng.standard_normal()
        c = art.line_offset_corr
        for row in range(1, ny):
            ar[row] = c * ar[row - 1] + np.sqrt(1 - c**2) * rng.standard_normal()
        out += art.line_offset * mean * ar[:, None]
    if art.median_drop > 0:
        out *= 1.0 - art.median_drop
    return out


def scanned(scene: np.ndarray, acq: Acquisition, seed: int = 0) -> np.ndarray:
    """The noise-free image with the scan geometry of ``acquire(scene, ..., acq, seed)`` (same seed: same
    stretch and line jitter) but no noise and no intensity artifacts, float32: what an ideal detector would
    have recorded along the same, distorted scan. No filter can know the jitter, so this is the fair truth
    for scoring a denoiser on one acquisition."""
    rng = np.random.default_rng(seed)  # the jitter is acquire's first draw
    return _apply_scan(np.asarray(scene, np.float64), acq.artifacts.at_dwell(acq.dwell_us), rng).astype(np.float32)


def camera_blur(image: np.ndarray, acq: Acquisition) -> np.ndarray:
    """``image`` spread by the camera's point spread (Gaussian, ``acq.camera_psf_px`` rms); unchanged at 0."""
    if acq.camera_psf_px <= 0:
        return image
    return ndimage.gaussian_filter(np.asarray(image, np.float64), acq.camera_psf_px, mode="reflect")


def acquire(scene: np.ndarray, pixel_size: float, acq: Acquisition, seed: int = 0) -> np.ndarray:
    """Image ``scene`` (HAADF fraction) at ``acq``: returns detector ADU as uint16 (ny, nx)."""
    rng = np.random.default_rng(seed)
    art = acq.artifacts.at_dwell(acq.dwell_us)
    electrons_per_probe = acq.dose * pixel_size**2
    rate = _apply_scan(np.asarray(scene, np.float64), art, rng) * electrons_per_probe
    counts = rng.poisson(np.clip(rate, 0, None)).astype(np.float64)
    signal = camera_blur(_apply_detector_artifacts(counts, art, rng), acq)
    adu = acq.detector_offset + acq.detector_gain * signal + rng.normal(0.0, acq.read_noise, signal.shape)
    return np.clip(np.rint(adu), 0, np.iinfo(np.uint16).max).astype(np.uint16)


