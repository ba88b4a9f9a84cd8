import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from napari_lowdose.core.errors import LowdoseError
from napari_lowdose.core.finetune import (
    FinetuneConfig,
    FineTuner,
    PairError,
    estimate_shift,
    prepare_pair,
)
from napari_lowdose.core.model import Model, load_model, save_model
from napari_lowdose.core.progress import drive
from napari_lowdose.core.simulate import Acquisition, SceneConfig, simulate_pair
from napari_lowdose.core.tiling import denoise
from napari_lowdose.core.unet import UNetConfig

TINY = UNetConfig(depth=2, base_channels=8)


@pytest.fixture(scope="module")
def pair():
    p = simulate_pair(SceneConfig(shape=(192, 160), pixel_size=4.0, island_size=60.0), Acquisition(dose=2.0), seed=11)
    return p.low, p.high


def test_phase_correlation_finds_a_sub_pixel_shift(pair):
    low, high = pair
    moved = np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(high.astype(float)), (3.4, -5.7))).real
    dy, dx, sig = estimate_shift(low.astype(float), moved)
    assert dy == pytest.approx(-3.4, abs=0.25) and dx == pytest.approx(5.7, abs=0.25)
    assert sig > 8


def test_prepare_pair_corrects_the_shift_and_matches_intensity(pair):
    low, high = pair
    moved = np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(high.astype(float)), (2.0, 3.0))).real
    p = prepare_pair(low, 3.0 * moved + 50.0, name="A")
    assert p.shifted and p.crop >= 5 and p.noisy.shape == p.target.shape
    # 0.35 px: the 1 µs image's scan stretch differs from the 4 µs one's, so no shift fits exactly
    assert p.shift[0] == pytest.approx(-2.0, abs=0.35) and p.shift[1] == pytest.approx(-3.0, abs=0.35)
    assert "shifted by" in p.report()
    # the target is in the noisy image's units: same mean, and it tracks the noisy image
    assert p.target.mean() == pytest.approx(p.noisy.mean(), rel=1e-3)
    assert np.corrcoef(p.target.ravel(), p.noisy.ravel())[0, 1] > 0.5
    aligned = prepare_pair(low, high, name="B")
    assert not aligned.shifted and aligned.crop == 0


def test_mismatched_and_misaligned_pairs_are_refused_clearly(pair):
    low, high = pair
    with pytest.raises(PairError, match="same shape"):
        prepare_pair(low, high[:, :100])
    other = simulate_pair(SceneConfig(shape=low.shape, pixel_size=4.0), seed=99).high
    with pytest.raises(PairError, match="do not line up"):
        prepare_pair(low, other)
    with pytest.raises(LowdoseError):
        prepare_pair(np.full((192, 160), np.nan), high)
    with pytest.raises(PairError, match="2D"):
        prepare_pair(np.stack([low, low]))


def _tuner(pair, **kw):
    low, high = pair
    model = Model.new(TINY)
    cfg = FinetuneConfig(**{"steps": 6, "minutes": None, "patch": 64, "batch": 2, "validate_every": 0.0, "lr": 1e-3, **kw})
    return model, FineTuner(model, [prepare_pair(low, high)], cfg)


def test_finetune_improves_validation_and_returns_the_best_weights(pair):
    model, tuner = _tuner(pair, steps=30, loss=__import__("napari_lowdose.core.losses", fromlist=["LossConfig"]).LossConfig())
    records = []
    best = drive(tuner.run(), records.append)
    vals = [r.val_psnr for r in records if r.val_psnr is not None]
    assert max(vals) > vals[0]  # beats the starting model
    assert tuner.reason == "finished" and tuner.step == 30
    tuner.model.net.load_state_dict(tuner.best_state)
    assert tuner.validate()[0] == pytest.approx(max(vals), abs=1e-4)
    assert best.card.training["finetune"]["best_validation_psnr_db"] == pytest.approx(max(vals), abs=1e-3)
    # the base model is untouched (the tuner trains a copy)
    assert not any(p.grad is not None for p in model.net.parameters())


def test_stop_ends_within_a_step_and_keeps_the_best(pair, tmp_path):
    _, tuner = _tuner(pair, steps=1000)
    gen = tuner.run()
    next(gen)
    for _ in range(3):
        next(gen)
    tuner.stop()
    with pytest.raises(StopIteration) as end:
        next(gen)
    assert tuner.reason == "stopped" and tuner.step == 3  # no step after the stop
    best = end.value.value
    path = save_model(best, tmp_path / "tuned")
    back = load_model(path)
    x = pair[0][:64, :64]
    assert np.array_equal(denoise(x, best, device="cpu"), denoise(x, back, device="cpu"))


def test_closing_the_generator_still_leaves_the_best_model(pair):
    _, tuner = _tuner(pair, steps=1000)
    gen = tuner.run()
    for _ in range(3):
        next(gen)
    gen.close()  # what a napari worker's quit does
    m = tuner.best_model()
    assert isinstance(m, Model) and m.card.training["finetune"]["steps"] == 2


def test_nan_loss_restores_the_best_weights(pair):
    _, tuner = _tuner(pair, steps=50)
    real = tuner.loss_fn
    calls = {"n": 0}

    def flaky(pred, target):
        calls["n"] += 1
        total, parts = real(pred, target)
        return (total * float("nan"), parts) if calls["n"] == 4 else (total, parts)

    tuner.loss_fn = flaky
    records = []
    drive(tuner.run(), records.append)
    assert tuner.reason == "diverged" and "restored the best weights" in records[-1].message
    state = tuner.model.net.state_dict()
    assert all(torch.equal(state[k], v) for k, v in tuner.best_state.items())
    assert all(torch.isfinite(v).all() for v in state.values())


