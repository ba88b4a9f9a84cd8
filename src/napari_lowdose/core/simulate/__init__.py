"""The project's simulator of low-dose STEM and TEM images, deterministic from a seed.

Two kinds of specimen, one acquisition chain:

* :mod:`.islands`: metal islands on amorphous carbon drawn as continuous fields (particle-scale
  images, 0.5-10 Å per pixel; the first release's simulator).
* atoms (:mod:`.structures`, :mod:`.specimen`, :mod:`.atomic`): crystals in zone axes, nanoparticles
  on amorphous supports, 2-D sheets, defects, built with ASE; imaged by incoherent HAADF-STEM or by
  multislice HRTEM with the Lobato & Van Dyck potentials (:mod:`.potential`); 0.05-2 Å per pixel.
* :mod:`.detector`: dose, scan artifacts and the detector chain, on any noise-free image.
* :mod:`.optics`: wavelength, interaction parameter, HRTEM CTF, STEM probe.
"""

from .detector import ELECTRON_CHARGE, Acquisition, ScanArtifacts, acquire, camera_blur, scanned
from .islands import (
    CARBON_PEAK,
    GOLD_D111,
    GOLD_D200,
    LATTICE_CONSTANT,
    MODALITIES,
    SceneConfig,
    SimulatedPair,
    bandlimited_image,
    simulate_pair,
    simulate_scene,
)
from .optics import HRTEMOptics, STEMProbe, electron_wavelength, interaction_parameter

__all__ = [
    "ELECTRON_CHARGE",
    "Acquisition",
    "ScanArtifacts",
    "acquire",
    "camera_blur",
    "scanned",
    "CARBON_PEAK",
    "GOLD_D111",
    "GOLD_D200",
    "LATTICE_CONSTANT",
    "MODALITIES",
    "SceneConfig",
    "SimulatedPair",
    "bandlimited_image",
    "simulate_pair",
    "simulate_scene",
    "HRTEMOptics",
    "STEMProbe",
    "electron_wavelength",
    "interaction_parameter",
]
