"""napari writer contributions (npe2): one image layer to TIFF or MRC, keeping the pixel size.

``layer.scale`` is converted to Å using ``layer.units`` (any pint length unit napari holds); a layer
in pixel units is written without a calibration. Files are written atomically.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .core.units import to_angstrom_factor
from .io.write import write_image


def _lengths_in_angstrom(meta: dict) -> tuple[float | None, float | None]:
    """(x pixel size, z step) in Å from a layer's ``scale`` and ``units``, None where not a length."""
    scale = list(meta.get("scale") or [])
    units = [str(u) for u in (meta.get("units") or [])]
    if len(units) != len(scale):
        units = ["pixel"] * len(scale)

    def length(i: int) -> float | None:
        if len(scale) < -i:
            return None
        factor = to_angstrom_factor(units[i])
        return float(scale[i]) * factor if factor else None

    return length(-1), length(-3) if len(scale) >= 3 else None


def _write(path: str, data: Any, meta: dict) -> list[str]:
    pixel_size, z_size = _lengths_in_angstrom(meta)
    return [str(write_image(path, np.asarray(data), pixel_size=pixel_size, z_size=z_size))]


def write_tiff(path: str, data: Any, meta: dict) -> list[str]:
    return _write(path, data, meta)


def write_mrc(path: str, data: Any, meta: dict) -> list[str]:
    return _write(path, data, meta)
