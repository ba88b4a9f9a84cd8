"""Which Denoise panel belongs to which viewer, so that a fine-tuned model can become its current model."""

from __future__ import annotations

import weakref

from qtpy.QtWidgets import QWidget

_DENOISE_WIDGETS: "weakref.WeakValueDictionary[int, QWidget]" = weakref.WeakValueDictionary()


def _key(viewer) -> int:
    # napari hands each plugin widget its own proxy of the viewer: key by the viewer behind it
    return id(getattr(viewer, "__wrapped__", viewer))


def register_denoise_widget(viewer, widget) -> None:
    """The Denoise panel registers itself so that a fine-tuned model can become its current model."""
    _DENOISE_WIDGETS[_key(viewer)] = widget


def denoise_widget_for(viewer):
    w = _DENOISE_WIDGETS.get(_key(viewer))
    if w is None or _key(w.viewer) != _key(viewer):
        return None
    try:
        w.objectName()  # raises if the Qt object has been deleted
    except RuntimeError:
        return None
    return w


