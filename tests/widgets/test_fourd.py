"""The 4D-STEM panel: mean pattern, live virtual BF/ADF from the detector shapes, the pattern at a
clicked scan position (all computed on workers, never in the GUI thread), and Denoise on a worker with
Cancel keeping the best weights."""

import threading

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


def _wait_views(qtbot, w):
    qtbot.waitUntil(lambda: not w.views_busy() and "virtual ADF" in w.viewer.layers and "virtual BF" in w.viewer.layers, timeout=60000)


@pytest.fixture
def panel(make_napari_viewer, qtbot):
    torch.manual_seed(0)
    viewer = make_napari_viewer()
    viewer.add_image(_scan(), name="scan", scale=(0.5, 0.5, 1, 1), units=("angstrom", "angstrom", "pixel", "pixel"))
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "4D-STEM")
    _wait_views(qtbot, w)
    return viewer, w


class _Recorder:
    """A 4D array-like that records the threads reading more than one pattern from it (napari's own
    display reads one plane in the GUI thread, as it does for a dask array)."""

    def __init__(self, data):
        self.data, self.shape, self.dtype, self.ndim = data, data.shape, data.dtype, data.ndim
        self.threads = set()

    def __getitem__(self, key):
        out = self.data[key]
        if np.size(out) > self.shape[2] * self.shape[3]:
            self.threads.add(threading.get_ident())
        return out

    def __array__(self, dtype=None, copy=None):
        self.threads.add(threading.get_ident())
        return np.asarray(self.data, dtype)


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


def test_editing_the_detector_updates_the_virtual_image(panel, qtbot):
    viewer, w = panel
    data = viewer.layers["scan"].data
    adf = viewer.layers["ADF detector"]
    from napari_lowdose.widgets.fourd import _ellipse

    with qtbot.waitSignal(w.view_ready, check_params_cb=lambda key: key == "ADF", timeout=60000):
        adf.data = [_ellipse((16, 16), 4), _ellipse((16, 16), 10)]
    _wait_views(qtbot, w)
    assert adf.shape_type == ["ellipse", "ellipse"]
    expected = virtual_image(data, detector_mask((32, 32), DetectorRegion((16, 16), 10, 4)))
    np.testing.assert_allclose(viewer.layers["virtual ADF"].data, expected)


def test_clicking_a_scan_position_shows_its_pattern(panel, qtbot):
    viewer, w = panel
    with qtbot.waitSignal(w.view_ready, check_params_cb=lambda key: key == "pattern", timeout=60000):
        w.points.data = np.array([[0.5 * 2, 0.5 * 5]])  # world coordinates (Å): scan position (2, 5)
    _wait_views(qtbot, w)
    assert w.position == (2, 5)
    np.testing.assert_array_equal(viewer.layers["pattern at scan position"].data, viewer.layers["scan"].data[2, 5])


def test_the_data_is_read_on_workers_never_in_the_gui_thread(make_napari_viewer, qtbot):
    """Mean pattern, virtual images and the pattern at a position are computed on worker threads; a
    newer request for the same view wins over one still running."""
    viewer = make_napari_viewer()
    data = _scan()
    rec = _Recorder(data)
    viewer.add_image(data, name="scan", scale=(0.5, 0.5, 1, 1))
    viewer.layers["scan"].data = rec  # napari slices through __getitem__ only the displayed plane
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "4D-STEM")
    main = threading.get_ident()
    rec.threads.clear()
    with qtbot.waitSignal(w.view_ready, check_params_cb=lambda key: key == "mean", timeout=60000):
        w.setup()
    _wait_views(qtbot, w)
    assert rec.threads and main not in rec.threads, "the 4D data was read in the GUI thread"
    np.testing.assert_allclose(w.mean, data.mean(axis=(0, 1)))
    np.testing.assert_allclose(viewer.layers["virtual BF"].data, virtual_image(data, detector_mask((32, 32), w_region(w, "BF"))))
    from napari_lowdose.widgets.fourd import _ellipse

    adf = viewer.layers["ADF detector"]
    rec.threads.clear()
    adf.data = [_ellipse((16, 16), 2), _ellipse((16, 16), 14)]
    adf.data = [_ellipse((16, 16), 5), _ellipse((16, 16), 9)]  # the newest request wins
    _wait_views(qtbot, w)
    assert main not in rec.threads
    expected = virtual_image(data, detector_mask((32, 32), DetectorRegion((16, 16), 9, 5)))
    np.testing.assert_allclose(viewer.layers["virtual ADF"].data, expected)


def w_region(w, key):
    from napari_lowdose.widgets.fourd import region_from_shapes

    return region_from_shapes(w.detectors[key])


@pytest.mark.parametrize("finish", ["fuse", "thin"])  # the two finishes the default ("auto") chooses between
def test_denoise_adds_a_float32_layer_of_the_same_shape(qtbot, panel, finish):
    viewer, w = panel
    assert w.config().finish == "auto"
    w.finish.setCurrentIndex(w.finish.findData(finish))
    assert w.config().finish == finish
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


def test_a_lazy_dask_layer_is_browsed_block_by_block(make_napari_viewer, qtbot):
    da = pytest.importorskip("dask.array")
    viewer = make_napari_viewer()
    data = _scan((9, 6, 32, 32))
    viewer.add_image(da.from_array(data, chunks=(2, 6, 32, 32)), name="lazy scan")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "4D-STEM")
    _wait_views(qtbot, w)
    np.testing.assert_allclose(w.mean, data.mean(axis=(0, 1)))
    region = w_region(w, "ADF")
    np.testing.assert_allclose(viewer.layers["virtual ADF"].data, virtual_image(data, detector_mask((32, 32), region)))
    np.testing.assert_array_equal(viewer.layers["pattern at scan position"].data, data[4, 3])
