"""Differential phase contrast from the four segments of a segmented STEM detector (Thermo DF4 and alike).

Segment convention (the same in the help, the widget and ``docs/segmented.md``): four images in the order
A, B, C, D; at rotation 0 segment **A faces +x** (increasing column), **B faces +y** (increasing row
index), **C faces -x** and **D faces -y**. Then ``A - C`` is proportional to the x component and
``B - D`` to the y component of the gradient of the specimen's phase (and of its projected potential).
A detector turned by ``rotation_deg`` has A facing ``(cos t, sin t)`` in scan (x, y) coordinates, i.e.
the rotation turns +x towards +y; ``flip`` is a detector wired mirror-wise (B faces -y at rotation 0).

Calibration (first order in the beam shift, segments of an annulus from ``inner_mrad`` to beyond the
bright-field disk of semi-angle ``convergence_mrad`` = alpha): a disk shifted by ``dk`` (Å⁻¹) gives
``(A - C) / I0 = 2 sqrt(2) dk / (pi k_alpha)`` (k_alpha = alpha / lambda), and the segments together
hold ``I0 (1 - (inner / alpha)^2)`` of the beam ``I0``. The centre of mass of the pattern relates to
the phase ``phi`` by ``2 pi <k> = (P * grad phi)`` (P: the probe intensity), so the integrated DPC
is the phase blurred by the probe, in rad; divided by the interaction parameter it is the projected
potential in V·Å. Large deflections (heavy columns, thick specimens) saturate the quadrants: the
calibrated gradient is then too small, which is where a learned reconstruction helps.

Arrays are (y, x); segments (4, ny, nx) in the order A, B, C, D; lengths in Å, angles in mrad.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import LowdoseError
from ..simulate.optics import electron_wavelength, interaction_parameter

SEGMENT_NAMES = ("A", "B", "C", "D")


@dataclass(frozen=True)
class DetectorGeometry:
    """The optics the DPC calibration needs: accelerating voltage (kV), probe semi-angle (mrad) and the
    segments' inner collection semi-angle (mrad, below the probe's; 0 for a full quadrant detector)."""

    voltage_kv: float = 300.0
    convergence_mrad: float = 25.0
    inner_mrad: float = 0.0

    def __post_init__(self) -> None:
        ok = all(isinstance(v, (int, float)) and math.isfinite(v) for v in (self.voltage_kv, self.convergence_mrad, self.inner_mrad))
        if not ok or self.voltage_kv <= 0 or self.convergence_mrad <= 0 or not 0 <= self.inner_mrad < self.convergence_mrad:
            raise LowdoseError("the detector needs a positive voltage (kV), a positive convergence angle (mrad) and an inner angle (mrad) from 0 to below the convergence angle")

    @property
    def aperture(self) -> float:
        """The probe's aperture radius k_alpha in Å⁻¹."""
        return self.convergence_mrad * 1e-3 / electron_wavelength(self.voltage_kv)

    @property
    def gradient_per_unit(self) -> float:
        """rad/Å of phase gradient per unit of ``(A - C) / (A + B + C + D)`` (first order)."""
        covered = 1.0 - (self.inner_mrad / self.convergence_mrad) ** 2
        return 2 * np.pi * np.pi * self.aperture * covered / (2 * np.sqrt(2))

    @property
    def sigma(self) -> float:
        """Interaction parameter, rad / (V·Å)."""
        return interaction_parameter(self.voltage_kv)


