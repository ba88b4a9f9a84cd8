import threading

import numpy as np
import pytest
import torch

from napari_lowdose.core.model import BUNDLED_MODELS, Model, save_model
from napari_lowdose.core.tiling import denoise
from napari_lowdose.core.unet import UNetConfig

PLUGIN = "napari-lowdose"


@pytest.fixture
def small_model():
    torch.manual_seed(0)
    return Model.new(UNetConfig(depth=3, base_channels=8), name="small test model")


@pytest.fixture
def setup(make_napari_viewer, small_model):
    viewer = make_napari_viewer()
    data = np.random.default_rng(0).poisson(5, (150, 170)).astype(np.uint16)
    viewer.add_image(data, name="noisy", scale=(2.0, 2.0), translate=(10.0, 20.0), units=("angstrom", "angstrom"))
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Denoise")
    widget.set_model(small_model)
    widget.tile.setValue(64)
    widget.overlap.setValue(16)
    widget.device.setCurrentText("cpu")
    widget.guard.setCurrentIndex(widget.guard.findData("off"))  # Poisson counts: auto would run the guard (its own tests)
    return viewer, widget, data


def test_run_adds_denoised_layer_with_scale_and_translate(qtbot, setup, small_model):
    viewer, widget, data = setup
    assert "small test model" in widget.model_label.text()
    widget.run()
    assert widget.worker is not None  # run() returned while the work goes on
    with qtbot.waitSignal(widget.worker.finished, timeout=30000):
        pass
    out = viewer.layers["noisy denoised"]
    assert tuple(out.scale) == (2.0, 2.0) and tuple(out.translate) == (10.0, 20.0)
    assert [str(u) for u in out.units] == ["angstrom", "angstrom"]
    np.testing.assert_allclose(out.data, denoise(data, small_model, tile=64, overlap=16, device="cpu"), rtol=1e-5, atol=1e-4)
    assert widget.run_button.isEnabled() and not widget.cancel_button.isEnabled()


def test_average_over_flips(qtbot, setup, small_model):
    viewer, widget, data = setup
    widget.flips.setCurrentIndex(widget.flips.findData(4))
    widget.run()
    assert "4 flips" in widget.status.text()
    with qtbot.waitSignal(widget.worker.finished, timeout=30000):
        pass
    expected = denoise(data, small_model, tile=64, overlap=16, device="cpu", flips=4)
    np.testing.assert_allclose(viewer.layers["noisy denoised"].data, expected, rtol=1e-5, atol=1e-4)
    assert np.abs(expected - denoise(data, small_model, tile=64, overlap=16, device="cpu")).max() > 1e-4


def test_refine_follows_the_card_or_the_user(qtbot, setup, small_model):
    viewer, widget, data = setup
    assert widget.refine.currentData() == "auto"
    widget.refine.setCurrentIndex(widget.refine.findData("wiener"))
    widget.run()
    assert "Wiener refinement" in widget.status.text()
    with qtbot.waitSignal(widget.worker.finished, timeout=30000):
        pass
    out = viewer.layers["noisy denoised"]
    expected = denoise(data, small_model, tile=64, overlap=16, device="cpu", refine="wiener")
    np.testing.assert_allclose(out.data, expected, rtol=1e-5, atol=1e-3)
    assert out.metadata["refine"] == "wiener"
    assert np.abs(expected - denoise(data, small_model, tile=64, overlap=16, device="cpu")).max() > 1e-3
    widget.set_model("hrtem")  # its card chooses Wiener; 'model's choice' then says so
    assert "refine (model's choice): wiener" in widget.model_label.text()


