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
