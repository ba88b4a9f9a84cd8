"""Simulated segmented-detector (DF4/DPC) images of a crystal with a known projected potential.

The specimen is one phase object (projection approximation, a single slice): a crystal from
:mod:`..simulate.structures` in a zone axis, turned in-plane, tilted by (tx, ty) mrad and cut to a
thickness, whose projected potential ``V`` (V·Å; Lobato & Van Dyck atoms, thermal blur) gives the
transmission function ``exp(i sigma V)`` (sigma: interaction parameter), band-limited to 2/3 of the
grid's Nyquist frequency. The probe (:class:`~..simulate.optics.STEMProbe`, without its source size)
is scanned over it; at every probe position the far-field pattern ``|FT(probe x transmission)|^2`` is
integrated over four 90° segments of an annulus (``inner_mrad`` .. ``outer_mrad``) facing +x, +y, -x,
-y at rotation 0 (:mod:`.dpc`'s convention), turned by the detector rotation and optionally flipped.
The finite source is an incoherent Gaussian blur of every image (segments and truth alike).

The truth is the projected potential seen through the probe, ``P * V`` (P: the probe intensity), the
quantity an ideal centre-of-mass detector integrates to (``2 pi <k> = P * grad(sigma V)``) and so the
best a DPC reconstruction can give at this probe. Not modelled: propagation inside thick specimens
(channelling), absorption, inelastic scattering, scan noise. Lengths in Å, angles in mrad, images
(y, x), segments (4, y, x) as fractions of the beam.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

from ..errors import LowdoseError
from ..simulate import structures as st
from ..simulate.optics import STEMProbe, electron_wavelength, interaction_parameter
from ..simulate.potential import projected_potential_ft

WINDOW = 64  #: probe window side on the simulation grid (pixels)


@dataclass(frozen=True)
class SegmentedDetector:
    """Four quadrant segments of an annulus, inner/outer collection semi-angles in mrad; ``rotation_deg``
    turns segment A from +x towards +y; ``flip`` swaps B and D (a mirror-wired detector)."""

    inner_mrad: float = 6.0
    outer_mrad: float = 40.0
    rotation_deg: float = 0.0
    flip: bool = False

    def __post_init__(self) -> None:
        if not (0 <= self.inner_mrad < self.outer_mrad and math.isfinite(self.outer_mrad) and math.isfinite(self.rotation_deg)):
            raise LowdoseError("segmented detector: 0 <= inner < outer angle (mrad) and a finite rotation (degrees)")


@dataclass(frozen=True)
class SegmentedScene:
    """One simulated DF4 acquisition. ``tilt_mrad`` = (tx, ty): the crystal's zone axis tilted towards +x
    and +y of the scan; ``thickness`` in Å; scan ``shape`` (ny, nx) at ``pixel_size`` Å."""

    structure: str = "SrTiO3"
    zone: tuple[float, float, float] = (0, 0, 1)
    thickness: float = 50.0
    tilt_mrad: tuple[float, float] = (0.0, 0.0)
    in_plane_deg: float = 0.0
    shape: tuple[int, int] = (96, 96)
    pixel_size: float = 0.25
    probe: STEMProbe = field(default_factory=lambda: STEMProbe(voltage_kv=300.0, convergence_mrad=25.0, source_size=0.3))
    detector: SegmentedDetector = field(default_factory=SegmentedDetector)
    thermal_sigma: float = 0.08

    def __post_init__(self) -> None:
        nums = (self.thickness, self.pixel_size, self.in_plane_deg, *self.tilt_mrad)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in nums):
            raise LowdoseError("segmented scene: thickness, pixel size, angle and tilt must be finite numbers")
        if self.thickness <= 0 or self.pixel_size <= 0 or len(self.shape) != 2 or min(self.shape) < 8:
            raise LowdoseError("segmented scene: thickness and pixel size must be positive and the scan at least 8 x 8")
        if self.detector.inner_mrad >= self.probe.convergence_mrad or self.detector.outer_mrad <= self.probe.convergence_mrad:
            raise LowdoseError("segmented scene: the segments must reach from inside the bright-field disk to outside it (inner < convergence < outer)")


@dataclass
class SegmentedSample:
    """Segments (4, ny, nx) as fractions of the beam, the truth ``potential`` (V·Å, probe-blurred, (ny, nx)),
    the ideal centre of mass (2, ny, nx) as (x, y) phase gradients in rad/Å, and the scene."""

    segments: np.ndarray
    potential: np.ndarray
    com: np.ndarray
    scene: SegmentedScene

    def noisy(self, dose: float, seed: int = 0) -> np.ndarray:
        """Poisson counts (float32, 4 x ny x nx) at ``dose`` e-/Å² (the whole beam; segments see their share)."""
        if not (math.isfinite(dose) and dose > 0):
            raise LowdoseError(f"the dose must be a positive number of e-/Å², got {dose}")
        lam = self.segments * dose * self.scene.pixel_size**2
        return np.random.default_rng(seed).poisson(np.maximum(lam, 0)).astype(np.float32)


def _specimen(scene: SegmentedScene, field_: tuple[float, float], seed: int) -> tuple[np.ndarray, np.ndarray]:
    cr = st.resolve(scene.structure)
    tx, ty = scene.tilt_mrad
    tilt = math.hypot(tx, ty)
    azimuth = math.degrees(math.atan2(tx, -ty)) if tilt else 0.0
    rot = st.orient(cr, tuple(scene.zone), scene.in_plane_deg, tilt, azimuth)
    origin = np.random.default_rng([seed, 19]).uniform(0, 4.0, 3) * np.array([1.0, 1.0, 0.0])
    return st.fill_box(cr, rot, (field_[0], field_[1], scene.thickness), origin=origin)


def _masks(detector: SegmentedDetector, k_y: np.ndarray, k_x: np.ndarray, lam: float) -> np.ndarray:
    """(M*M, 4) weights of segments A, B, C, D on the window's FFT grid."""
    theta = np.arctan2(k_y, k_x)
    k = np.hypot(k_y, k_x) * lam * 1e3  # mrad
    ring = (k >= detector.inner_mrad) & (k < detector.outer_mrad)
    t0 = np.deg2rad(detector.rotation_deg)
    out = []
    for n in range(4):
        quarter = (-1 if (detector.flip and n in (1, 3)) else 1) * n * np.pi / 2
        d = np.angle(np.exp(1j * (theta - t0 - quarter)))
        ad = np.abs(d)
        w = np.where(ad < np.pi / 4 - 1e-9, 1.0, np.where(ad < np.pi / 4 + 1e-9, 0.5, 0.0))  # diagonals: half to each
        out.append((ring * w).ravel())
    return np.stack(out, axis=1)


