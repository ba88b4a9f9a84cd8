"""Images of atoms: incoherent HAADF/ADF-STEM and multislice HRTEM, from a :class:`Specimen`.

* **HAADF** (incoherent imaging): the fraction of probe electrons that reach the annular detector is
  ``sum_j s(Z_j) P(r - r_j)``: every atom scatters a cross-section ``s(Z) = s_Au (Z / 79)^gamma`` (Å²;
  gamma 1.6-2, the Z-contrast exponent), thermally blurred (rms ``thermal_sigma`` per axis), times the
  probe intensity ``P`` (:class:`~.optics.STEMProbe`: aberrations, finite source). The probe steps
  over the pixel grid and each pixel is the value at its probe position (as a scan records it).
  Channelling along dense columns of thick crystals is not modelled (it makes columns of > 10 nm
  brighter than linear in thickness; docs/simulator.md says by how much against multislice).
* **HRTEM**: the projected potential of each slice (Lobato & Van Dyck atoms, :mod:`.potential`) gives a
  transmission function ``exp((i - absorption) sigma v)``; the wave is propagated slice to slice
  (Fresnel propagator, band limit at 2/3 of Nyquist) and imaged through the CTF with partial
  coherence (:class:`~.optics.HRTEMOptics`); a camera pixel integrates the intensity over its area.

Both work on an internal grid at least as fine as the physics needs (the probe's transfer reaches twice
the condenser aperture; the multislice needs 1.5 x the objective aperture below its band limit) and
come back to the requested pixel size; the multislice runs in single precision (complex64). Lengths in
Å, images (y, x), float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import scipy.fft as sfft
from scipy import ndimage

from ..errors import LowdoseError
from .optics import HRTEMOptics, STEMProbe, electron_wavelength, interaction_parameter
from .potential import deposit, deposit_transfer, frequencies, projected_potential_ft

MAX_GRID = 2048  #: largest internal grid side (pixels); coarser pixel sizes are simulated more coarsely


@dataclass(frozen=True)
class Specimen:
    """Atoms in the specimen frame: ``symbols`` (n,), ``positions`` (n, 3) as (x, y, z) in Å, beam along
    +z; the imaged field is ``field`` = (Ly, Lx) Å from the origin (atoms outside wrap round)."""

    symbols: np.ndarray
    positions: np.ndarray
    field: tuple[float, float]

    def __post_init__(self) -> None:
        if self.positions.ndim != 2 or self.positions.shape[1] != 3 or len(self.symbols) != len(self.positions):
            raise LowdoseError("a specimen needs one symbol per atom and (n, 3) positions in Å")

    @property
    def thickness(self) -> float:
        return float(np.ptp(self.positions[:, 2])) if len(self.positions) else 0.0

    def numbers(self) -> np.ndarray:
        from ase.data import atomic_numbers

        symbols = np.ascontiguousarray(self.symbols)
        if symbols.dtype.kind == "U" and 0 < symbols.dtype.itemsize <= 12 and len(symbols):
            # symbols of up to 3 characters as one integer each: sorting integers is ~10x faster than strings
            chars = symbols.view(np.uint32).reshape(len(symbols), -1).astype(np.int64)
            key = chars[:, 0]
            for c in range(1, chars.shape[1]):
                key = key * 0x110000 + chars[:, c]
            _, first, index = np.unique(key, return_index=True, return_inverse=True)
            names = symbols[first]
        else:
            names, index = np.unique(symbols, return_inverse=True)
        table = np.array([atomic_numbers[str(s)] for s in names], dtype=np.int64)
        return table[index.reshape(-1)]


def _check_grid(pixel_size: float, shape: tuple[int, int]) -> None:
    if not (isinstance(pixel_size, (int, float)) and math.isfinite(pixel_size) and pixel_size > 0):
        raise LowdoseError(f"the pixel size must be a positive number of Å, got {pixel_size}")
    if len(shape) != 2 or min(shape) < 8:
        raise LowdoseError(f"the image must be at least 8 x 8 pixels, got {tuple(shape)}")


def _oversampling(pixel_size: float, shape: tuple[int, int], finest: float) -> int:
    n = max(1, math.ceil(pixel_size / finest - 1e-9))
    return max(1, min(n, MAX_GRID // max(shape)))


def oversampling(modality: str, pixel_size: float, shape: tuple[int, int], probe: STEMProbe | None, optics: HRTEMOptics | None) -> int:
    """Internal grid points per image pixel (per axis) with which :func:`render_haadf` (``probe``) or
    :func:`render_hrtem` (``optics``) images ``shape`` pixels of ``pixel_size`` Å."""
    finest = 0.45 / (2 * probe.aperture) if modality == "haadf" else min(1.0 / (3.0 * optics.aperture), 0.5)
    return _oversampling(pixel_size, shape, finest)


@dataclass(frozen=True)
class HAADFDetector:
    """Incoherent annular dark-field imaging: the cross-section of gold (Å², into the detector) and the
    Z-contrast exponent; a thermal rms displacement (Å per axis)."""

    gold_cross_section: float = 0.01  #: Å², fraction of the probe a gold atom sends to the detector x probe area
    gamma: float = 1.7  #: Z-contrast exponent (1.6-2 for HAADF; lower for ADF/LAADF)
    thermal_sigma: float = 0.08  #: Å rms per axis

    def __post_init__(self) -> None:
        if not (self.gold_cross_section > 0 and 0.5 <= self.gamma <= 2.5 and self.thermal_sigma >= 0):
            raise LowdoseError("HAADF detector: cross-section > 0, gamma in [0.5, 2.5], thermal sigma >= 0")


def render_haadf(specimen: Specimen, pixel_size: float, shape: tuple[int, int], probe: STEMProbe = STEMProbe(), detector: HAADFDetector = HAADFDetector()) -> np.ndarray:
    """The HAADF fraction of probe electrons at each probe position, float32 (ny, nx), pixel (i, j) at
    (y, x) = (i, j) x ``pixel_size``."""
    _check_grid(pixel_size, shape)
    n = oversampling("haadf", pixel_size, shape, probe, None)
    s = pixel_size / n
    grid = (shape[0] * n, shape[1] * n)
    weights = detector.gold_cross_section * (specimen.numbers() / 79.0) ** detector.gamma
    bins = deposit(specimen.positions[:, [1, 0]], weights, grid, s)
    ky, kx = frequencies(grid, s)
    transfer = probe.transfer(ky, kx)  # 0 beyond twice the aperture
    thermal = -2 * np.pi**2 * detector.thermal_sigma**2
    cic_y, cic_x, kmax = np.sinc(ky * s) ** 2, np.sinc(kx * s) ** 2, 2 * probe.aperture
    if cic_y[np.abs(ky) < kmax].min(initial=1.0) * cic_x[np.abs(kx) < kmax].min(initial=1.0) >= 0.2:
        # where the probe transfers, deposit_transfer's floor is not reached: the thermal blur and the
        # deposition's low-pass divided out are rows times columns
        transfer *= np.exp(thermal * ky**2) / cic_y
        transfer *= np.exp(thermal * kx**2) / cic_x
    else:
        transfer *= np.exp(thermal * (ky**2 + kx**2)) / deposit_transfer(ky, kx, s)
    spectrum = sfft.rfft2(bins.astype(np.float32))  # single precision: the image is a fraction in [0, 1]
    spectrum *= transfer
    image = irfft2_every(spectrum, grid, n) / s**2
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def irfft2_every(spectrum: np.ndarray, grid: tuple[int, int], n: int) -> np.ndarray:
    """``scipy.fft.irfft2(spectrum, s=grid)[::n, ::n]`` without the full inverse transform: keeping
    every n-th sample folds the spectrum (sums its n x n aliases), so the inverse is taken on the small
    grid (n times fewer points per axis). ``grid`` must be a multiple of ``n`` on both axes."""
    if n == 1:
        return sfft.irfft2(spectrum, s=grid)
    (ny_big, nx_big), kx = grid, spectrum.shape[1]
    ny, nx = ny_big // n, nx_big // n
    # y: a complex inverse (as irfft2 does first), of the folded columns
    z = sfft.ifft(spectrum.reshape(n, ny, kx).sum(axis=0), axis=0) / n
    # x: the real inverse of the last axis treats the half spectrum as Hermitian; extend it so, fold, invert
    full = np.empty((ny, nx_big), z.dtype)
    full[:, :kx] = z
    full[:, kx:] = np.conj(z[:, 1 : nx_big - kx + 1][:, ::-1])
    return sfft.ifft(full.reshape(ny, n, nx).sum(axis=1), axis=1).real / n


@dataclass(frozen=True)
class Multislice:
    """Multislice settings: slice thickness (Å), absorption as a fraction of the phase, thermal rms (Å).

    Strong columns (heavy, dense, thick: the summed atomic number of the strongest column, see
    :func:`strongest_column`, at least ``strong_column``) channel: there a static Debye-Waller-damped
    potential on a coarse grid parts from the frozen-phonon average (Au [001] at 5 nm: Pearson r 0.52
    against abTEM). :func:`render_hrtem` then averages ``frozen_phonons`` configurations (atoms displaced
    by ``thermal_sigma`` rms along x, y and z, from ``seed``; no damping) on an internal grid at least as
    fine as ``strong_sampling`` Å (the side at most ``strong_grid`` points). ``strong_column = inf``:
    never."""

    slice_thickness: float = 10.0
    absorption: float = 0.05
    thermal_sigma: float = 0.08
    strong_column: float = 650.0  #: summed atomic number of a column from which frozen phonons are used
    frozen_phonons: int = 2  #: configurations averaged for strong columns
    strong_sampling: float = 0.2  #: Å, internal sampling for strong columns (at most)
    strong_grid: int = 1024  #: largest internal grid side for strong columns (pixels)
    seed: int = 0  #: of the frozen-phonon displacements

    def __post_init__(self) -> None:
        if not (self.slice_thickness > 0 and 0 <= self.absorption < 1 and self.thermal_sigma >= 0):
            raise LowdoseError("multislice: slice thickness > 0, absorption in [0, 1), thermal sigma >= 0")
        if not (self.strong_column > 0 and self.frozen_phonons >= 1 and self.strong_sampling > 0 and self.strong_grid >= 8):
            raise LowdoseError("multislice: strong column > 0, frozen phonons >= 1, strong sampling > 0 Å, strong grid >= 8")


COLUMN_BIN = 0.4  #: Å, the lateral bins of :func:`strongest_column`


def strongest_column(specimen: Specimen) -> float:
    """The summed atomic number of the specimen's strongest atomic column: the largest 2 x 2 sum over a
    cloud-in-cell grid of 0.4 Å bins (periodic; atoms within about 0.4-0.8 Å of each other laterally
    count as one column). Au [001]: 79 per 4.08 Å of thickness (5 nm: 948); SrTiO3 [001] 5 nm: 494."""
    if not len(specimen.positions):
        return 0.0
    grid = (max(3, math.ceil(specimen.field[0] / COLUMN_BIN)), max(3, math.ceil(specimen.field[1] / COLUMN_BIN)))
    bins = deposit(specimen.positions[:, [1, 0]], specimen.numbers().astype(np.float64), grid, COLUMN_BIN)
    return float(ndimage.uniform_filter(bins, 2, mode="wrap").max() * 4)


def _smooth(n: int) -> bool:
    for p in (2, 3, 5, 7):
        while n % p == 0:
            n //= p
    return n == 1


def strong_oversampling(pixel_size: float, shape: tuple[int, int], n: int, ms: Multislice) -> int:
    """Internal grid points per pixel for strong columns: at least ``n``, fine enough for
    ``ms.strong_sampling`` where ``ms.strong_grid`` allows; a product of 2, 3, 5, 7 (fast FFTs)."""
    need = max(n, math.ceil(pixel_size / ms.strong_sampling - 1e-9))
    cap = max(n, min(ms.strong_grid, MAX_GRID) // max(shape))
    up = next(m for m in range(need, need + 8) if _smooth(m))
    return up if up <= cap else max(n, next(m for m in range(cap, 0, -1) if _smooth(m)))


def exit_wave(specimen: Specimen, sampling: float, grid: tuple[int, int], voltage_kv: float, ms: Multislice = Multislice()) -> np.ndarray:
    """The exit wave (complex64, ``grid``) of a plane wave through the specimen, relative to the
    incident wave, on a grid of ``sampling`` Å."""
    return sfft.ifft2(_exit_wave_ft(specimen, sampling, grid, voltage_kv, ms), overwrite_x=True)


def _exit_wave_ft(specimen: Specimen, sampling: float, grid: tuple[int, int], voltage_kv: float, ms: Multislice) -> np.ndarray:
    """The ``fft2`` of :func:`exit_wave` (band-limited): imaging needs it in Fourier space. Single
    precision (complex64, as abTEM's multislice): twice as fast, and its rounding (1e-7 of the wave)
    is far below what the model leaves out."""
    lam = electron_wavelength(voltage_kv)
    sigma = np.float32(interaction_parameter(voltage_kv))
    ky = np.fft.fftfreq(grid[0], d=sampling)[:, None]
    kx = np.fft.fftfreq(grid[1], d=sampling)[None, :]
    k2 = ky**2 + kx**2
    band = k2 < (2.0 / 3.0 * 0.5 / sampling) ** 2
    z = specimen.positions[:, 2]
    z0 = float(z.min()) if len(z) else 0.0
    nslices = max(1, math.ceil((specimen.thickness + 1e-6) / ms.slice_thickness))
    dz = max(specimen.thickness, 1e-6) / nslices
    index = np.minimum(((z - z0) / dz).astype(int), nslices - 1) if len(z) else np.zeros(0, int)
    # exp(a + b) = exp(a) exp(b): two rows, not a grid, of exponentials
    propagator = (np.exp(-1j * np.pi * lam * dz * ky**2) * np.exp(-1j * np.pi * lam * dz * kx**2) * band).astype(np.complex64)
    wave = np.ones(grid, np.complex64)
    yx = specimen.positions[:, [1, 0]]
    memo: dict = {}  # the atoms' scattering factors on this grid, shared by the slices
    absorption = np.float32(-ms.absorption)
    transmission = np.empty(grid, np.complex64)
    for i in range(nslices):
        sel = index == i
        if sel.any():  # an empty slice transmits everything (exp(0) = 1)
            phase = sfft.irfft2(projected_potential_ft(specimen.symbols[sel], yx[sel], grid, sampling, ms.thermal_sigma, memo, np.float32), s=grid)
            phase *= sigma
            amplitude = np.exp(phase * absorption) if ms.absorption else 1.0
            # exp((i - absorption) phase), from real parts (a complex exp is 3x slower)
            np.multiply(np.cos(phase), amplitude, out=transmission.real)
            np.multiply(np.sin(phase), amplitude, out=transmission.imag)
            wave *= transmission
        wave = sfft.fft2(wave, overwrite_x=True)
        wave *= band if i == nslices - 1 else propagator
        if i < nslices - 1:
            wave = sfft.ifft2(wave, overwrite_x=True)
    return wave


def render_hrtem(specimen: Specimen, pixel_size: float, shape: tuple[int, int], optics: HRTEMOptics = HRTEMOptics(), ms: Multislice = Multislice()) -> np.ndarray:
    """The HRTEM image intensity relative to the incident beam (about 1), float32 (ny, nx); each pixel
    is the mean over its area. Strong columns: frozen phonons on a finer grid (:class:`Multislice`)."""
    _check_grid(pixel_size, shape)
    n = oversampling("hrtem", pixel_size, shape, None, optics)
    configs = [specimen]
    if strongest_column(specimen) >= ms.strong_column:
        n = strong_oversampling(pixel_size, shape, n, ms)
        rng = np.random.default_rng(ms.seed)
        configs = [replace(specimen, positions=specimen.positions + rng.normal(0.0, ms.thermal_sigma, specimen.positions.shape))
                   for _ in range(ms.frozen_phonons)]
        ms = replace(ms, thermal_sigma=0.0)  # the displacements, not a damping, model the vibrations
    s = pixel_size / n
    grid = (shape[0] * n, shape[1] * n)
    ctf = optics.ctf(grid, s, np.complex64)
    image = np.zeros(grid, np.float32)
    for config in configs:
        wave = _exit_wave_ft(config, s, grid, optics.voltage_kv, ms)
        wave *= ctf
        wave = sfft.ifft2(wave, overwrite_x=True)
        image += wave.real**2 + wave.imag**2
    if len(configs) > 1:
        image /= len(configs)
    if n > 1:
        image = image.reshape(shape[0], n, shape[1], n).mean(axis=(1, 3), dtype=np.float64)
    return image.astype(np.float32)
