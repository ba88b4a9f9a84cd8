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

from ..errors import LowdoseError
from .detector import Acquisition, ScanArtifacts, acquire
from .optics import HRTEMOptics

CARBON_PEAK = 2.2  # Å, real-space period where amorphous carbon speckle peaks

#: fcc lattice constants (Å); {111} spacing = a / sqrt(3), {200} spacing = a / 2.
LATTICE_CONSTANT = {"Au": 4.0782, "Pt": 3.9242}
GOLD_D111 = LATTICE_CONSTANT["Au"] / 3**0.5  # 2.355 Å
GOLD_D200 = LATTICE_CONSTANT["Au"] / 2  # 2.039 Å
MODALITIES = ("haadf", "hrtem")


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
