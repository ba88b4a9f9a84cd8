import numpy as np
import pytest

from napari_lowdose.core.spectrum import NO_CUTOFF

from napari_lowdose.core.simulate import bandlimited_image as bandlimited

PLUGIN = "napari-lowdose"


def wait_report(qtbot, widget, check):
    qtbot.waitUntil(lambda: bool(widget.reports) and check(widget.reports), timeout=10000)


def test_follows_selection_and_reports_in_angstrom(qtbot, make_napari_viewer):
    viewer = make_napari_viewer()
    a = viewer.add_image(bandlimited((256, 256), 0.2), name="a", scale=(1.5, 1.5), units=("angstrom", "angstrom"))
    b = viewer.add_image(bandlimited((256, 200), 0.35, seed=2), name="b", scale=(1.5, 1.5), units=("angstrom", "angstrom"))
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Resolution")
    viewer.layers.selection = {a}
    wait_report(qtbot, widget, lambda r: [n for n, _ in r] == ["a"])
    (name, rep), = widget.reports
    assert rep.cutoff == pytest.approx(0.2, rel=0.05) and rep.pixel_size == 1.5
    assert "Å" in widget.text.text() and "anisotropy" in widget.text.text() and "FRC" in widget.text.text()
    viewer.layers.selection = {a, b}  # side by side
    wait_report(qtbot, widget, lambda r: [n for n, _ in r] == ["a", "b"])
    assert widget.reports[1][1].cutoff == pytest.approx(0.35, rel=0.05)


def test_follows_data_changes_and_the_displayed_slice(qtbot, make_napari_viewer):
    viewer = make_napari_viewer()
    stack = np.stack([bandlimited((256, 256), 0.15), bandlimited((256, 256), 0.35, seed=4)])
    layer = viewer.add_image(stack, name="stack")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Resolution")
    viewer.layers.selection = {layer}
    viewer.dims.set_current_step(0, 0)
    wait_report(qtbot, widget, lambda r: r[0][1].cutoff == pytest.approx(0.15, rel=0.06))
    viewer.dims.set_current_step(0, 1)
    wait_report(qtbot, widget, lambda r: r[0][1].cutoff == pytest.approx(0.35, rel=0.06))
    layer.data = np.stack([bandlimited((256, 256), 0.25, seed=5)] * 2)  # e.g. a denoised layer updated
    wait_report(qtbot, widget, lambda r: r[0][1].cutoff == pytest.approx(0.25, rel=0.06))


def test_ticked_layers_when_not_following(qtbot, make_napari_viewer):
    from qtpy.QtCore import Qt

    viewer = make_napari_viewer()
    viewer.add_image(bandlimited((128, 128), 0.2), name="noisy")
    viewer.add_image(bandlimited((128, 128), 0.3, seed=9), name="reference")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Resolution")
    widget.follow.setChecked(False)
    for i in range(widget.layer_list.count()):
        widget.layer_list.item(i).setCheckState(Qt.CheckState.Checked)
    wait_report(qtbot, widget, lambda r: [n for n, _ in r] == ["noisy", "reference"])


def test_constant_and_bad_layers_give_messages(qtbot, make_napari_viewer):
    viewer = make_napari_viewer()
    flat = viewer.add_image(np.full((64, 64), 3.0, np.float32), name="flat")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Resolution")
    viewer.layers.selection = {flat}
    wait_report(qtbot, widget, lambda r: not isinstance(r[0][1], str) and r[0][1].message == NO_CUTOFF)
    assert NO_CUTOFF in widget.text.text()
    small = viewer.add_image(np.random.default_rng(0).random((16, 16)), name="small")
    viewer.layers.selection = {small}
    wait_report(qtbot, widget, lambda r: isinstance(r[0][1], str) and "too small" in r[0][1])
    assert "too small" in widget.text.text()
