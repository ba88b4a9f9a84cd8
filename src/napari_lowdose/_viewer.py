"""Viewer parts that napari 0.9 moved (``viewer.canvas.grid``, ``viewer.canvas.overlays.scale_bar``,
``viewer.scene.camera``), with the older attributes as fallback for napari 0.5 - 0.8."""

from __future__ import annotations


def grid(viewer):
    canvas = getattr(viewer, "canvas", None)
    return canvas.grid if canvas is not None and hasattr(canvas, "grid") else viewer.grid


def scale_bar(viewer):
    canvas = getattr(viewer, "canvas", None)
    overlays = getattr(canvas, "overlays", None)
    if overlays is not None and hasattr(overlays, "scale_bar"):
        return overlays.scale_bar
    return viewer.scale_bar


def camera(viewer):
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera


#: the main job's dock layout: each group shares one place on the right, tabbed, its first tab in front
DOCK_GROUPS = (("Denoise", "Fine-tune", "FFT mask"), ("Resolution", "Image info", "Segmented detector"))


def tabbed(name: str, docked: dict) -> bool:
    """Whether the dock ``name`` goes into a tab of the dock added just before it (napari's ``tabify``):
    yes when both are in one of DOCK_GROUPS (the docks are added in the manifest's order)."""
    last = next(reversed(docked), None) if docked else None
    return any(name in group and last in group and name != group[0] for group in DOCK_GROUPS)


def arrange_docks(viewer, docks: dict) -> None:
    """Bring each group's first dock to the front, and give the Resolution readout more height than
    the Denoise form (``docks``: display name -> dock widget)."""
    from qtpy.QtCore import Qt, QTimer

    window = viewer.window._qt_window
    heads = [docks[group[0]] for group in DOCK_GROUPS if group[0] in docks]

    def arrange():  # after napari's own handling of the new docks, which brings the last tab to the front
        for dock in heads:
            dock.raise_()
        if len(heads) == 2:
            window.resizeDocks(heads, [380, 620], Qt.Orientation.Vertical)

    if "Denoise" in docks:  # the Denoise form takes the height it needs, the readout the rest
        from qtpy.QtWidgets import QSizePolicy

        docks["Denoise"].setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

    QTimer.singleShot(0, arrange)
    QTimer.singleShot(1000, arrange)  # once more when the window has its size


def fit_grid(viewer) -> tuple[int, int] | None:
    """Grid shape (rows, columns) for the visible layers that gives each (square) cell the most room
    in the canvas as it is now, set on the viewer's grid; None when the canvas size is unknown."""
    import math

    n = sum(1 for layer in viewer.layers if layer.visible)
    canvas = getattr(getattr(viewer.window, "_qt_viewer", None), "canvas", None)
    native = getattr(canvas, "native", None)  # the Qt widget: its size is the one on screen
    if native is not None:
        size = (native.height(), native.width())
    else:
        size = getattr(canvas, "size", None)  # napari: (height, width)
    if n < 1 or not size or min(size) <= 0:
        return None
    height, width = size
    best = max(range(1, n + 1), key=lambda rows: min(width / math.ceil(n / rows), height / rows))
    shape = (best, math.ceil(n / best))
    grid(viewer).shape = shape
    return shape
