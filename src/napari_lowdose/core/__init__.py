"""Pure compute core: numpy, scipy and torch only. No Qt, no napari (a test enforces this)."""

from .errors import FileFormatError, InvalidImageError, LowdoseError
from .image import check_image
from .simulate import Acquisition, ScanArtifacts, SceneConfig, SimulatedPair, simulate_pair, simulate_scene

__all__ = [
    "Acquisition",
    "FileFormatError",
    "InvalidImageError",
    "LowdoseError",
    "ScanArtifacts",
    "SceneConfig",
    "SimulatedPair",
    "check_image",
    "simulate_pair",
    "simulate_scene",
]
