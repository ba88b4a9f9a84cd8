"""4D-STEM: virtual detectors, simulated datasets with a known truth and the scan-neighbour blind-spot
denoiser (the 001 seed). Axis order everywhere: (scan y, scan x, ky, kx). No Qt, no napari.

The denoiser's names are imported on first use, so reading a 4D file (``napari_lowdose.io``) does not
import torch."""

from .data import MIN_DETECTOR, check_4d, is_dask, native
from .detector import DetectorRegion, bright_disc, detector_mask, mean_pattern, standard_regions, virtual_image

_LAZY = {"Denoise4DConfig", "Denoise4DProgress", "Denoiser4D", "denoise4d", "iter_denoise4d"}


def __getattr__(name: str):
    if name in _LAZY:
        from . import denoise

        return getattr(denoise, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MIN_DETECTOR",
    "check_4d",
    "is_dask",
    "native",
    *sorted(_LAZY),
    "DetectorRegion",
    "bright_disc",
    "detector_mask",
    "mean_pattern",
    "standard_regions",
    "virtual_image",
]
