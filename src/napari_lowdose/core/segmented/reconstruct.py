"""From four segment images to the phase (rad) and the projected potential (V·Å): the classical
integrated DPC and the learned reconstruction, as a generator of progress records (:func:`iter_phase`)
and a blocking call (:func:`reconstruct_phase`). Segment order and conventions: :mod:`.dpc`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Generator

import numpy as np

from ..errors import LowdoseError
from ..progress import drive
from .dpc import DetectorGeometry, check_segments, detector_differences, find_rotation, integrate_gradient, rotate_field

METHODS = ("idpc", "learned")


@dataclass(frozen=True)
class PhaseConfig:
    """How to reconstruct. ``rotation_deg``: scan/detector rotation in degrees (A turned from +x towards
    +y), or None to find it by minimum curl; ``flip``: a mirror-wired detector (B faces -y);
    ``pixel_size``: scan step in Å; ``high_pass``: Å⁻¹, damps the lowest frequencies of the integration
    (0: none); ``thickness`` (Å) and ``tilt_mrad`` (tx, ty) feed the learned method's metadata channels
    (None: unknown, default-filled); ``model``: a segmented model file (None: the bundled one)."""

    method: str = "idpc"
    rotation_deg: float | None = None
    flip: bool = False
    pixel_size: float = 0.25
    geometry: DetectorGeometry = field(default_factory=DetectorGeometry)
    high_pass: float = 0.0
    thickness: float | None = None
    tilt_mrad: tuple[float, float] | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise LowdoseError(f"unknown reconstruction method {self.method!r}: give one of {', '.join(METHODS)}")
        if self.rotation_deg is not None:
            try:
                r = float(self.rotation_deg)
            except (TypeError, ValueError):
                raise LowdoseError(f"the rotation must be a number of degrees or 'auto', got {self.rotation_deg!r}") from None
            if not math.isfinite(r):
                raise LowdoseError(f"the rotation must be a finite number of degrees or 'auto', got {self.rotation_deg!r}")
        if not (isinstance(self.pixel_size, (int, float)) and math.isfinite(self.pixel_size) and self.pixel_size > 0):
            raise LowdoseError(f"the pixel size must be a positive number of Å, got {self.pixel_size!r}")
        if not (math.isfinite(self.high_pass) and self.high_pass >= 0):
            raise LowdoseError(f"the high-pass must be a number of Å⁻¹ >= 0, got {self.high_pass!r}")
        if self.thickness is not None and not (math.isfinite(self.thickness) and self.thickness > 0):
            raise LowdoseError(f"the thickness must be a positive number of Å, got {self.thickness!r}")
        if self.tilt_mrad is not None and (len(self.tilt_mrad) != 2 or not all(math.isfinite(float(t)) for t in self.tilt_mrad)):
            raise LowdoseError(f"the tilt must be two numbers of mrad (x, y), got {self.tilt_mrad!r}")


def parse_rotation(text) -> float | None:
    """'auto' (or None) -> None; a number of degrees -> float; anything else -> LowdoseError."""
    if text is None or (isinstance(text, str) and text.strip().lower() == "auto"):
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise LowdoseError(f"the rotation must be a number of degrees or 'auto', got {text!r}") from None
    if not math.isfinite(value):
        raise LowdoseError(f"the rotation must be a finite number of degrees or 'auto', got {text!r}")
    return value


@dataclass
class PhaseResult:
    """``phase`` (rad) and ``potential`` (V·Å), both (y, x) float32 with mean 0 (DPC loses the mean);
    ``gradient`` (2, y, x): the scan-frame phase gradient (x, y) in rad/Å; the rotation used (degrees)
    and whether it was found automatically; the method."""

    phase: np.ndarray
    potential: np.ndarray
    gradient: np.ndarray
    rotation_deg: float
    rotation_found: bool
    method: str


def phase_gradient(segments, config: PhaseConfig) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """(gx, gy) in rad/Å in the scan frame, the rotation used (degrees) and whether it was found."""
    dx, dy, _ = detector_differences(segments)
    found = config.rotation_deg is None
    rotation = find_rotation(dx, dy, config.flip) if found else float(config.rotation_deg)
    gx, gy = rotate_field(dx, dy, rotation, config.flip)
    k = config.geometry.gradient_per_unit
    return gx * k, gy * k, rotation, found


def iter_phase(segments, config: PhaseConfig = PhaseConfig()) -> Generator[dict, None, PhaseResult]:
    """Reconstruct; yields ``{"stage": str, "fraction": float}`` records, returns a :class:`PhaseResult`."""
    segs = check_segments(segments)
    yield {"stage": "DPC field" + (" and rotation (minimum curl)" if config.rotation_deg is None else ""), "fraction": 0.1}
    gx, gy, rotation, found = phase_gradient(segs, config)
    yield {"stage": "integrating (iDPC)", "fraction": 0.4}
    phase = integrate_gradient(gx, gy, config.pixel_size, high_pass=config.high_pass)
    sigma = config.geometry.sigma
    if config.method == "learned":
        from .learned import predict_potential

        yield {"stage": "learned reconstruction", "fraction": 0.6}
        potential = predict_potential(segs, gx, gy, phase / sigma, config)
        potential = potential - potential.mean()
        phase = potential * sigma
    else:
        potential = phase / sigma
    yield {"stage": "done", "fraction": 1.0}
    return PhaseResult(phase.astype(np.float32), potential.astype(np.float32), np.stack([gx, gy]).astype(np.float32), rotation, found, config.method)


def reconstruct_phase(segments, config: PhaseConfig = PhaseConfig()) -> PhaseResult:
    """Blocking form of :func:`iter_phase`."""
    return drive(iter_phase(segments, config))