def _number(value, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise LowdoseError(f"the {what} must be a number of degrees, got {value!r}") from None
    if not math.isfinite(v):
        raise LowdoseError(f"the {what} must be a finite number of degrees, got {value!r}")
    return v


def check_segments(segments, names: tuple[str, ...] | None = None) -> np.ndarray:
    """The four segment images as one float64 array (4, ny, nx), or LowdoseError with one sentence.

    ``segments`` is a (4, ny, nx) array or a sequence of four (ny, nx) images in the order A, B, C, D."""
    if isinstance(segments, np.ndarray) and segments.ndim == 3:
        items = list(segments)
    elif isinstance(segments, np.ndarray):
        raise LowdoseError(f"segmented-detector data must be four images (4, y, x), got an array of shape {segments.shape}")
    else:
        items = list(segments)
    names = names or tuple(SEGMENT_NAMES[i] if i < 4 else str(i) for i in range(len(items)))
    if len(items) != 4:
        raise LowdoseError(f"a segmented detector needs four images (A, B, C, D), got {len(items)}")
    arrays = [np.asarray(a) for a in items]
    for n, a in zip(names, arrays):
        if a.ndim != 2:
            raise LowdoseError(f"segment {n} must be one 2-D image (y, x), got shape {a.shape}")
        if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
            raise LowdoseError(f"segment {n} must hold real numbers, got {a.dtype}")
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise LowdoseError("the four segments must have the same shape, got " + ", ".join(f"{n} {a.shape}" for n, a in zip(names, arrays)))
    if min(arrays[0].shape) < 8:
        raise LowdoseError(f"the segment images must be at least 8 x 8 pixels, got {arrays[0].shape}")
    out = np.stack(arrays).astype(np.float64)
    bad = [n for n, a in zip(names, out) if not np.all(np.isfinite(a))]
    if bad:
        raise LowdoseError(f"segment {', '.join(bad)} holds NaN or infinite values; replace them before reconstructing")
    return out


def detector_differences(segments: np.ndarray, normalise: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A - C, B - D, A + B + C + D) in the detector frame; with ``normalise`` the differences are divided
    by the mean total signal (the beam current seen by the segments), so they are dimensionless."""
    s = check_segments(segments)
    total = s.sum(0)
    dx, dy = s[0] - s[2], s[1] - s[3]
    if normalise:
        mean = float(total.mean())
        if not mean > 0:
            raise LowdoseError("the segments' total signal is zero or negative on average; DPC needs the detected beam")
        dx, dy = dx / mean, dy / mean
    return dx, dy, total


def rotate_field(dx: np.ndarray, dy: np.ndarray, rotation_deg: float, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The detector-frame differences (A - C, B - D) as (x, y) components in the scan frame."""
    t = np.deg2rad(_number(rotation_deg, "rotation"))
    if flip:
        dy = -dy
    c, s = np.cos(t), np.sin(t)
    return c * dx - s * dy, s * dx + c * dy


def _derivatives(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(d/dx, d/dy) by central differences, per pixel."""
    return np.gradient(f, axis=1), np.gradient(f, axis=0)


def find_rotation(dx: np.ndarray, dy: np.ndarray, flip: bool = False) -> float:
    """The scan/detector rotation (degrees, in [-180, 180)) at which the DPC field has the least curl.

    ``curl(t) = sin t (d_x dA + d_y dB) + cos t (d_x dB - d_y dA)``, so ``|curl|^2`` is a quadratic form
    in (cos t, sin t) minimised by the eigenvector of its smallest eigenvalue (exact, no search). That
    leaves t and t + 180° (the same curl): the one whose integrated phase has positive skewness (atoms
    are sharp positive peaks of the potential) is returned."""
    if flip:
        dy = -dy
    ax, ay = _derivatives(dx)
    bx, by = _derivatives(dy)
    u = (ax + by)[2:-2, 2:-2]
    v = (bx - ay)[2:-2, 2:-2]
    m = np.array([[np.sum(v * v), np.sum(u * v)], [np.sum(u * v), np.sum(u * u)]])
    if not np.all(np.isfinite(m)) or np.trace(m) <= 0:
        raise LowdoseError("the DPC signal is flat (no contrast), so the detector rotation cannot be found; give it in degrees")
    w, vec = np.linalg.eigh(m)
    c, s = vec[:, 0]
    t = math.degrees(math.atan2(s, c))
    best = None
    for cand in (t, t + 180.0):
        gx, gy = rotate_field(dx, dy, cand, False)
        phase = integrate_gradient(gx, gy)
        z = phase - phase.mean()
        skew = float(np.mean(z**3)) / (float(np.mean(z**2)) ** 1.5 + 1e-300)
        if best is None or skew > best[0]:
            best = (skew, cand)
    return float((best[1] + 180.0) % 360.0 - 180.0)


def integrate_gradient(gx: np.ndarray, gy: np.ndarray, pixel_size: float = 1.0, mirror: bool = True, high_pass: float = 0.0) -> np.ndarray:
    """The function whose gradient best matches (gx, gy) in the least-squares sense, by Fourier
    integration: ``phi^(k) = -i (kx gx^ + ky gy^) / (2 pi (|k|^2 + high_pass^2))``, mean 0.

    ``gx, gy`` are per Å (with ``pixel_size`` in Å; per pixel with the default 1), the result in the
    units of the gradient times Å. ``mirror`` integrates the even extension of the image (gradients
    extended with the matching signs), which removes the wrap-around artefacts of a non-periodic field;
    ``high_pass`` (Å⁻¹) damps the lowest frequencies, where noise integrates into slow undulations."""
    gx = np.asarray(gx, np.float64)
    gy = np.asarray(gy, np.float64)
    ny, nx = gx.shape
    if mirror:
        gx = np.block([[gx, -gx[:, ::-1]], [gx[::-1, :], -gx[::-1, ::-1]]])
        gy = np.block([[gy, gy[:, ::-1]], [-gy[::-1, :], -gy[::-1, ::-1]]])
    ky = np.fft.fftfreq(gx.shape[0], d=pixel_size)[:, None]
    kx = np.fft.fftfreq(gx.shape[1], d=pixel_size)[None, :]
    k2 = kx**2 + ky**2 + high_pass**2
    k2[0, 0] = 1.0
    ft = -1j * (kx * np.fft.fft2(gx) + ky * np.fft.fft2(gy)) / (2 * np.pi * k2)
    ft[0, 0] = 0.0
    phi = np.real(np.fft.ifft2(ft))[:ny, :nx]
    return phi - phi.mean()
