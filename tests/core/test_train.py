import copy
import math

import numpy as np
import pytest
import torch

from napari_lowdose.core.errors import LowdoseError
from napari_lowdose.core.losses import LossConfig
from napari_lowdose.core.model import Model
from napari_lowdose.core.progress import drive
from napari_lowdose.core.train import (
    SimDistribution,
    SimTrainConfig,
    TrainProgress,
    _validate,
    _validation_set,
    clean_target,
    iter_train_simulated,
    simulate_example,
)
from napari_lowdose.core.unet import UNetConfig

TINY = dict(patch=32, scene_size=64, pool=4, validation_images=2, batch=2, architecture=UNetConfig(depth=2, base_channels=8))


def test_distribution_covers_both_modalities_and_wide_ranges():
    d = SimDistribution()
    rng = np.random.default_rng(0)
    draws = [d.sample(rng, 64) for _ in range(200)]
    mods = {s.modality for s, _ in draws}
    assert mods == {"haadf", "hrtem"}
    px = [s.pixel_size for s, _ in draws if s.modality == "haadf"]
    assert min(px) < 1.0 and max(px) > 5.0
    e = [a.electrons_per_pixel(s.pixel_size) for s, a in draws]
    assert min(e) < 2 and max(e) > 50
    assert all(a.artifacts.column_gain == 0 for s, a in draws if s.modality == "hrtem")
    assert {s.element for s, _ in draws} == {"Au", "Pt"}
    with pytest.raises(LowdoseError):
        SimDistribution(modalities=("sem",))


def test_example_is_reproducible_and_target_is_in_detector_units():
    d = SimDistribution(modalities=("haadf",))
    scene, acq = d.sample(np.random.default_rng(1), 64)
    a, b = simulate_example(scene, acq, 5), simulate_example(scene, acq, 5)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    noisy, target = a
    assert noisy.shape == target.shape == (64, 64) and target.dtype == np.float32
    assert target.min() >= acq.detector_offset - 1e-3
    zero = clean_target(np.zeros((2, 2), np.float32), scene, acq)
    assert np.allclose(zero, acq.detector_offset)


def test_target_follows_the_scan_geometry_but_carries_no_noise_or_intensity_artifacts():
    from napari_lowdose.core.simulate import Acquisition, ScanArtifacts, SceneConfig

    scene = SceneConfig(shape=(64, 96), pixel_size=2.0, island_size=40.0)
    wobbly = Acquisition(dose=50.0, dwell_us=0.5, artifacts=ScanArtifacts(jitter_px=2.0), detector_gain=3.0, detector_offset=10.0)
    noisy, along = simulate_example(scene, wobbly, 9)
    _, straight = simulate_example(scene, wobbly, 9, along_scan=False)
    assert not np.allclose(along, straight)  # the jitter moved the lines
    # rows are shifted copies of the undistorted rows, not noisier versions of them
    assert along.std() == pytest.approx(straight.std(), rel=0.05)
    assert np.corrcoef(noisy.ravel(), along.ravel())[0, 1] > np.corrcoef(noisy.ravel(), straight.ravel())[0, 1]
    # without scan geometry the two targets are the same image
    plain = Acquisition(dose=50.0, artifacts=ScanArtifacts.none())
    assert np.array_equal(simulate_example(scene, plain, 9)[1], simulate_example(scene, plain, 9, along_scan=False)[1])


def test_training_lowers_the_loss_and_keeps_the_best_validation_weights():
    cfg = SimTrainConfig(steps=24, validate_every=4, lr=2e-3, seed=3, **TINY)
    records: list[TrainProgress] = []
    model = drive(iter_train_simulated(cfg), records.append)
    assert [r.step for r in records] == list(range(1, 25))
    first, last = np.mean([r.loss for r in records[:4]]), np.mean([r.loss for r in records[-4:]])
    assert last < first
    vals = [r.val_psnr for r in records if r.val_psnr is not None]
    assert len(vals) == 6 and records[-1].best_val_psnr == pytest.approx(max(vals))
    # the returned model holds the best weights, not the last ones
    score = _validate(model.net, _validation_set(cfg), "cpu")
    assert score == pytest.approx(max(vals), abs=1e-4)
    assert model.card.training["steps"] == 24
    # each new best comes with its weights (for a checkpoint); the last of them are the returned weights
    news = [r for r in records if r.best_weights is not None]
    assert news and all(r.val_psnr == r.best_val_psnr for r in news)
    assert all(torch.equal(v, model.net.state_dict()[k]) for k, v in news[-1].best_weights.items())