def simulate_segments(scene: SegmentedScene = SegmentedScene(), seed: int = 0) -> SegmentedSample:
    """Noise-free segment images and the truth for ``scene`` (deterministic from ``seed``: the lattice's origin)."""
    probe, det = scene.probe, scene.detector
    lam = electron_wavelength(probe.voltage_kv)
    k_need = (det.outer_mrad + probe.convergence_mrad) * 1e-3 / lam  # highest transmission frequency that reaches the detector
    n = max(1, math.ceil(scene.pixel_size * 3.0 * k_need - 1e-9))  # band limit 1/(3 s) >= k_need
    s = scene.pixel_size / n
    ny, nx = scene.shape
    grid = (ny * n + WINDOW, nx * n + WINDOW)
    if grid[0] * grid[1] > 2048**2:
        raise LowdoseError(f"segmented scene: {ny} x {nx} pixels of {scene.pixel_size} Å need a grid of {grid[0]} x {grid[1]}; make the scan smaller")
    symbols, pos = _specimen(scene, (grid[0] * s, grid[1] * s), seed)
    v_ft = projected_potential_ft(symbols, pos[:, [1, 0]], grid, s, scene.thermal_sigma)
    potential = np.fft.irfft2(v_ft, s=grid)
    sigma = interaction_parameter(probe.voltage_kv)
    ky = np.fft.fftfreq(grid[0], d=s)[:, None]
    kx = np.fft.fftfreq(grid[1], d=s)[None, :]
    band = (ky**2 + kx**2) < (1.0 / (3.0 * s)) ** 2
    trans = np.fft.ifft2(np.fft.fft2(np.exp(1j * sigma * potential)) * band)

    wk = np.fft.fftfreq(WINDOW, d=s)
    wky, wkx = wk[:, None], wk[None, :]
    pupil = ((wky**2 + wkx**2) <= probe.aperture**2) * np.exp(-1j * probe.chi(wky, wkx))
    psi0 = np.fft.fftshift(np.fft.ifft2(pupil))
    psi0 /= np.sqrt(np.sum(np.abs(psi0) ** 2))
    masks = _masks(det, np.broadcast_to(wky, (WINDOW, WINDOW)), np.broadcast_to(wkx, (WINDOW, WINDOW)), lam)
    kvec = np.stack([np.broadcast_to(wkx, (WINDOW, WINDOW)).ravel(), np.broadcast_to(wky, (WINDOW, WINDOW)).ravel()], 1)

    patches = sliding_window_view(trans, (WINDOW, WINDOW))[: ny * n : n, : nx * n : n]
    segs = np.empty((ny, nx, 4))
    com = np.empty((ny, nx, 2))
    rows = max(1, 2048 // nx)
    for r0 in range(0, ny, rows):
        wave = patches[r0 : r0 + rows] * psi0
        inten = np.abs(np.fft.fft2(wave)) ** 2 / WINDOW**2
        flat = inten.reshape(inten.shape[0], nx, -1)
        segs[r0 : r0 + rows] = flat @ masks
        com[r0 : r0 + rows] = 2 * np.pi * (flat @ kvec) / flat.sum(-1, keepdims=True)

    # truth: P * V at the probe positions (the window's centre pixel sits at offset WINDOW // 2)
    p_int = np.zeros(grid)
    p_int[:WINDOW, :WINDOW] = np.abs(psi0) ** 2
    p_int = np.roll(p_int, (-(WINDOW // 2), -(WINDOW // 2)), (0, 1))
    blurred = np.fft.irfft2(np.fft.rfft2(potential) * np.conj(np.fft.rfft2(p_int)), s=grid)
    c = WINDOW // 2
    truth = blurred[c : c + ny * n : n, c : c + nx * n : n]
    segments = np.moveaxis(segs, -1, 0)
    com = np.moveaxis(com, -1, 0)
    if probe.source_size > 0:
        sd = probe.source_size / scene.pixel_size
        segments = np.stack([ndimage.gaussian_filter(a, sd, mode="reflect") for a in segments])
        com = np.stack([ndimage.gaussian_filter(a, sd, mode="reflect") for a in com])
        truth = ndimage.gaussian_filter(truth, sd, mode="reflect")
    return SegmentedSample(segments.astype(np.float32), truth.astype(np.float32), com.astype(np.float32), scene)
