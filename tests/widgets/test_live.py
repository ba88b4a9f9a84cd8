"""Live panel: new files open as layers and are denoised as they arrive; keep the last N; pause/resume."""

import numpy as np
import pytest
import torch

from napari_lowdose.core.model import Model
from napari_lowdose.core.tiling import denoise
from napari_lowdose.core.unet import UNetConfig
from napari_lowdose.io import write_image

PLUGIN = "napari-lowdose"


@pytest.fixture
def live(make_napari_viewer, tmp_path, qtbot):
    torch.manual_seed(0)
    model = Model.new(UNetConfig(depth=2, base_channels=8), name="tiny live model")
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Live")
    _, widget.resolution_panel = viewer.window.add_plugin_dock_widget(PLUGIN, "Resolution")
    acq = tmp_path / "acq"
    acq.mkdir()
    write_image(acq / "old.tif", np.ones((40, 40), np.uint16), pixel_size=2.0)  # there before Start: left alone
    widget.folder.setText(str(acq))
    widget.set_model(model)
    widget.settle.setValue(0.2)
    widget.keep.setValue(2)
    yield viewer, widget, acq, model
    widget.stop()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=20000)


def _drop(folder, name, seed):
    data = np.random.default_rng(seed).poisson(6, (64, 80)).astype(np.uint16)
    write_image(folder / name, data, pixel_size=2.5)
    return data


def test_each_new_file_is_shown_and_denoised_newest_selected_last_n_kept(qtbot, live):
    viewer, widget, acq, model = live
    widget.start()
    assert widget.worker is not None and widget.start_button.text() == "Stop"  # start() returned at once
    a = _drop(acq, "a.tif", 1)
    qtbot.waitUntil(lambda: "a denoised" in viewer.layers, timeout=30000)
    out = viewer.layers["a denoised"]
    np.testing.assert_allclose(out.data, denoise(a, model, device="cpu"), rtol=1e-5, atol=1e-4)
    assert tuple(out.scale) == (2.5, 2.5) and [str(u) for u in out.units] == ["angstrom", "angstrom"]
    assert viewer.layers.selection.active is out and out.visible and not viewer.layers["a"].visible
    assert "old" not in viewer.layers

    widget.toggle_pause()
    qtbot.waitUntil(lambda: widget.paused, timeout=5000)
    _drop(acq, "b.tif", 2)
    qtbot.wait(1500)
    assert "b" not in viewer.layers  # paused: waits
    widget.toggle_pause()
    qtbot.waitUntil(lambda: "b denoised" in viewer.layers, timeout=30000)

    _drop(acq, "c.tif", 3)
    (acq / "d.tif").write_bytes(b"II*\x00" + bytes(300))  # corrupt
    qtbot.waitUntil(lambda: "c denoised" in viewer.layers and "d.tif" in widget.log.text(), timeout=30000)
    assert [layer.name for layer in viewer.layers] == ["b", "b denoised", "c", "c denoised"]  # keep last 2
    assert viewer.layers.selection.active is viewer.layers["c denoised"]
    resolution = widget.resolution_panel  # follows the selection: it measures the newest denoised image
    qtbot.waitUntil(lambda: [name for name, _ in resolution.reports] == ["c denoised"], timeout=10000)
    assert widget.log.text().count("d.tif") == 1


def test_start_without_a_folder_says_so(live):
    viewer, widget, acq, model = live
    widget.folder.setText(str(acq / "missing"))
    widget.start()
    assert widget.worker is None and "no such folder" in widget.status.text()
