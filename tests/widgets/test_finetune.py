import numpy as np
import pytest
import torch

from napari_lowdose.core.model import Model, load_model
from napari_lowdose.core.simulate import Acquisition, SceneConfig, simulate_pair
from napari_lowdose.core.tiling import denoise
from napari_lowdose.core.unet import UNetConfig

PLUGIN = "napari-lowdose"


@pytest.fixture
def setup(make_napari_viewer):
    torch.manual_seed(0)
    viewer = make_napari_viewer()
    p = simulate_pair(SceneConfig(shape=(208, 192), pixel_size=4.0, island_size=60.0), Acquisition(dose=2.0), seed=8)
    viewer.add_image(p.low, name="1us", scale=(4.0, 4.0), units=("angstrom", "angstrom"))
    viewer.add_image(p.high, name="4us", scale=(4.0, 4.0), units=("angstrom", "angstrom"))
    _, den = viewer.window.add_plugin_dock_widget(PLUGIN, "Denoise")
    den.set_model(Model.new(UNetConfig(depth=3, base_channels=8), name="tiny"))
    _, ft = viewer.window.add_plugin_dock_widget(PLUGIN, "Fine-tune")
    ft.set_pair(0, "1us", "4us")
    ft.lr.setValue(1e-3)
    return viewer, den, ft, p


def test_train_makes_the_tuned_model_current_and_save_writes_it(qtbot, setup, tmp_path):
    viewer, den, ft, p = setup
    ft.steps.setValue(6)
    ft.train()
    assert ft.worker is not None  # returned at once; the work goes on in the background
    with qtbot.waitSignal(ft.worker.finished, timeout=60000):
        pass
    assert ft.tuned is not None and den.model is ft.tuned
    assert "fine-tuned: 6 steps" in den.model_label.text()
    assert "1us / 4us" in ft.tuned.card.training["finetune"]["pairs"][0]
    assert ft._val and ft._steps == list(range(1, 7))
    preview = viewer.layers["fine-tune preview (validation strip)"]
    # placed over the held-out strip at the bottom of the noisy layer, in its units
    assert tuple(preview.scale) == (4.0, 4.0) and [str(u) for u in preview.units] == ["angstrom", "angstrom"]
    assert preview.translate[0] == 4.0 * ft.tuner.val_origin[0][0] and preview.translate[0] + 4.0 * preview.data.shape[0] == 4.0 * 208
    ft.save(tmp_path / "tuned.safetensors")
    back = load_model(tmp_path / "tuned.safetensors")
    x = p.low[:64, :64]
    assert np.array_equal(denoise(x, back, device="cpu"), denoise(x, ft.tuned, device="cpu"))


def test_cancel_stops_within_a_second_and_keeps_the_best_weights(qtbot, setup):
    import time

    viewer, den, ft, _ = setup
    ft.minutes.setValue(10.0)
    ft.train()
    qtbot.waitUntil(lambda: ft.tuner is not None and ft.tuner.step >= 2, timeout=60000)
    t0 = time.monotonic()
    with qtbot.waitSignal(ft.worker.finished, timeout=10000):
        ft.cancel()
    assert time.monotonic() - t0 < 1.0 + 1.0  # one training step of the tiny model, plus the slot round trip
    assert ft.tuner.reason == "stopped"
    best = ft.tuner.best_state
    assert all(torch.equal(best[k], v) for k, v in ft.tuned.net.state_dict().items())
    assert den.model is ft.tuned


def test_event_loop_keeps_running_while_training(qtbot, setup):
    from qtpy.QtCore import QTimer

    _, _, ft, _ = setup
    ft.steps.setValue(15)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(20)
    ft.train()
    with qtbot.waitSignal(ft.worker.finished, timeout=60000):
        pass
    timer.stop()
    assert len(ticks) >= 10  # the GUI thread processed timer events throughout


def test_bad_pairs_give_clear_messages(qtbot, setup):
    viewer, _, ft, p = setup
    viewer.add_image(p.high[:, :100], name="cropped")
    ft.set_pair(0, "1us", "cropped")
    ft.steps.setValue(2)
    ft.train()
    qtbot.waitUntil(lambda: ft.worker is None, timeout=30000)  # the check fails fast, on the worker
    assert "same shape" in ft.status.text() and ft.tuned is None
    ft.set_pair(0, "1us", "1us")
    ft.train()
    assert ft.worker is None and "same layer" in ft.status.text()


def test_self_supervised_without_reference(qtbot, setup):
    _, den, ft, _ = setup
    ft.set_pair(0, "1us", None)
    ft.steps.setValue(3)
    ft.train()
    with qtbot.waitSignal(ft.worker.finished, timeout=60000):
        pass
    assert ft.tuned is not None and ft.tuned.card.training["finetune"]["mode"].startswith("self-supervised")


def test_closing_napari_during_training_ends_the_thread(qtbot, make_napari_viewer):
    viewer = make_napari_viewer()
    p = simulate_pair(SceneConfig(shape=(208, 192), pixel_size=4.0, island_size=60.0), seed=9)
    viewer.add_image(p.low, name="a")
    viewer.add_image(p.high, name="b")
    _, den = viewer.window.add_plugin_dock_widget(PLUGIN, "Denoise")
    den.set_model(Model.new(UNetConfig(depth=3, base_channels=8)))
    _, ft = viewer.window.add_plugin_dock_widget(PLUGIN, "Fine-tune")
    ft.set_pair(0, "a", "b")
    ft.minutes.setValue(10.0)
    ft.train()
    worker = ft.worker
    qtbot.waitUntil(lambda: ft.tuner is not None and ft.tuner.step >= 1, timeout=60000)
    with qtbot.waitSignal(worker.finished, timeout=10000):
        viewer.close()


def test_shapes_layer_marks_training_and_validation_areas(qtbot, setup):
    viewer, _, ft, _ = setup  # images 208 x 192 px at 4 Å/px
    # rectangles in world coordinates (Å): training rows 0-140 px, validation rows 150-200 px, cols 20-180 px
    train = np.array([[0, 0], [0, 768], [560, 768], [560, 0]], float)
    val = np.array([[600, 80], [600, 720], [800, 720], [800, 80]], float)
    viewer.add_shapes([train, val], shape_type="rectangle", name="areas")
    ft.areas.setCurrentText("areas")
    assert ft.boxes() == ((0, 140, 0, 192), (150, 200, 20, 180))
    ft.steps.setValue(2)
    ft.train()
    with qtbot.waitSignal(ft.worker.finished, timeout=60000):
        pass
    assert ft.tuner._val[0][0].shape == (50, 160) and ft.tuner.val_origin == [(150, 20)]
    assert ft.tuned is not None


def test_start_from_the_denoise_panels_model_or_a_bundled_one(setup):
    _, den, ft, _ = setup
    assert ft._base_model() is den.model  # the Denoise panel's current model ("tiny")
    ft.start_from.setCurrentIndex(ft.start_from.findData("hrtem"))
    assert ft._base_model().name == "hrtem"
    ft.start_from.setCurrentIndex(ft.start_from.findData("haadf"))
    assert ft._base_model().name == "haadf"