def test_a_skipped_refinement_is_said_in_the_final_status(qtbot, setup, small_model):
    from scipy import ndimage

    viewer, widget, _ = setup
    blurred = ndimage.gaussian_filter(np.random.default_rng(1).poisson(30, (128, 128)).astype(np.float32), 1.0)
    viewer.add_image(blurred, name="camera")  # correlated noise: the refinement must not run
    widget.layer_combo.setCurrentText("camera")
    widget.refine.setCurrentIndex(widget.refine.findData("wiener"))
    widget.run()
    with qtbot.waitSignal(widget.worker.finished, timeout=30000):
        pass
    assert "done: camera denoised" in widget.status.text() and "Wiener refinement skipped" in widget.status.text()
    expected = denoise(blurred, small_model, tile=64, overlap=16, device="cpu", refine="none")
    np.testing.assert_allclose(viewer.layers["camera denoised"].data, expected, rtol=1e-5, atol=1e-4)


def test_result_fills_in_progressively_off_the_gui_thread(qtbot, setup, monkeypatch):
    from napari_lowdose.core import tiling
    from napari_lowdose.widgets import _denoise_work

    viewer, widget, _ = setup
    monkeypatch.setattr(_denoise_work, "SNAPSHOT_SECONDS", 0.0)
    threads, shown = [], []
    original_run = tiling.TiledDenoiser.run

    def spy_run(self, *a, **k):
        threads.append(threading.current_thread())
        return (yield from original_run(self, *a, **k))

    monkeypatch.setattr(tiling.TiledDenoiser, "run", spy_run)
    original_show = widget._show
    monkeypatch.setattr(widget, "_show", lambda d: (shown.append((d != 0).mean()), original_show(d)))
    widget.tile.setValue(32)
    widget.overlap.setValue(8)
    widget.run()
    with qtbot.waitSignal(widget.worker.finished, timeout=30000):
        pass
    assert threads and all(t is not threading.main_thread() for t in threads)
    assert len(shown) >= 3 and shown[0] < 1.0 and shown[-1] == 1.0  # partial first, complete last


def test_cancel_stops_and_keeps_partial_result(qtbot, setup, monkeypatch):
    from napari_lowdose.widgets import _denoise_work

    viewer, widget, _ = setup
    monkeypatch.setattr(_denoise_work, "SNAPSHOT_SECONDS", 0.0)
    viewer.layers["noisy"].data = np.random.default_rng(1).random((600, 600)).astype(np.float32)
    widget.tile.setValue(32)
    widget.overlap.setValue(8)
    widget.run()
    worker = widget.worker
    with qtbot.waitSignal(worker.yielded, timeout=30000):
        pass
    with qtbot.waitSignal(worker.aborted, timeout=30000):
        widget.cancel()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=30000)
    assert "cancelled" in widget.status.text()
    assert widget.run_button.isEnabled()


def test_closing_napari_during_a_run_ends_the_thread(qtbot, make_napari_viewer, small_model):
    from superqt.utils._qthreading import WorkerBase

    viewer = make_napari_viewer()
    viewer.add_image(np.random.default_rng(2).random((800, 800)).astype(np.float32), name="big")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Denoise")
    widget.set_model(small_model)
    widget.tile.setValue(32)
    widget.device.setCurrentText("cpu")
    widget.run()
    worker = widget.worker
    with qtbot.waitSignal(worker.yielded, timeout=30000):
        pass
    viewer.close()
    qtbot.waitUntil(lambda: not WorkerBase._worker_set, timeout=30000)
    assert not worker.is_running


def test_side_by_side_links_contrast(qtbot, setup):
    from napari_lowdose._viewer import grid

    viewer, widget, _ = setup
    widget.run()
    with qtbot.waitSignal(widget.worker.finished, timeout=30000):
        pass
    widget.side_by_side.setChecked(True)
    assert grid(viewer).enabled
    viewer.layers["noisy"].contrast_limits = (1.0, 9.0)
    assert tuple(viewer.layers["noisy denoised"].contrast_limits) == (1.0, 9.0)
    viewer.layers["noisy denoised"].contrast_limits = (2.0, 8.0)
    assert tuple(viewer.layers["noisy"].contrast_limits) == (2.0, 8.0)


