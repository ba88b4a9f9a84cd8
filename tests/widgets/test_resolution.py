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


def test_a_processed_layer_is_not_measurable_without_its_raw_input(qtbot, make_napari_viewer):
    from napari_lowdose.core.spectrum import NOT_MEASURABLE

    viewer = make_napari_viewer()
    prov = {"processing": "denoised", "model": "haadf", "input": "/nowhere/raw.emd", "date": "2026-11-28"}
    layer = viewer.add_image(bandlimited((128, 128), 0.2).astype(np.float32), name="out", metadata={"provenance": prov})
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Resolution")
    viewer.layers.selection = {layer}
    wait_report(qtbot, widget, lambda r: not isinstance(r[0][1], str) and r[0][1].note != "")
    rep = widget.reports[0][1]
    assert rep.cutoff is None and rep.frc_cutoff is None
    text = widget.text.text()
    assert NOT_MEASURABLE in text and "raw input is not open" in text
    assert "Nyquist" not in text and "cyc/px" not in text  # no number at all


def test_denoise_panel_output_gets_the_half_data_frc_from_its_raw_input(qtbot, make_napari_viewer):
    import torch

    from napari_lowdose.core.halfmap import HalfDataFRC
    from napari_lowdose.core.model import Model
    from napari_lowdose.core.unet import UNetConfig

    viewer = make_napari_viewer()
    viewer.add_image(bandlimited((128, 128), 0.2), name="raw")
    _, den = viewer.window.add_plugin_dock_widget(PLUGIN, "Denoise")
    torch.manual_seed(0)
    den.set_model(Model.new(UNetConfig(depth=3, base_channels=8), name="tiny"))
    den.device.setCurrentText("cpu")
    den.run()
    with qtbot.waitSignal(den.worker.finished, timeout=30000):
        pass
    out = viewer.layers["raw denoised"]
    assert out.metadata["provenance"]["input_layer"] == "raw" and out.metadata["provenance"]["model"] == "tiny"
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Resolution")
    viewer.layers.selection = {out}
    qtbot.waitUntil(lambda: isinstance(widget.half_data.get("raw denoised"), HalfDataFRC), timeout=30000)
    assert widget.half_data["raw denoised"].counts_source == "integer counts"
    qtbot.waitUntil(lambda: "half-data FRC" in widget.text.text(), timeout=10000)
    assert "not measurable on a processed image" in widget.text.text()
