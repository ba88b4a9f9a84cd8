"""Simulated 4D-STEM datasets with a known truth: a convergent probe scanned over a crystal, one
diffraction pattern per probe position by multislice (the project's Lobato potentials and ASE crystals,
:mod:`napari_lowdose.core.simulate`), then Poisson counts at a dose.

The specimen is a periodic box of ``cells`` x ``cells`` conventional cells of a crystal with an
orthogonal cell seen along [001] (cubic crystals: SrTiO3, Al, Au, Si, MgO, ...), ``thickness`` Å thick,
with a fraction of its atoms removed at random (vacancies: the scan is not perfectly periodic, as a real
crystal is not). The scan covers ``scan_cells`` x ``scan_cells`` cells. No thermal diffuse scattering
(one frozen configuration), no detector blur: the truth is the expected number of electrons per detector
pixel, and the counts are Poisson draws from it.

Axis order of every array: (scan y, scan x, ky, kx). Lengths Å, angles mrad, voltage kV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

from ..errors import LowdoseError
from ..simulate import structures as st
from ..simulate.atomic import Multislice
from ..simulate.optics import STEMProbe, electron_wavelength, interaction_parameter
from ..simulate.potential import projected_potential_ft


@dataclass(frozen=True)
class Sim4DConfig:
    """A simulated 4D-STEM acquisition.

    ``scan``: (ny, nx) probe positions; ``detector``: side of the square detector in px; ``cells``: the
    periodic specimen box in conventional cells per side; ``scan_cells``: the scanned field in cells per
    side (≤ ``cells``); ``thickness`` Å; ``voltage_kv`` kV; ``convergence_mrad`` mrad (probe semi-angle);
    ``defocus`` Å; ``vacancy_fraction``: atoms removed at random (0-0.5); ``slice_thickness`` Å."""

    structure: str = "SrTiO3"
    scan: tuple[int, int] = (32, 32)
    detector: int = 64
    cells: int = 4
    scan_cells: float = 2.0
    thickness: float = 40.0
    voltage_kv: float = 200.0
    convergence_mrad: float = 15.0
    defocus: float = 0.0
    vacancy_fraction: float = 0.05
    slice_thickness: float = 2.0

    def __post_init__(self) -> None:
        if len(self.scan) != 2 or min(self.scan) < 1:
            raise LowdoseError(f"the scan needs (ny, nx) >= 1 positions, got {self.scan}")
        if not 8 <= self.detector <= 512:
            raise LowdoseError(f"the simulated detector side must be 8..512 px, got {self.detector}")
        if self.cells < 1 or not 0 < self.scan_cells <= self.cells:
            raise LowdoseError(f"cells must be >= 1 and 0 < scan_cells <= cells, got {self.cells} and {self.scan_cells}")
        if not (self.thickness > 0 and self.voltage_kv > 0 and self.convergence_mrad > 0 and self.slice_thickness > 0):
            raise LowdoseError("thickness, voltage, convergence and slice thickness must be positive")
        if not 0 <= self.vacancy_fraction <= 0.5:
            raise LowdoseError(f"vacancy_fraction must be in [0, 0.5], got {self.vacancy_fraction}")


@dataclass
class Sim4D:
    """A simulated dataset: ``truth`` (float32, electrons per detector pixel at ``dose``), the scan step
    ``scan_step`` Å, the detector step ``detector_step`` mrad per px, the grid it was computed on."""

    truth: np.ndarray
    config: Sim4DConfig
    dose: float  #: electrons per probe position (the whole pattern before cropping to the detector)
    scan_step: float
    detector_step: float

    def counts(self, seed: int = 0) -> np.ndarray:
        """Poisson counts (float32 holding integers) drawn from the truth."""
        return np.random.default_rng(seed).poisson(self.truth).astype(np.float32)


def _grid(cfg: Sim4DConfig, period: tuple[float, float]) -> tuple[tuple[float, float], tuple[int, int]]:
    field = (cfg.cells * period[0], cfg.cells * period[1])
    # the detector is the central `detector` px of the pattern; 2/3 band limit -> grid >= 1.5 x detector
    n = int(math.ceil(1.5 * cfg.detector / 16) * 16)
    return field, (n, n)


def simulate_4dstem(cfg: Sim4DConfig = Sim4DConfig(), dose: float = 1000.0, seed: int = 0, batch: int = 32) -> Sim4D:
    """Multislice patterns of ``cfg`` at ``dose`` electrons per probe position (deterministic in ``seed``,
    which draws the vacancies)."""
    if not (math.isfinite(dose) and dose > 0):
        raise LowdoseError(f"the dose must be a positive number of electrons per pattern, got {dose}")
    cr = st.resolve(cfg.structure)
    cell = np.asarray(cr.cell, float)
    if np.abs(cell[:2, :2] - np.diag(np.diag(cell[:2, :2]))).max() > 1e-6 or np.abs(cell[:2, 2]).max() > 1e-6:
        raise LowdoseError(f"the 4D-STEM simulator needs a crystal with an orthogonal a, b cell seen along [001]; {cr.name} is not")
    period = (float(cell[1, 1]), float(cell[0, 0]))  # (y, x)
    field, grid = _grid(cfg, period)
    rng = np.random.default_rng(seed)
    sym, pos = st.fill_box(cr, np.eye(3), (field[0], field[1], cfg.thickness))
    keep = rng.random(len(sym)) >= cfg.vacancy_fraction
    sym, pos = sym[keep], pos[keep]

    n = grid[0]
    sampling = (field[0] / n, field[1] / n)
    ms = Multislice(slice_thickness=cfg.slice_thickness)
    lam = electron_wavelength(cfg.voltage_kv)
    sigma = interaction_parameter(cfg.voltage_kv)
    ky = np.fft.fftfreq(n, d=sampling[0])[:, None]
    kx = np.fft.fftfreq(n, d=sampling[1])[None, :]
    k2 = ky**2 + kx**2
    band = k2 < (2.0 / 3.0 * 0.5 / max(sampling)) ** 2
    nslices = max(1, math.ceil(cfg.thickness / cfg.slice_thickness))
    dz = cfg.thickness / nslices
    index = np.minimum((pos[:, 2] / dz).astype(int), nslices - 1)
    yx = pos[:, [1, 0]]
    if abs(sampling[0] - sampling[1]) > 1e-9:
        raise LowdoseError("the 4D-STEM simulator needs square cells")
    trans = []
    for i in range(nslices):
        sel = index == i
        v = np.fft.irfft2(projected_potential_ft(sym[sel], yx[sel], grid, sampling[0], ms.thermal_sigma), s=grid) if sel.any() else np.zeros(grid)
        trans.append(np.exp((1j - ms.absorption) * sigma * v).astype(np.complex64))
    propagator = (np.exp(-1j * np.pi * lam * dz * k2) * band).astype(np.complex64)

    probe = STEMProbe(voltage_kv=cfg.voltage_kv, convergence_mrad=cfg.convergence_mrad, defocus=cfg.defocus, source_size=0.0)
    pupil = ((k2 <= probe.aperture**2) * np.exp(-1j * probe.chi(ky, kx))).astype(np.complex64)
    ny, nx = cfg.scan
    step = (cfg.scan_cells * period[0] / ny, cfg.scan_cells * period[1] / nx)
    py, px = np.meshgrid(np.arange(ny) * step[0], np.arange(nx) * step[1], indexing="ij")
    positions = np.stack([py.ravel(), px.ravel()], 1) + np.array(period) * 0.5 * (cfg.cells - cfg.scan_cells)
    d, c = cfg.detector, n // 2
    out = np.empty((ny * nx, d, d), np.float32)
    for b0 in range(0, len(positions), batch):
        p = positions[b0 : b0 + batch]
        shift = np.exp(-2j * np.pi * (ky[None] * p[:, 0, None, None] + kx[None] * p[:, 1, None, None])).astype(np.complex64)
        wave = sfft.ifft2(pupil[None] * shift, axes=(1, 2))
        wave /= np.sqrt((np.abs(wave) ** 2).sum(axis=(1, 2), keepdims=True))
        for i in range(nslices):
            wave = sfft.fft2(wave * trans[i], axes=(1, 2)) * (band if i == nslices - 1 else propagator)
            if i < nslices - 1:
                wave = sfft.ifft2(wave, axes=(1, 2))
        pattern = np.fft.fftshift(np.abs(wave) ** 2, axes=(1, 2)) / (n * n)
        out[b0 : b0 + len(p)] = pattern[:, c - d // 2 : c - d // 2 + d, c - d // 2 : c - d // 2 + d]
    truth = (out * dose).reshape(ny, nx, d, d)
    dk_mrad = 1e3 * lam / field[0]
    return Sim4D(truth.astype(np.float32), cfg, float(dose), float(step[1]), float(dk_mrad))