def test_bad_models_and_layers_give_messages(qtbot, setup, tmp_path, small_model):
    viewer, widget, _ = setup
    torch.save({"w": torch.zeros(1)}, tmp_path / "evil.pt")
    assert not widget.set_model(str(tmp_path / "evil.pt"))
    assert "pickled" in widget.status.text()
    assert widget.model is small_model  # the previous model stays, and the list shows it
    assert widget.model_combo.currentData() is small_model
    path = save_model(small_model, tmp_path / "ok")
    assert widget.set_model(str(path)) and widget.model.path == path
    viewer.add_image(np.zeros((32, 32, 3), np.uint8), name="rgb", rgb=True)
    widget.layer_combo.setCurrentText("rgb")
    widget.run()
    assert "RGB" in widget.status.text() and widget.worker is None
    nan = np.ones((64, 64), np.float32)
    nan[1, 1] = np.nan
    viewer.add_image(nan, name="nan")
    widget.layer_combo.setCurrentText("nan")
    widget.run()
    qtbot.waitUntil(lambda: "NaN/Inf" in widget.status.text(), timeout=30000)


def test_choose_a_bundled_model_in_the_list(qtbot, setup, small_model):
    _, widget, _ = setup
    labels = [widget.model_combo.itemText(i) for i in range(widget.model_combo.count())]
    bundled = len(BUNDLED_MODELS)
    assert labels[:2] == ["HAADF-STEM (bundled, default)", "HRTEM (bundled)"]
    assert labels[bundled].startswith("small test model")  # set_model added it
    widget.model_combo.setCurrentIndex(1)
    widget.model_combo.activated.emit(1)
    assert widget.model.name == "hrtem" and "hrtem" in widget.model_label.text()
    assert widget.set_model(None) and widget.model.name == "haadf" and widget.model_combo.currentIndex() == 0
    assert widget.set_model(small_model) and widget.model_combo.count() == bundled + 1  # no duplicate entry


def test_tiny_constant_and_4d_stem_layers_are_refused_before_any_work(qtbot, setup):
    viewer, widget, _ = setup
    for name, data, meta, words in (
        ("tiny", np.random.default_rng(0).random((3, 3)), {}, "too small"),
        ("zeros", np.zeros((64, 64), np.uint16), {}, "constant"),
        ("scan", np.random.default_rng(0).random((3, 3, 40, 40)), {"kind": "4D-STEM"}, "4D-STEM"),
    ):
        viewer.add_image(data, name=name, metadata=meta)
        widget.layer_combo.setCurrentText(name)
        widget.run()
        assert widget.worker is None and words in widget.status.text(), name
        assert f"{name} denoised" not in viewer.layers


def test_model_chosen_from_metadata_and_range_warned(make_napari_viewer):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Denoise")
    data = np.random.default_rng(0).poisson(5, (96, 96)).astype(np.uint16)
    viewer.add_image(data, name="tem image", scale=(0.1, 0.1), units=("angstrom", "angstrom"), metadata={"mode": "tem"})
    widget.layer_combo.setCurrentText("tem image")
    assert widget.model.name == "hrtem" and "chosen from the file's metadata" in widget.choice_label.text()
    assert "outside" in widget.choice_label.text()  # 0.1 Å/px lies outside the range the card states
    viewer.add_image(data, name="stem image", scale=(1.0, 1.0), units=("angstrom", "angstrom"), metadata={"mode": "stem"})
    widget.layer_combo.setCurrentText("stem image")
    assert widget.model.name == "haadf" and "outside" not in widget.choice_label.text()
    widget._user_picked_model(widget.model_combo.findData("hrtem"))  # the user's choice wins from now on
    widget.layer_combo.setCurrentText("tem image")
    widget.layer_combo.setCurrentText("stem image")
    assert widget.model.name == "hrtem" and "your choice" in widget.choice_label.text()