def test_training_with_the_seed_loss_runs_and_reports_its_terms():
    cfg = SimTrainConfig(steps=2, validate_every=2, loss=LossConfig.seed(), **TINY)
    records = []
    drive(iter_train_simulated(cfg), records.append)
    assert set(records[0].terms) == {"l1", "fourier", "resolution", "anisotropy"}
    assert all(math.isfinite(v) for v in records[0].terms.values())


def test_time_limit_stops_training():
    cfg = SimTrainConfig(steps=10_000, max_seconds=0.0, **TINY)
    records = []
    drive(iter_train_simulated(cfg), records.append)
    assert len(records) == 1 and records[0].val_psnr is not None


def test_bad_training_configs():
    with pytest.raises(LowdoseError):
        SimTrainConfig(patch=100)  # not a multiple of 32
    with pytest.raises(LowdoseError):
        SimTrainConfig(steps=0)
    for name in ("atomic_particles", "atomic_corrected"):
        with pytest.raises(LowdoseError, match=name):
            SimDistribution(**{name: 1.5})


def test_training_is_deterministic_from_the_seed():
    cfg = SimTrainConfig(steps=3, validate_every=3, **TINY)
    a = drive(iter_train_simulated(cfg))
    b = drive(iter_train_simulated(cfg))
    for (k, va), (_, vb) in zip(a.net.state_dict().items(), b.net.state_dict().items()):
        assert torch.equal(va, vb), k


def test_a_continuation_scores_its_starting_weights_and_never_returns_worse():
    cfg = SimTrainConfig(steps=6, validate_every=3, seed=4, **TINY)
    start = drive(iter_train_simulated(SimTrainConfig(steps=30, validate_every=10, lr=2e-3, seed=5, **TINY)))
    before = {k: v.clone() for k, v in start.net.state_dict().items()}
    start_score = _validate(start.net, _validation_set(cfg), "cpu")
    # a learning rate far too high: every step makes the weights worse
    wrecked = SimTrainConfig(steps=6, validate_every=3, lr=1.0, seed=4, **TINY)
    records: list[TrainProgress] = []
    out = drive(iter_train_simulated(wrecked, model=start), records.append)
    assert records[0].step == 0 and records[0].val_psnr == pytest.approx(start_score, abs=1e-4) and records[0].best_step == 0
    assert [r.step for r in records[1:]] == list(range(1, 7))
    later = [r.val_psnr for r in records[1:] if r.val_psnr is not None]
    assert len(later) == 2 and max(later) < start_score  # the steps did make it worse...
    assert out.card.training["best_step"] == 0  # ...so the starting weights come back
    assert out.card.training["start_validation_psnr_db"] == pytest.approx(start_score, abs=1e-3)
    for k, v in out.net.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_ema_validates_and_returns_the_averaged_weights():
    decay = 0.5
    start = drive(iter_train_simulated(SimTrainConfig(steps=2, validate_every=2, seed=1, **TINY)))
    w0 = {k: v.clone() for k, v in start.net.state_dict().items()}

    def copy_of_start() -> Model:
        return Model(copy.deepcopy(start.net), copy.deepcopy(start.card))

    # the raw weights after every step (the average does not change the training itself)
    plain = SimTrainConfig(steps=4, validate_every=2, lr=2e-3, seed=6, **TINY)
    model = copy_of_start()
    raw = {}
    for rec in iter_train_simulated(plain, model=model):
        if rec.step >= 1:
            raw[rec.step] = {k: v.clone() for k, v in model.net.state_dict().items()}
    averaged, state = {0: w0}, w0
    for step in sorted(raw):
        state = {k: decay * state[k] + (1 - decay) * raw[step][k] for k in state}
        averaged[step] = state

    cfg = SimTrainConfig(steps=4, validate_every=2, lr=2e-3, seed=6, ema=decay, **TINY)
    records: list[TrainProgress] = []
    out = drive(iter_train_simulated(cfg, model=copy_of_start()), records.append)
    val = _validation_set(cfg)
    for r in records:
        if r.val_psnr is not None:  # what was scored is the average at that step
            scored = copy_of_start()
            scored.net.load_state_dict(averaged[r.step])
            assert r.val_psnr == pytest.approx(_validate(scored.net, val, "cpu"), abs=1e-4), r.step
    best = out.card.training["best_step"]
    for k, v in out.net.state_dict().items():  # and the best of them comes back
        assert torch.allclose(v, averaged[best][k], atol=1e-6), k
    with pytest.raises(LowdoseError):
        SimTrainConfig(ema=1.0)


