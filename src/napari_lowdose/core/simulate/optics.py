"""Electron optics shared by the simulators: wavelength, interaction parameter, the HRTEM contrast
transfer function (:class:`HRTEMOptics`) and the STEM probe (:class:`STEMProbe`). Lengths in Å."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache

import numpy as np
from scipy import ndimage

from ..errors import LowdoseError


def electron_wavelength(voltage_kv: float) -> float:
    """Relativistic electron wavelength in Å for an accelerating voltage in kV (200 kV: 0.0251 Å)."""
    v = voltage_kv * 1e3
    return 12.2643 / np.sqrt(v * (1.0 + 0.97845e-6 * v))


@dataclass(frozen=True)
class HRTEMOptics:
    """Conventional TEM imaging (phase contrast). Lengths in Å unless named otherwise.

    The contrast transfer function is ``A(q) E_s(q) E_t(q) exp(-i chi(q))`` with
    ``chi = pi lambda defocus q^2 + pi/2 Cs lambda^3 q^4`` (negative defocus = underfocus; Scherzer
    defocus at 200 kV and Cs = 1.2 mm is about -660 Å), a hard objective aperture at ``aperture`` Å⁻¹,
    the spatial-coherence envelope for a beam semi-convergence ``convergence_mrad`` and the temporal
    envelope for a focal spread ``focal_spread`` (Å).
    """

    voltage_kv: float = 200.0
    defocus: float = -600.0  #: Å (negative: underfocus)
    cs_mm: float = 1.2  #: spherical aberration, mm
    aperture: float = 0.6  #: objective aperture cutoff, Å⁻¹
    convergence_mrad: float = 0.2  #: beam semi-convergence angle, mrad
    focal_spread: float = 40.0  #: Å, rms
    carbon_phase: float = 0.25  #: rad, phase shift of the film at mean thickness
    metal_phase: float = 1.2  #: rad, phase shift at the thickest part of a particle
    amplitude_contrast: float = 0.08  #: absorption as a fraction of the phase (0 = pure phase object)

    def __post_init__(self) -> None:
        if not (self.voltage_kv > 0 and self.aperture > 0 and np.isfinite(self.cs_mm)):
            # Cs may be negative: aberration-corrected microscopes image with negative Cs (NCSI)
            raise LowdoseError("HRTEM optics: voltage and aperture must be positive and Cs a number")

    def ctf(self, shape: tuple[int, int], pixel_size: float, dtype: type = np.complex128) -> np.ndarray:
        """The complex CTF on the full ``fft2`` grid of an image of ``shape`` at ``pixel_size`` Å, as
        ``dtype`` (complex128 or complex64; computed in double precision; read-only: the last few are
        remembered)."""
        shape, dtype = (int(shape[0]), int(shape[1])), np.dtype(dtype)
        if shape[0] * shape[1] > CACHE_POINTS:
            return _ctf(self, shape, float(pixel_size), dtype)
        return _ctf_cached(self, shape, float(pixel_size), dtype)


CACHE_POINTS = 1 << 21  #: grids of more points (1448² and up) are not remembered (memory)


def _ctf(o: HRTEMOptics, shape: tuple[int, int], pixel_size: float, dtype: np.dtype = np.dtype(np.complex128)) -> np.ndarray:
    lam = electron_wavelength(o.voltage_kv)
    cs = o.cs_mm * 1e7
    ky = np.fft.fftfreq(shape[0], d=pixel_size)[:, None]
    kx = np.fft.fftfreq(shape[1], d=pixel_size)[None, :]
    q = np.sqrt(ky**2 + kx**2)
    inside = q <= o.aperture
    q = q[inside]  # outside the objective aperture the CTF is 0: computed only where it is not
    chi = np.pi * lam * o.defocus * q**2 + 0.5 * np.pi * cs * lam**3 * q**4
    alpha = o.convergence_mrad * 1e-3
    e_s = np.exp(-((np.pi * alpha / lam) ** 2) * (cs * lam**3 * q**3 + o.defocus * lam * q) ** 2)
    e_t = np.exp(-0.5 * np.pi**2 * lam**2 * o.focal_spread**2 * q**4)
    out = np.zeros(inside.shape, dtype)
    out[inside] = e_s * e_t * np.exp(-1j * chi)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=2)
def _ctf_cached(o: HRTEMOptics, shape: tuple[int, int], pixel_size: float, dtype: np.dtype) -> np.ndarray:
    return _ctf(o, shape, pixel_size, dtype)


def interaction_parameter(voltage_kv: float) -> float:
    """The interaction parameter sigma in rad / (V Å): the phase a projected potential of 1 V·Å gives
    (relativistic; 200 kV: 7.29e-4 rad/(V·Å))."""
    mc2 = 510.99895e3  # eV
    v = voltage_kv * 1e3
    return float(2 * np.pi / (electron_wavelength(voltage_kv) * v) * (mc2 + v) / (2 * mc2 + v))


@dataclass(frozen=True)
class STEMProbe:
    """A STEM probe: the aberrated wave of a round condenser aperture, plus a finite source.

    Lengths in Å, angles in mrad. The aberration function is
    ``chi(k) = pi lambda defocus k^2 + pi/2 Cs lambda^3 k^4 + pi lambda astigmatism k^2 cos(2(phi - phi_a))
    + 2 pi/3 coma lambda^2 k^3 cos(phi - phi_c)``
    (negative defocus = underfocus; the two-fold astigmatism and the axial coma are amplitudes in Å, their
    azimuths in degrees). The source size is the rms width of a Gaussian that blurs the probe intensity.
    """

    voltage_kv: float = 200.0
    convergence_mrad: float = 25.0  #: condenser semi-angle, mrad
    defocus: float = 0.0  #: Å (negative: underfocus)
    cs_mm: float = 0.0  #: spherical aberration, mm (aberration-corrected: about 0)
    astigmatism: float = 0.0  #: two-fold astigmatism amplitude, Å
    astigmatism_angle: float = 0.0  #: degrees
    coma: float = 0.0  #: axial coma amplitude, Å
    coma_angle: float = 0.0  #: degrees
    source_size: float = 0.3  #: Å, rms of the demagnified source (a Gaussian blur of the probe intensity)

    def __post_init__(self) -> None:
        if not (self.voltage_kv > 0 and self.convergence_mrad > 0 and self.source_size >= 0):
            raise LowdoseError("STEM probe: voltage and convergence angle must be positive and the source size >= 0")

    @property
    def aperture(self) -> float:
        """The condenser aperture in reciprocal space, Å⁻¹ (semi-angle / wavelength)."""
        return self.convergence_mrad * 1e-3 / electron_wavelength(self.voltage_kv)

    def chi(self, ky: np.ndarray, kx: np.ndarray) -> np.ndarray:
        lam = electron_wavelength(self.voltage_kv)
        k2 = ky**2 + kx**2
        phi = np.arctan2(ky, kx)
        chi = np.pi * lam * self.defocus * k2 + 0.5 * np.pi * self.cs_mm * 1e7 * lam**3 * k2**2
        if self.astigmatism:
            chi = chi + np.pi * lam * self.astigmatism * k2 * np.cos(2 * (phi - np.deg2rad(self.astigmatism_angle)))
        if self.coma:
            chi = chi + 2 * np.pi / 3 * self.coma * lam**2 * k2**1.5 * np.cos(phi - np.deg2rad(self.coma_angle))
        return chi

    def intensity(self, sampling: float, size: int) -> np.ndarray:
        """The probe intensity on a ``size`` x ``size`` grid of ``sampling`` Å, centred on pixel
        (size // 2, size // 2), normalised to sum 1 (float64). No source blur."""
        k = np.fft.fftfreq(size, d=sampling)
        ky, kx = k[:, None], k[None, :]
        pupil = (ky**2 + kx**2 <= self.aperture**2) * np.exp(-1j * self.chi(ky, kx))
        wave = np.fft.fftshift(np.fft.ifft2(pupil))
        p = np.abs(wave) ** 2
        return p / p.sum()

    def transfer(self, ky: np.ndarray, kx: np.ndarray) -> np.ndarray:
        """The probe's incoherent transfer function (the Fourier transform of its intensity, 1 at k = 0,
        source blur included) at the spatial frequencies ``ky``, ``kx`` (Å⁻¹, broadcastable), complex."""
        kmax = 2 * self.aperture
        sampling = 0.45 / kmax  # Nyquist above 2 x aperture: the intensity is not aliased
        # a window of about 40 probe-widths, more when defocus or Cs spread the probe out
        lam = electron_wavelength(self.voltage_kv)
        alpha = self.convergence_mrad * 1e-3
        spread = abs(self.defocus) * alpha + 0.25 * self.cs_mm * 1e7 * alpha**3 + abs(self.astigmatism) * alpha + abs(self.coma) * alpha**2
        width = max(16.0 * lam / alpha, 6.0 * spread, 8.0)
        size = int(min(1024, 2 ** np.ceil(np.log2(max(64, width / sampling)))))
        otf = _probe_otf(self, sampling, size)  # complex: coma and astigmatism make the probe asymmetric
        dk = 1.0 / (size * sampling)
        # bilinear interpolation on the window's frequency grid (periodic)
        fy = np.asarray(ky, np.float64) / dk
        fx = np.asarray(kx, np.float64) / dk
        if fy.ndim == 2 and fx.ndim == 2 and fy.shape[1] == 1 and fx.shape[0] == 1:
            out = _bilinear_separable(otf, fy[:, 0], fx[0])  # a grid: interpolate along y, then along x
            ky2, kx2 = (fy * dk) ** 2, (fx * dk) ** 2  # a column and a row: the envelopes are separable
            out *= ky2 + kx2 < kmax**2
            out *= np.exp(-2 * np.pi**2 * self.source_size**2 * ky2)
            out *= np.exp(-2 * np.pi**2 * self.source_size**2 * kx2)
            return out
        else:
            fy, fx = np.broadcast_arrays(fy, fx)
            y0, x0 = np.floor(fy).astype(np.int64), np.floor(fx).astype(np.int64)
            wy, wx = fy - y0, fx - x0
            out = (
                otf[y0 % size, x0 % size] * (1 - wy) * (1 - wx)
                + otf[(y0 + 1) % size, x0 % size] * wy * (1 - wx)
                + otf[y0 % size, (x0 + 1) % size] * (1 - wy) * wx
                + otf[(y0 + 1) % size, (x0 + 1) % size] * wy * wx
            )
        k2 = fy**2 * dk**2 + fx**2 * dk**2
        out = np.where(k2 < kmax**2, out, 0.0)
        return out * np.exp(-2 * np.pi**2 * self.source_size**2 * k2)


def _bilinear_separable(table: np.ndarray, fy: np.ndarray, fx: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of the periodic ``table`` at the grid of rows ``fy`` x columns ``fx``
    (in table pixels): (len(fy), len(fx))."""
    size_y, size_x = table.shape
    y0, x0 = np.floor(fy).astype(np.int64), np.floor(fx).astype(np.int64)
    wy, wx = (fy - y0)[:, None], (fx - x0)[None, :]
    rows = table[y0 % size_y] * (1 - wy) + table[(y0 + 1) % size_y] * wy
    return rows[:, x0 % size_x] * (1 - wx) + rows[:, (x0 + 1) % size_x] * wx


@lru_cache(maxsize=4)
def _probe_otf(probe: STEMProbe, sampling: float, size: int) -> np.ndarray:
    """The Fourier transform of the probe intensity on its ``size`` x ``size`` window (read-only; the
    last few probes are remembered)."""
    otf = np.fft.fft2(np.fft.ifftshift(probe.intensity(sampling, size)))
    otf.setflags(write=False)
    return otf


def clear_caches() -> None:
    """Forget the remembered CTFs and probe transfer windows (for timing a first call)."""
    _ctf_cached.cache_clear()
    _probe_otf.cache_clear()