def test_adapt_then_denoise_reports_what_adaptation_did(qtbot, setup, small_model):
    viewer, widget, data = setup
    widget.adapt.setValue(2)
    widget.run()
    with qtbot.waitSignal(widget.worker.finished, timeout=120000):
        pass
    assert "noisy denoised" in viewer.layers
    text = widget.status.text()
    assert "adapt" in text and ("blind-spot score" in text or "not adapted" in text)


def test_guard_runs_on_the_result_and_says_what_it_chose(qtbot, setup, small_model):
    from napari_lowdose.widgets.trust import DETECTOR_KEY

    viewer, widget, data = setup
    viewer.layers["noisy"].metadata[DETECTOR_KEY] = {"gain": 1.0, "offset": 0.0, "source": "typed"}  # Poisson counts
    widget.guard.setCurrentIndex(widget.guard.findData("auto"))
    assert widget._guarded(viewer.layers["noisy"])  # auto: an image of counts without scan noise
    viewer.layers["noisy"].data = (100.0 + 7.0 * data).astype(np.float32)
    assert not widget._guarded(viewer.layers["noisy"])  # ADU, and this model's card records no range
    viewer.layers["noisy"].data = data
    widget.guard.setCurrentIndex(widget.guard.findData("on"))
    widget.run()
    with qtbot.waitSignal(widget.worker.finished, timeout=120000):
        pass
    text = widget.status.text()
    assert "guard: " in text and "gain 1 ADU/e⁻, offset 0 ADU given" in text
    net = denoise(data, small_model, tile=64, overlap=16, device="cpu")
    out = viewer.layers["noisy denoised"].data
    assert out.shape == data.shape and not np.allclose(out, net)  # an untrained network is not kept whole


def test_cancel_during_the_guard_keeps_the_networks_result(qtbot, setup, small_model):
    from napari_lowdose.widgets.trust import DETECTOR_KEY

    viewer, widget, data = setup
    viewer.layers["noisy"].metadata[DETECTOR_KEY] = {"gain": 1.0, "offset": 0.0, "source": "typed"}
    widget.guard.setCurrentIndex(widget.guard.findData("on"))
    widget.run()
    qtbot.waitUntil(lambda: "guard: held-out fold 1 of" in widget.status.text(), timeout=120000)  # inside the guard
    with qtbot.waitSignal(widget.worker.finished, timeout=120000):
        widget.cancel()
    assert "cancelled" in widget.status.text()
    net = denoise(data, small_model, tile=64, overlap=16, device="cpu")
    np.testing.assert_allclose(viewer.layers["noisy denoised"].data, net, rtol=1e-5, atol=1e-4)


def test_the_guard_after_adaptation_runs_the_adapted_model(monkeypatch, small_model):
    import napari_lowdose.core.guard as guard
    from napari_lowdose.core.progress import drive
    from napari_lowdose.core.tiling import TiledDenoiser
    from napari_lowdose.widgets._denoise_work import with_guard

    torch.manual_seed(1)
    adapted = Model.new(UNetConfig(depth=3, base_channels=8), name="adapted")
    template = TiledDenoiser(small_model, tile=64, overlap=16, device="cpu")
    data = np.random.default_rng(2).poisson(5, (64, 64)).astype(np.float32)
    seen = {}

    def fake_iter_guard_plane(image, denoised, network, gain, offset):
        seen["network"] = network(image)
        yield 0
        return denoised, None, "guard: recorded"

    monkeypatch.setattr(guard, "iter_guard_plane", fake_iter_guard_plane)

    def body():
        yield None
        return data

    notes: list = []
    drive(with_guard(body(), data, template, 1.0, 0.0, notes, used=[template.like(adapted)]))
    np.testing.assert_allclose(seen["network"], denoise(data, adapted, tile=64, overlap=16, device="cpu"), rtol=1e-5, atol=1e-4)
    assert notes == ["guard: recorded"]
    drive(with_guard(body(), data, template, 1.0, 0.0, notes))  # no adaptation: the template's model
    np.testing.assert_allclose(seen["network"], denoise(data, small_model, tile=64, overlap=16, device="cpu"), rtol=1e-5, atol=1e-4)
