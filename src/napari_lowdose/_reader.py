"""napari reader contribution (npe2): TIFF, MRC, DM3/DM4, Velox EMD, TIA SER with pixel size in Å.

Contract (napari-plugin-template): ``napari_get_reader(path)`` returns ``None`` for paths this plugin
does not handle, else a function that returns a list of layer-data tuples. A file it claims but cannot
read raises one :class:`~napari_lowdose.core.errors.LowdoseError` whose message napari shows as a
notification.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

from .io.read import SUPPORTED_EXTENSIONS, read_image
from .io.segments import group_segments

LayerData = tuple[Any, dict, str]


def _claims(path: str | os.PathLike) -> bool:
    return isinstance(path, (str, os.PathLike)) and Path(path).suffix.lower() in SUPPORTED_EXTENSIONS


def napari_get_reader(path: str | Sequence[str]) -> Callable[[Any], list[LayerData]] | None:
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    if not paths or not all(_claims(p) for p in paths):
        return None
    return read_layers


def read_layers(path: str | Sequence[str]) -> list[LayerData]:
    """Layer-data tuples (data, kwargs, "image") for every image in ``path`` (one path or a list)."""
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    layers: list[LayerData] = []
    for p in paths:
        images = group_segments(read_image(p))  # DF4-A .. DF4-D of a segmented detector: one 4-channel layer
        for image in images:
            layers.append((image.data, image.layer_kwargs(), "image"))
        if images.skipped:  # the file opened; say which of its signals did not
            _warn("; ".join(images.skipped))
    return layers


def _warn(message: str) -> None:
    """A napari warning notification (a plain warning where napari is not running)."""
    try:
        from napari.utils.notifications import show_warning
    except ImportError:  # pragma: no cover - napari is a dependency; io users may call this without it
        import warnings

        warnings.warn(message, stacklevel=2)
        return
    show_warning(message)
