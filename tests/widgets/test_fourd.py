"""The 4D-STEM panel: mean pattern, live virtual BF/ADF from the detector shapes, the pattern at a
clicked scan position, and Denoise on a worker with Cancel keeping the best weights."""

import numpy as np
import pytest
import torch

from napari_lowdose.core.fourd.detector import DetectorRegion, detector_mask, virtual_image

PLUGIN = "napari-lowdose"


def _scan(shape=(8, 7, 32, 32)):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[: shape[2], : shape[3]]
    r = np.hypot(yy - 16, xx - 16)
    disc = np.where(r < 6, 8.0, np.where(r < 13, 0.4, 0.05))
    contrast = 1 + 0.5 * rng.random(shape[:2])
    return rng.poisson(disc * contrast[..., None, None]).astype(np.uint16)


@pytest.fixture
def panel(make_napari_viewer):
    torch.manual_seed(0)
    viewer = make_napari_viewer()
    viewer.add_image(_scan(), name="scan", scale=(0.5, 0.5, 1, 1), units=("angstrom", "angstrom", "pixel", "pixel"))
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "4D-STEM")
    return viewer, w


def test_views_are_set_up_from_the_4d_layer(panel):
    viewer, w = panel
    data = viewer.layers["scan"].data
    for name in ("scan mean pattern", "BF detector", "ADF detector", "virtual BF", "virtual ADF", "scan position", "pattern at scan position"):
        assert name in viewer.layers, name
    assert len(viewer.layers["ADF detector"].data) == 2 and len(viewer.layers["BF detector"].data) == 1
    (center, radius), = __import__("napari_lowdose.widgets.fourd", fromlist=["circles"]).circles(viewer.layers["BF detector"])
    assert center == pytest.approx((16, 16), abs=0.6) and radius == pytest.approx(6, abs=1)
    assert viewer.layers["virtual ADF"].data.shape == (8, 7) and tuple(viewer.layers["virtual ADF"].scale) == (0.5, 0.5)
    np.testing.assert_array_equal(viewer.layers["pattern at scan position"].data, data[4, 3])


def test_editing_the_detector_updates_the_virtual_image(panel):
    viewer, w = panel
    data = viewer.layers["scan"].data
    adf = viewer.layers["ADF detector"]
    from napari_lowdose.widgets.fourd import _ellipse

    adf.data = [_ellipse((16, 16), 4), _ellipse((16, 16), 10)]
    assert adf.shape_type == ["ellipse", "ellipse"]
    expected = virtual_image(data, detector_mask((32, 32), DetectorRegion((16, 16), 10, 4)))
    np.testing.assert_allclose(viewer.layers["virtual ADF"].data, expected)


def test_clicking_a_scan_position_shows_its_pattern(panel):
    viewer, w = panel
    w.points.data = np.array([[0.5 * 2, 0.5 * 5]])  # world coordinates (Å): scan position (2, 5)
    assert w.position == (2, 5)
    np.testing.assert_array_equal(viewer.layers["pattern at scan position"].data, viewer.layers["scan"].data[2, 5])


def test_denoise_adds_a_float32_layer_of_the_same_shape(qtbot, panel):
    viewer, w = panel
    w.steps.setValue(2)
    w.minutes.setValue(5)
    w.denoise()
    with qtbot.waitSignal(w.worker.finished, timeout=120000):
        pass
    out = viewer.layers["scan denoised"].data
    assert out.shape == (8, 7, 32, 32) and out.dtype == np.float32 and np.isfinite(out).all()


def test_cancel_keeps_the_best_weights_and_still_denoises(qtbot, panel):
    viewer, w = panel
    w.minutes.setValue(30)
    w.denoise()
    qtbot.waitUntil(lambda: w.job.get("denoiser") is not None, timeout=120000)
    with qtbot.waitSignal(w.worker.finished, timeout=120000):
        w.cancel()
    den = w.job["denoiser"]
    assert len(den.nets) == 1 and den.history[-1].step < 1000  # stopped in its first cycle, best weights kept
    assert w.result is not None and "scan denoised" in viewer.layers


def test_bad_4d_data_gets_a_sentence(panel, tmp_path):
    viewer, w = panel
    np.save(tmp_path / "flat.npy", np.zeros((4, 16, 16), np.float32))
    w.open_file(str(tmp_path / "flat.npy"))
    assert "has 3 axes" in w.status.text()
