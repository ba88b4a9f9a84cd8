"""Deterministic simulator of low-dose STEM and TEM images: gold or platinum particles on amorphous carbon.

The physics is kept simple but in physical units, so that the same scene can be imaged at any dose:

* **Sample** : amorphous carbon is a support film of slowly varying thickness with a speckle texture
  whose power spectrum peaks near the carbon-carbon spacing (about 2.2 Å) on top of a 1/q background;
  metal particles (fcc gold or platinum) are irregular, dome-shaped islands (thicker in the middle),
  each with its own in-plane orientation and zone axis ([110] or [100]): where the pixel size resolves
  them, the {111} and {200} lattice planes show as fringes or, with ``column_sharpness`` > 0, as
  peaked atomic columns.
* **Modality** (:func:`simulate_scene`):

  - ``"haadf"`` (STEM): the fraction of probe electrons scattered onto the HAADF detector at each
    probe position (Z-contrast), blurred by a Gaussian probe;
  - ``"hrtem"`` (TEM): the sample is a phase object (phase from the projected thickness), imaged
    through a contrast transfer function (:class:`HRTEMOptics`: defocus, spherical aberration,
    objective aperture, spatial and temporal partial coherence); the truth is the image intensity
    relative to the incident beam (about 1).

* **Dose** (:class:`Acquisition`): electrons per pixel = dose (e⁻/Å²) x pixel area (Å²), or from the
  beam current and dwell time (:meth:`Acquisition.from_beam`). Detected electrons are Poisson distributed.
* **Scan artifacts at short dwell** (:class:`ScanArtifacts`, STEM only), as seen in the Gold Standard
  seed: scan distortion (the beam lags at the start of every line, stretching the left edge), line
  jitter, flyback (extra signal in the first pixels of each line), streaking / bleed along the fast-scan
  direction x (detector afterglow), every-other-column lines (low detector signal), correlated
  line-to-line offsets and a lower median intensity. Each is switchable and scales with dwell time.
  TEM images come from a camera: use ``ScanArtifacts.none()`` (as :func:`simulate_pair` does).
* **Detector** : analogue-to-digital units = offset + gain x electrons + read noise, stored as uint16,
  like the files the instrument writes.

Everything is reproducible from ``seed``: the same arguments give the same arrays.
Axis order is (y, x); x is the fast-scan direction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
from scipy import ndimage

from .errors import LowdoseError

CARBON_PEAK = 2.2  # Å, real-space period where amorphous carbon speckle peaks
ELECTRON_CHARGE = 1.602176634e-19  # C

#: fcc lattice constants (Å); {111} spacing = a / sqrt(3), {200} spacing = a / 2.
LATTICE_CONSTANT = {"Au": 4.0782, "Pt": 3.9242}
GOLD_D111 = LATTICE_CONSTANT["Au"] / 3**0.5  # 2.355 Å
GOLD_D200 = LATTICE_CONSTANT["Au"] / 2  # 2.039 Å
MODALITIES = ("haadf", "hrtem")


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
        if self.voltage_kv <= 0 or self.aperture <= 0 or self.cs_mm < 0:
            raise LowdoseError("HRTEM optics: voltage and aperture must be positive and Cs non-negative")

    def ctf(self, shape: tuple[int, int], pixel_size: float) -> np.ndarray:
        """The complex CTF on the full ``fft2`` grid of an image of ``shape`` at ``pixel_size`` Å."""
        lam = electron_wavelength(self.voltage_kv)
        cs = self.cs_mm * 1e7
        ky = np.fft.fftfreq(shape[0], d=pixel_size)[:, None]
        kx = np.fft.fftfreq(shape[1], d=pixel_size)[None, :]
        q = np.sqrt(ky**2 + kx**2)
        chi = np.pi * lam * self.defocus * q**2 + 0.5 * np.pi * cs * lam**3 * q**4
        alpha = self.convergence_mrad * 1e-3
        e_s = np.exp(-((np.pi * alpha / lam) ** 2) * (cs * lam**3 * q**3 + self.defocus * lam * q) ** 2)
        e_t = np.exp(-0.5 * np.pi**2 * lam**2 * self.focal_spread**2 * q**4)
        return (q <= self.aperture) * e_s * e_t * np.exp(-1j * chi)


@dataclass(frozen=True)
class SceneConfig:
    """What is on the grid and how it is imaged. Lengths in Å, image shape (ny, nx) in pixels."""

    shape: tuple[int, int] = (512, 512)
    pixel_size: float = 5.0  #: Å per pixel (square pixels)
    island_size: float = 150.0  #: Å, typical particle diameter
    island_coverage: float = 0.25  #: fraction of the field covered by metal
    carbon_thickness: float = 100.0  #: Å, mean support film thickness
    carbon_thickness_variation: float = 0.2  #: relative rms thickness variation of the film
    carbon_texture: float = 0.35  #: relative rms of the amorphous speckle texture
    gold_scattering: float = 0.35  #: HAADF fraction at the thickest part of a particle
    carbon_scattering: float = 0.03  #: HAADF fraction of the film at mean thickness
    lattice_contrast: float = 0.3  #: relative modulation by resolved lattice planes (0 = none)
    probe_sigma: float = 1.0  #: Å, Gaussian probe (rms radius), HAADF only
    element: str = "Au"  #: particle metal, a key of LATTICE_CONSTANT ("Au" or "Pt")
    column_sharpness: float = 0.0  #: 0: sinusoidal fringes; > 0: peaked atomic columns (3-6 is typical)
    modality: str = "haadf"  #: "haadf" (STEM, Z-contrast) or "hrtem" (TEM, phase contrast)
    optics: HRTEMOptics = field(default_factory=HRTEMOptics)  #: used when modality is "hrtem"

    def __post_init__(self) -> None:
        ny, nx = self.shape
        if ny < 8 or nx < 8:
            raise LowdoseError(f"simulated image must be at least 8 x 8 pixels, got {ny} x {nx}")
        if self.pixel_size <= 0:
            raise LowdoseError(f"pixel size must be positive, got {self.pixel_size} Å")
        if not 0.0 <= self.island_coverage < 1.0:
            raise LowdoseError("island_coverage must be in [0, 1)")
        if self.element not in LATTICE_CONSTANT:
            raise LowdoseError(f"element must be one of {sorted(LATTICE_CONSTANT)}, got {self.element!r}")
        if self.modality not in MODALITIES:
            raise LowdoseError(f"modality must be one of {MODALITIES}, got {self.modality!r}")
        if self.column_sharpness < 0:
            raise LowdoseError("column_sharpness must be >= 0")


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


def _fft_freqs(shape: tuple[int, int], pixel_size: float) -> tuple[np.ndarray, np.ndarray]:
    ky = np.fft.fftfreq(shape[0], d=pixel_size)[:, None]
    kx = np.fft.rfftfreq(shape[1], d=pixel_size)[None, :]
    return ky, kx


def _filtered_noise(rng: np.random.Generator, shape, pixel_size, spectrum) -> np.ndarray:
    """Gaussian random field with amplitude spectrum ``spectrum(q)`` (q in Å⁻¹), zero mean, unit rms."""
    ky, kx = _fft_freqs(shape, pixel_size)
    q = np.sqrt(ky**2 + kx**2)
    white = rng.standard_normal(shape)
    field_ = np.fft.irfft2(np.fft.rfft2(white) * spectrum(q), s=shape)
    field_ -= field_.mean()
    rms = field_.std()
    return field_ / rms if rms > 0 else field_


def _lattice_directions(element: str, zone: int, angle: float) -> list[tuple[float, float]]:
    """(spacing Å, direction rad) of the strong reflections: [110] zone (two {111} and one {200}
    family) or [100] zone (two perpendicular {200} families)."""
    a = LATTICE_CONSTANT[element]
    d111, d200 = a / 3**0.5, a / 2
    if zone == 0:
        return [(d111, angle), (d111, angle + np.deg2rad(70.53)), (d200, angle + np.deg2rad(35.26))]
    return [(d200, angle), (d200, angle + np.pi / 2)]


def _sample(config: SceneConfig, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """The sample, independent of the modality: (carbon film relative thickness, amorphous texture
    factor around 1, particle height 0..1, lattice modulation around 1), each (ny, nx) float64."""
    shape, px = config.shape, config.pixel_size

    # Support film: smooth thickness variations (correlation ~ 200 Å) plus amorphous speckle.
    thick = 1.0 + config.carbon_thickness_variation * _filtered_noise(
        rng, shape, px, lambda q: np.exp(-0.5 * (q * 200.0) ** 2)
    )
    speckle = _filtered_noise(
        rng,
        shape,
        px,
        lambda q: np.exp(-0.5 * ((q - 1.0 / CARBON_PEAK) / (0.25 / CARBON_PEAK)) ** 2)
        + 0.5 / (1.0 + (q * 20.0) ** 1.5),
    )
    film, texture = np.clip(thick, 0.1, None), 1.0 + config.carbon_texture * speckle

    # Particles: threshold a smooth random field at the coverage quantile, then dome each island.
    blob = _filtered_noise(rng, shape, px, lambda q: np.exp(-0.5 * (q * np.pi * config.island_size) ** 2))
    mask = blob > np.quantile(blob, 1.0 - config.island_coverage) if config.island_coverage > 0 else np.zeros(shape, bool)
    labels, n_islands = ndimage.label(mask)
    dist = ndimage.distance_transform_edt(mask) * px  # Å from the island edge
    height = np.sqrt(np.clip(dist / (0.5 * config.island_size), 0.0, 1.0))  # dome, 0..1

    lattice = np.ones(shape)
    if config.lattice_contrast > 0 and n_islands > 0:
        ny, nx = shape
        yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float64) * px
        angles = rng.uniform(0.0, np.pi, size=n_islands + 1)
        zone = rng.integers(0, 2, size=n_islands + 1)  # 0: [110], 1: [100]
        nyquist = 0.5 / px
        for i, sl in enumerate(ndimage.find_objects(labels), start=1):
            if sl is None:
                continue
            sel = labels[sl] == i
            y, x = yy[sl], xx[sl]
            pattern = np.zeros(sel.shape)
            used = 0
            g_max = 0.0
            for d, a in _lattice_directions(config.element, int(zone[i]), float(angles[i])):
                g = 1.0 / d
                if g >= nyquist:  # not resolved at this pixel size: no fringe (no aliasing)
                    continue
                g_max = max(g_max, g)
                # the probe blur (HAADF) or the CTF (HRTEM) attenuates it later, on the whole image
                pattern += np.cos(2.0 * np.pi * g * (x * np.cos(a) + y * np.sin(a)))
                used += 1
            if not used:
                continue
            # peaked columns at the pattern's maxima (mean kept at 1) where their harmonics are resolved
            if config.column_sharpness > 0 and 2 * g_max < nyquist:
                peaks = np.exp(config.column_sharpness * (pattern / used - 1.0))
                modulation = peaks[sel] / max(float(peaks[sel].mean()), 1e-12) - 1.0
                lattice[sl][sel] = np.clip(1.0 + config.lattice_contrast * modulation, 0.0, None)
            else:
                lattice[sl][sel] = 1.0 + config.lattice_contrast * pattern[sel] / used
    return film, texture, height, lattice


def simulate_scene(config: SceneConfig, seed: int = 0) -> np.ndarray:
    """The noise-free image, float32 (ny, nx): for ``"haadf"`` the fraction of probe electrons reaching
    the detector, for ``"hrtem"`` the intensity relative to the incident beam."""
    rng = np.random.default_rng(seed)
    film, texture, height, lattice = _sample(config, rng)
    px = config.pixel_size
    if config.modality == "hrtem":
        o = config.optics
        phase = o.carbon_phase * film * texture + o.metal_phase * height * lattice
        wave = np.exp((1j - o.amplitude_contrast) * phase)
        image = np.fft.ifft2(np.fft.fft2(wave) * o.ctf(config.shape, px))
        return np.abs(image).astype(np.float32) ** 2

    signal = config.carbon_scattering * film * texture + config.gold_scattering * height * lattice
    sigma_px = config.probe_sigma / px
    if sigma_px > 0.05:
        signal = ndimage.gaussian_filter(signal, sigma_px, mode="wrap")
    return np.clip(signal, 0.0, 1.0).astype(np.float32)


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


@dataclass(frozen=True)
class SimulatedPair:
    """A low-dose image, an independent high-dose image of the same scene, and the noise-free truth."""

    low: np.ndarray  #: uint16 ADU, (ny, nx)
    high: np.ndarray  #: uint16 ADU, (ny, nx)
    truth: np.ndarray  #: float32 HAADF fraction, (ny, nx)
    pixel_size: float  #: Å
    low_acquisition: Acquisition
    high_acquisition: Acquisition
    scene: SceneConfig
    seed: int

    def metadata(self) -> dict:
        return {
            "simulator": "napari_lowdose.core.simulate",
            "seed": self.seed,
            "pixel_size_A": self.pixel_size,
            "scene": asdict(self.scene),
            "low": asdict(self.low_acquisition),
            "high": asdict(self.high_acquisition),
        }


def simulate_pair(
    scene: SceneConfig | None = None,
    low: Acquisition | None = None,
    high: Acquisition | None = None,
    seed: int = 0,
) -> SimulatedPair:
    """Simulate a paired low-dose / high-dose acquisition of one scene (the seed's 1 µs vs 4 µs).

    Defaults for STEM (``"haadf"``): 0.681 e⁻/Å² at 1 µs (low) and 2.723 e⁻/Å² at 4 µs (high), as in
    the Gold Standard data. For TEM (``"hrtem"``): 5 and 50 e⁻/Å², without scan artifacts.
    The two images get independent noise and artifacts (different sub-seeds).
    """
    scene = scene or SceneConfig()
    if scene.modality == "hrtem":
        low = low or Acquisition(dose=5.0, artifacts=ScanArtifacts.none())
        high = high or Acquisition(dose=50.0, artifacts=ScanArtifacts.none())
    low = low or Acquisition()
    high = high or Acquisition(dose=2.723, dwell_us=4.0)
    truth = simulate_scene(scene, seed=seed)
    ss = np.random.SeedSequence(seed).spawn(2)
    low_img = acquire(truth, scene.pixel_size, low, seed=int(ss[0].generate_state(1)[0]))
    high_img = acquire(truth, scene.pixel_size, high, seed=int(ss[1].generate_state(1)[0]))
    return SimulatedPair(low_img, high_img, truth, scene.pixel_size, low, high, scene, seed)


def bandlimited_image(
    shape: tuple[int, int], kx0: float, ky0: float | None = None, mean: float = 100.0, std: float = 30.0, seed: int = 0, poisson: bool = True
) -> np.ndarray:
    """A test image with a known resolution: white noise with a hard elliptical band limit (``kx0``,
    ``ky0`` in cycles/pixel), scaled to ``mean`` and ``std``, then Poisson counts (uint16) or, with
    ``poisson=False``, the noise-free float32 image."""
    rng = np.random.default_rng(seed)
    ky0 = ky0 or kx0
    F = np.fft.rfft2(rng.standard_normal(shape))
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    F[(kx / kx0) ** 2 + (ky / ky0) ** 2 > 1] = 0
    s = np.fft.irfft2(F, s=shape)
    s = s / s.std() * std + mean
    return rng.poisson(np.clip(s, 0, None)).astype(np.uint16) if poisson else s.astype(np.float32)
