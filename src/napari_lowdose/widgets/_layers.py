"""Small helpers the dock widgets share: which layers, which 2-D plane, which pixel size."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..core.units import to_angstrom_factor

if TYPE_CHECKING:
    import napari


def image_layers(viewer: "napari.viewer.Viewer") -> list:
    from napari.layers import Image

    return [layer for layer in viewer.layers if isinstance(layer, Image)]


def fill_combo(combo, names: list[str]) -> str:
    """Replace the items of ``combo`` by ``names``, keeping the current choice when it is still there,
    without emitting change signals; returns the previous choice."""
    current = combo.currentText()
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(names)
    if current in names:
        combo.setCurrentText(current)
    combo.blockSignals(False)
    return current


def refresh_layer_combo(combo, viewer, exclude=()) -> str:
    """Fill ``combo`` with the names of the image layers (less ``exclude``), keeping the current choice
    when it still exists, without emitting change signals; returns the previous choice."""
    return fill_combo(combo, [layer.name for layer in image_layers(viewer) if not any(layer is e for e in exclude)])


def show_error(status, message: str) -> None:
    """Put ``message`` in a widget's status label and in a napari error notification."""
    from napari.utils.notifications import show_error as notify

    status.setText(message)
    notify(message)


def stop_when_destroyed(widget) -> None:
    """When the Qt widget is deleted (its panel or napari closed), call its ``_stop_work()``, which must
    touch only Python state (the worker, a tuner), never the deleted Qt widgets."""
    holder = {"widget": widget}

    def stop(*_):
        w = holder.pop("widget", None)
        if w is not None:
            w._stop_work()

    widget.destroyed.connect(stop)


def pixel_size_angstrom(layer) -> float | None:
    """x pixel size of ``layer`` in Å, from ``layer.scale`` and ``layer.units``; None in pixel units."""
    factor = to_angstrom_factor(str(layer.units[-1]))
    return float(layer.scale[-1]) * factor if factor else None


def plane_index(layer, viewer) -> tuple[int, ...]:
    """Data index of the displayed 2-D (y, x) plane for the leading axes of ``layer``."""
    data = layer.data[0] if layer.multiscale else layer.data
    if data.ndim <= 2:
        return ()
    point = np.asarray(viewer.dims.point)[-layer.ndim :]
    coords = np.asarray(layer.world_to_data(point))
    return tuple(int(np.clip(np.round(c), 0, s - 1)) for c, s in zip(coords[:-2], data.shape[:-2]))


def current_plane(layer, viewer) -> tuple[np.ndarray, tuple[int, ...]]:
    """A copy of the displayed (y, x) plane of ``layer`` (safe to hand to a worker thread), and its index."""
    data = layer.data[0] if layer.multiscale else layer.data
    index = plane_index(layer, viewer)
    return np.array(data[index] if index else data), index