def test_hrtem_camera_point_spread_is_drawn_for_the_non_counting_fraction():
    from dataclasses import replace

    plain, cams = SimDistribution(modalities=("hrtem",)), SimDistribution(modalities=("hrtem",), hrtem_camera_psf=(0.2, 1.0), hrtem_counting=0.4)
    r1, r2 = np.random.default_rng(4), np.random.default_rng(4)
    assert all(plain.sample(r1, 32)[1].camera_psf_px == 0 for _ in range(20))
    psfs = [cams.sample(r2, 32)[1].camera_psf_px for _ in range(300)]
    assert 0.5 < np.mean([p > 0 for p in psfs]) < 0.7  # 60 % from a scintillator camera
    assert all(0.2 <= p <= 1.0 for p in psfs if p > 0)
    # the defaults draw nothing more: a distribution without cameras keeps its random sequence
    r3, r4 = np.random.default_rng(5), np.random.default_rng(5)
    assert [plain.sample(r3, 32) for _ in range(5)] == [SimDistribution(modalities=("hrtem",), hrtem_camera_psf=(0.2, 1.0)).sample(r4, 32) for _ in range(5)]
    with pytest.raises(LowdoseError, match="hrtem_camera_psf"):
        SimDistribution(hrtem_camera_psf=(1.0, 0.5))
    with pytest.raises(LowdoseError, match="hrtem_counting"):
        SimDistribution(hrtem_counting=1.5)
    # the target is the noise-free image through the same camera: blurred, not deconvolved
    scene, acq = plain.sample(np.random.default_rng(6), 64)
    _, sharp = simulate_example(scene, acq, 1)
    _, blurred = simulate_example(scene, replace(acq, camera_psf_px=1.5), 1)
    assert blurred.std() < sharp.std() and blurred.mean() == pytest.approx(sharp.mean(), rel=1e-3)


def test_atomic_haadf_dose_can_be_drawn_as_detected_electrons_per_pixel():
    dist = SimDistribution(modalities=("haadf",), atomic_fraction=1.0, atomic_haadf_detected=(0.05, 5.0), atomic_read_noise_e=0.2)
    rng = np.random.default_rng(3)
    for i in range(6):
        scene, acq, detected = dist.draw(rng, 64)
        assert 0.05 <= detected <= 5.0
        assert acq.read_noise <= 0.2 * acq.detector_gain  # read noise in electrons, whatever the gain
        _, target = simulate_example(scene, acq, i, detected=detected)
        electrons = (target - acq.detector_offset) / acq.detector_gain
        assert electrons.mean() == pytest.approx(detected, rel=0.05)  # the scan's stretch moves it a little
    # off by default: incident electrons, and the old random sequence
    r1, r2 = np.random.default_rng(8), np.random.default_rng(8)
    plain = SimDistribution(modalities=("haadf",), atomic_fraction=1.0)
    assert all(plain.draw(r1, 32)[2] is None for _ in range(3))
    with pytest.raises(LowdoseError, match="atomic_haadf_detected"):
        SimDistribution(atomic_haadf_detected=(1.0, 0.5))
    with pytest.raises(LowdoseError, match="atomic_read_noise_e"):
        SimDistribution(atomic_read_noise_e=-1.0)


def test_atomic_images_can_be_counts_without_scan_artifacts():
    dist = SimDistribution(modalities=("haadf",), atomic_fraction=1.0, atomic_counting=True, atomic_artifact_scale=(0.0, 0.0),
                           atomic_haadf_detected=(0.5, 1.0))
    scene, acq, detected = dist.draw(np.random.default_rng(2), 64)
    assert (acq.detector_gain, acq.detector_offset, acq.read_noise) == (1.0, 0.0, 0.0)
    assert acq.artifacts == acq.artifacts.scaled(0.0)
    noisy, target = simulate_example(scene, acq, 3, detected=detected)
    assert np.array_equal(noisy, np.rint(noisy)) and noisy.min() >= 0  # whole electrons
    assert target.mean() == pytest.approx(detected, rel=0.05)
