import numpy as np
import pytest

from napari_lowdose.core.spectrum import fft_mask

PLUGIN = "napari-lowdose"


@pytest.fixture
def viewer_and_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    viewer.add_image(rng.poisson(20, (97, 130)).astype(np.uint16), name="odd", scale=(2.0, 2.0), units=("angstrom", "angstrom"))
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "FFT mask")
    return viewer, widget


def wait_preview(qtbot, widget, expected):
    qtbot.waitUntil(lambda: widget.preview_layer is not None and np.allclose(widget.preview_layer.data, expected, atol=1e-3), timeout=10000)


def test_preview_follows_the_slider(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    data = viewer.layers["odd"].data
    assert widget.preview_layer is None  # nothing is added before the user touches a control
    widget.start_preview()
    wait_preview(qtbot, widget, fft_mask(data, 0.65))
    assert widget.preview_layer.name == "odd FFT preview"
    assert tuple(widget.preview_layer.scale) == (2.0, 2.0)
    widget.slider.setValue(30)
    wait_preview(qtbot, widget, fft_mask(data, 0.30))
    widget.notch.setChecked(True)
    wait_preview(qtbot, widget, fft_mask(data, 0.30, notch=True))
    assert "Å⁻¹" in widget.cutoff_label.text() and "30% of Nyquist" in widget.cutoff_label.text()
    assert "0.075 Å⁻¹ (13.3 Å)" in widget.cutoff_label.text()  # 2 Å pixels: 0.3 x 0.5 / 2 Å = 0.075 Å⁻¹


def test_many_slider_steps_end_on_the_last_one(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    for value in range(20, 90, 3):
        widget.slider.setValue(value)
    wait_preview(qtbot, widget, fft_mask(viewer.layers["odd"].data, (value) / 100))


def test_apply_adds_a_filtered_layer_with_the_same_scale(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    widget.slider.setValue(50)
    widget.apply()
    qtbot.waitUntil(lambda: "odd FFT mask 50%" in viewer.layers, timeout=10000)
    out = viewer.layers["odd FFT mask 50%"]
    assert tuple(out.scale) == (2.0, 2.0) and [str(u) for u in out.units] == ["angstrom", "angstrom"]
    np.testing.assert_allclose(out.data, fft_mask(viewer.layers["odd"].data, 0.5), atol=1e-3)


def test_works_on_the_displayed_slice_of_a_stack(qtbot, make_napari_viewer):
    viewer = make_napari_viewer()
    stack = np.random.default_rng(1).random((3, 64, 80)).astype(np.float32)
    viewer.add_image(stack, name="stack")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "FFT mask")
    viewer.dims.set_current_step(0, 2)
    widget.start_preview()
    wait_preview(qtbot, widget, fft_mask(stack[2], 0.65))
    widget.apply()
    qtbot.waitUntil(lambda: "stack FFT mask 65%" in viewer.layers, timeout=10000)
    out = viewer.layers["stack FFT mask 65%"].data
    assert out.shape == stack.shape
    np.testing.assert_allclose(out[1], fft_mask(stack[1], 0.65), atol=1e-4)


def test_rgb_and_nan_layers_get_a_message_not_a_crash(qtbot, make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 32, 3), np.uint8), name="rgb", rgb=True)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "FFT mask")
    qtbot.waitUntil(lambda: "RGB" in widget.status.text(), timeout=5000)
    nan = np.ones((32, 32), np.float32)
    nan[3, 3] = np.nan
    viewer.add_image(nan, name="nan")
    widget.layer_combo.setCurrentText("nan")
    qtbot.waitUntil(lambda: "NaN/Inf" in widget.status.text(), timeout=5000)
    assert widget.preview_layer is None


def test_preview_and_readout_compute_off_the_gui_thread(qtbot, make_napari_viewer, monkeypatch):
    import threading

    from napari_lowdose.core import spectrum
    from napari_lowdose.widgets import resolution as resolution_widget

    threads = []
    original_apply, original_resolution = spectrum.MaskedFilter.apply, resolution_widget.resolution

    def spy_apply(self, *a, **k):
        threads.append(("mask", threading.current_thread()))
        return original_apply(self, *a, **k)

    def spy_resolution(*a, **k):
        threads.append(("readout", threading.current_thread()))
        return original_resolution(*a, **k)

    monkeypatch.setattr(spectrum.MaskedFilter, "apply", spy_apply)
    monkeypatch.setattr(resolution_widget, "resolution", spy_resolution)
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.random.default_rng(0).random((128, 128)).astype(np.float32), name="img")
    viewer.layers.selection = {layer}
    _, fft = viewer.window.add_plugin_dock_widget(PLUGIN, "FFT mask")
    viewer.window.add_plugin_dock_widget(PLUGIN, "Resolution")
    fft.start_preview()
    qtbot.waitUntil(lambda: {kind for kind, _ in threads} == {"mask", "readout"}, timeout=10000)
    assert all(t is not threading.main_thread() for _, t in threads)
