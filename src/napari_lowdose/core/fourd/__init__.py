"""4D-STEM: virtual detectors, simulated datasets with a known truth and the scan-neighbour blind-spot
denoiser (the 001 seed). Axis order everywhere: (scan y, scan x, ky, kx). No Qt, no napari."""

from .data import MIN_DETECTOR, check_4d, is_dask, native
from .denoise import Denoise4DConfig, Denoise4DProgress, Denoiser4D, denoise4d, iter_denoise4d
from .detector import DetectorRegion, bright_disc, detector_mask, mean_pattern, standard_regions, virtual_image

__all__ = [
    "MIN_DETECTOR",
    "check_4d",
    "is_dask",
    "native",
    "Denoise4DConfig",
    "Denoise4DProgress",
    "Denoiser4D",
    "denoise4d",
    "iter_denoise4d",
    "DetectorRegion",
    "bright_disc",
    "detector_mask",
    "mean_pattern",
    "standard_regions",
    "virtual_image",
]
