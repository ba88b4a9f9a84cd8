"""Segmented detector panel (issue 19): segments -> potential layer (+ DPC vectors)."""

from __future__ import annotations

import numpy as np

from ..core.segmented.test_dpc import bumps, segments_from_gradient


def _segments(rotation=25.0):
    phi, gx, gy = bumps((64, 64), seed=9)
    return phi, segments_from_gradient(gx * 30, gy * 30, rotation).astype(np.float32)


def test_panel_reconstructs_a_four_channel_layer(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    phi, segs = _segments()
    viewer.add_image(segs, name="DF4 segments", scale=(1, 0.25, 0.25), units=("pixel", "angstrom", "angstrom"))
    _, widget = viewer.window.add_plugin_dock_widget("napari-lowdose", "Segmented detector")
    assert widget.source.currentText() == "DF4 segments" and not widget.parts[0].isEnabled()
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60000)
    out = viewer.layers["DF4 segments idpc potential (V·Å)"]
    assert out.data.shape == (64, 64) and tuple(out.scale) == (0.25, 0.25)
    assert np.corrcoef(out.data.ravel(), phi.ravel())[0, 1] > 0.99
    assert abs(widget.result.rotation_deg - 25.0) < 2.0 and "minimum curl" in widget.status.text()
    assert "DF4 segments DPC field" in viewer.layers


def test_panel_with_four_layers_and_a_bad_rotation(make_napari_viewer, qtbot):
    from napari_lowdose.widgets.segmented import FOUR

    viewer = make_napari_viewer()
    phi, segs = _segments(rotation=0.0)
    for name, s in zip("ABCD", segs):
        viewer.add_image(s, name=f"seg {name}", scale=(0.3, 0.3), units=("angstrom", "angstrom"))
    _, widget = viewer.window.add_plugin_dock_widget("napari-lowdose", "Segmented detector")
    assert widget.source.currentText() == FOUR and widget.parts[0].isEnabled()
    for name, combo in zip("ABCD", widget.parts):
        combo.setCurrentText(f"seg {name}")
    widget.rotation.setText("ninety")
    widget.run()
    assert widget.worker is None and "rotation must be a number of degrees or 'auto'" in widget.status.text()
    widget.rotation.setText("0")
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60000)
    out = viewer.layers["seg A (A) idpc potential (V·Å)"]
    assert np.corrcoef(out.data.ravel(), phi.ravel())[0, 1] > 0.99 and "(given)" in widget.status.text()
    widget.parts[1].setCurrentText("seg A")
    widget.run()
    assert "four different layers" in widget.status.text()