@pytest.mark.parametrize("likelihood", ["poisson", "l2"])
def test_self_supervised_blind_spot_runs_on_the_noisy_image_alone(pair, likelihood):
    low = pair[0]
    cfg = FinetuneConfig(steps=8, minutes=None, patch=64, batch=2, validate_every=0.0, self_supervised=True, likelihood=likelihood, lr=1e-3)
    tuner = FineTuner(Model.new(TINY), [prepare_pair(low)], cfg)
    records = []
    drive(tuner.run(), records.append)
    assert tuner.likelihood == likelihood and all(math.isfinite(r.loss) for r in records[1:])
    assert tuner.summary()["mode"].startswith("self-supervised")


def test_blind_spot_never_keeps_the_masked_pixel():
    tuner = FineTuner(Model.new(TINY), [prepare_pair(np.arange(96 * 96, dtype=np.float32).reshape(96, 96))],
                      FinetuneConfig(steps=1, minutes=None, patch=64, self_supervised=True))
    a = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)  # all values distinct
    out, mask = tuner._blind_spot(a)
    assert mask.sum() > 0 and np.all(out[mask > 0] != a[mask > 0]) and np.array_equal(out[mask == 0], a[mask == 0])
    assert tuner.likelihood == "poisson"  # non-negative whole numbers: counting data


def test_reference_is_denoised_by_the_starting_model_unless_asked_not_to(pair):
    low, high = pair
    raw = prepare_pair(low, high)
    model = Model.new(TINY)
    cleaned = FineTuner(model, [raw], FinetuneConfig(steps=1, minutes=None, patch=64)).pairs[0]
    assert cleaned.cleaned and "denoised reference" in cleaned.report()
    expected = denoise(raw.target, model, device="cpu")
    assert abs(np.corrcoef(cleaned.target.ravel(), expected.ravel())[0, 1]) > 0.999  # an affine map of the output
    kept = FineTuner(model, [raw], FinetuneConfig(steps=1, minutes=None, patch=64, clean_reference=False)).pairs[0]
    assert not kept.cleaned and np.array_equal(kept.target, raw.target)


def test_training_and_validation_areas(pair):
    low, high = pair  # 192 x 160
    cfg = FinetuneConfig(steps=1, minutes=None, patch=64, clean_reference=False)
    base = prepare_pair(low, high)
    t = FineTuner(Model.new(TINY), [base], cfg)
    assert t.val_origin == [(163, 0)] and t._train[0][0].shape == (163, 160)  # default: bottom 15 % strip
    from dataclasses import replace

    boxed = replace(base, train_box=(0, 100, 0, 160), val_box=(120, 180, 20, 140))
    t = FineTuner(Model.new(TINY), [boxed], cfg)
    assert t._train[0][0].shape == (100, 160) and t._val[0][0].shape == (60, 120) and t.val_origin == [(120, 20)]
    only_val = replace(base, val_box=(0, 192, 0, 40))  # a band on the left: train on the rest
    t = FineTuner(Model.new(TINY), [only_val], cfg)
    assert t._train[0][0].shape == (192, 120) and t._val[0][0].shape == (192, 40)
    with pytest.raises(LowdoseError, match="training area"):
        FineTuner(Model.new(TINY), [replace(base, train_box=(0, 50, 0, 50))], cfg)


def test_intensity_match_is_not_pulled_down_by_the_reference_noise():
    from napari_lowdose.core.finetune import match_levels

    rng = np.random.default_rng(0)
    signal = 1.0 + 0.12 * ndimage.gaussian_filter(rng.standard_normal((256, 256)), 3) / 0.094  # weak contrast
    noisy = rng.poisson(3.0 * signal).astype(float)  # 3 e/px
    reference = 40.0 + 5.0 * rng.poisson(24.0 * signal)  # 8x the dose, gain 5, offset 40
    gain, offset = match_levels(reference, noisy)
    # true: noisy = (3 / 24 / 5) * (reference - 40)
    assert gain == pytest.approx(3.0 / 24.0 / 5.0, rel=0.1)
    assert offset == pytest.approx(-40.0 * 3.0 / 24.0 / 5.0, rel=0.15)



def test_counts_are_aligned_by_whole_pixels_and_stay_counts():
    rng = np.random.default_rng(3)
    z = ndimage.gaussian_filter(rng.standard_normal((160, 160)), 3)
    rate = np.exp(0.8 * z / z.std())
    low = rng.poisson(2.0 * rate).astype(np.float32)
    same = prepare_pair(low, rng.poisson(8.0 * rate).astype(np.float32))  # the same pixels: no shift applied
    assert not same.shifted and same.shift == (0.0, 0.0)
    moved = prepare_pair(low, np.roll(rng.poisson(8.0 * rate), (-3, 2), axis=(0, 1)).astype(np.float32))
    assert moved.shifted and moved.shift == (3.0, -2.0)
    ref = (moved.target - moved.offset) / moved.gain  # the reference's counts, moved back by whole pixels
    assert np.allclose(ref, np.round(ref), atol=1e-3)
    np.testing.assert_allclose(moved.noisy, low[moved.crop : -moved.crop, moved.crop : -moved.crop])
