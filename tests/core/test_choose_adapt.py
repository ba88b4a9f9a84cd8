"""Choosing a model, its trained range, and adapting it to one image."""

import numpy as np
import pytest

from napari_lowdose.core.adapt import adapt
from napari_lowdose.core.choose import choose_model, model_range, range_note
from napari_lowdose.core.errors import LowdoseError
from napari_lowdose.core.model import Model, ModelCard, load_model
from napari_lowdose.core.unet import UNetConfig


def test_bundled_cards_state_their_range_and_out_of_range_images_get_a_sentence():
    for name in ("haadf", "hrtem"):
        card = load_model(name).card
        rng = model_range(card)
        assert rng is not None and rng.pixel_size[0] < rng.pixel_size[1] and rng.electrons[0] < rng.electrons[1]
        lo, hi = rng.pixel_size
        assert range_note(card, (lo * hi) ** 0.5) is None
        note = range_note(card, lo / 3)
        assert note and "outside" in note and f"{lo:g}" in note and note.count(".") <= 3
        assert range_note(card, hi * 3) is not None
    assert range_note(ModelCard(), 0.1) is None  # a card with no training range: no claim either way


def test_atomic_training_widens_the_range():
    card = ModelCard(trained_on={"distribution": {"modalities": ["haadf"], "haadf_pixel_size": [0.5, 8.0], "haadf_electrons": [0.5, 300.0],
                                                  "atomic_fraction": 0.6, "atomic_pixel_size": [0.05, 1.0], "atomic_haadf_electrons": [1.0, 3000.0]}})
    rng = model_range(card)
    assert rng.pixel_size == (0.05, 8.0) and rng.electrons == (0.5, 3000.0)
    assert range_note(card, 0.1) is None


def test_choose_model_from_mode():
    assert choose_model("stem")[0] == "haadf" and "metadata" in choose_model("stem")[1]
    assert choose_model("tem")[0] == "hrtem" and "metadata" in choose_model("tem")[1]
    name, why = choose_model(None)
    assert name == "haadf" and "default" in why


def _small_model() -> Model:
    return Model.new(UNetConfig(depth=2, base_channels=8))


def test_adapt_keeps_the_start_unless_the_blind_spot_score_improves():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:96, 0:96]
    truth = 20 + 15 * np.sin(xx / 3.0) * np.cos(yy / 4.0)
    noisy = rng.poisson(truth).astype(np.float32)
    model = _small_model()
    adapted, report = adapt(noisy, model, seconds=4.0, seed=1)
    assert report.steps >= 1
    if report.adopted:
        assert report.best_score > report.start_score and adapted is not model
    else:
        assert adapted is model and report.best_score == pytest.approx(report.start_score)
    assert report.note()


def test_adapt_bad_input():
    model = _small_model()
    with pytest.raises(LowdoseError, match="at least"):
        adapt(np.ones((20, 20), np.float32), model, seconds=1)
    with pytest.raises(LowdoseError, match="2-D"):
        adapt(np.ones((2, 80, 80), np.float32), model, seconds=1)
    with pytest.raises(LowdoseError, match="positive"):
        adapt(np.random.default_rng(0).poisson(5, (80, 80)).astype(np.float32), model, seconds=0)


def test_choose_model_uses_the_pixel_size_within_the_modality():
    from napari_lowdose.core.choose import _family
    from napari_lowdose.core.model import BUNDLED_MODELS, bundled_model_path, load_model

    for mode, modality in (("stem", "haadf"), ("tem", "hrtem")):
        family = _family(modality)
        assert family[0] == modality and all(n in BUNDLED_MODELS for n in family)
        for px in (0.1, 0.5, 3.0):
            name, why = choose_model(mode, px)
            assert name in family
            note = range_note(load_model(bundled_model_path(name)).card, px)
            # the choice is a model trained at this pixel size, or, when none is, the one trained nearest
            assert note is None or all(range_note(load_model(bundled_model_path(n)).card, px) for n in family)
            assert (f"{px:.3g} Å" in why) == (name != modality)
    assert choose_model("stem", 0.22)[0] == "haadf-atomic" and choose_model("stem", 2.0)[0] == "haadf"
    assert choose_model("stem", 0.1)[0] == "haadf-atomic"  # outside both ranges: the nearer one (0.18 against 0.5 Å)
    assert choose_model("stem", None) == choose_model("stem")


def test_adapt_runs_on_an_image_barely_larger_than_its_minimum():
    """A 128 x 128 image (the abTEM validation set's size) with the bundled 5-level network: the held-out
    strip takes 64 rows, so the patches must fit the 64 rows left."""
    from napari_lowdose.core.adapt import adapt
    from napari_lowdose.core.model import load_model

    rng = np.random.default_rng(1)
    image = rng.poisson(2.0 + np.sin(np.arange(128) / 3.0)[None, :] + 1.0, (128, 128)).astype(np.float32)
    model, report = adapt(image, load_model("haadf"), seconds=2.0)
    assert report.steps >= 1 and np.isfinite(report.start_score)


def test_a_card_trained_on_detected_counts_says_so():
    card = ModelCard(trained_on={"distribution": {"modalities": ["haadf"], "atomic_fraction": 1.0, "atomic_pixel_size": [0.1, 0.5],
                                                  "atomic_haadf_electrons": [1.0, 3000.0], "atomic_haadf_detected": [0.005, 5.0],
                                                  "atomic_counting": True, "atomic_artifact_scale": [0.0, 0.0]}})
    rng = model_range(card)
    assert rng.pixel_size == (0.1, 0.5) and rng.electrons == (0.005, 5.0) and rng.detected
    assert "0.005-5 detected e⁻/px" in rng.describe() and "electron counts" in rng.describe() and "without scan artifacts" in rng.describe()
    assert range_note(card, 0.2) is None and "outside" in range_note(card, 2.0)


def test_the_guard_runs_by_default_outside_the_range_and_for_counting_models():
    from napari_lowdose.core.choose import guard_by_default

    assert guard_by_default(load_model("haadf-atomic").card, 0.22)  # trained on counts: its images are counts
    assert not guard_by_default(load_model("haadf").card, 2.0)  # inside its range, analogue detector with artifacts
    assert guard_by_default(load_model("haadf").card, 0.22)  # outside its range
    assert not guard_by_default(load_model("hrtem").card, 1.0)
    # an image of counts (whole numbers, white noise) inside the range: the guard can split its electrons
    rng = np.random.default_rng(0)
    counts = rng.poisson(3.0, (256, 256)).astype(np.float32)
    assert guard_by_default(load_model("haadf").card, 2.0, counts) and guard_by_default(load_model("hrtem").card, 1.0, counts)
    # analogue STEM: ADU with an offset (whole numbers or not), or counts smeared along the fast scan (afterglow)
    assert not guard_by_default(load_model("haadf").card, 2.0, 100.0 + 7.3 * counts)
    assert not guard_by_default(load_model("haadf").card, 2.0, (100 + 10 * counts).astype(np.uint16))
    smeared = np.rint(counts + 0.8 * np.roll(counts, 1, axis=1))
    assert not guard_by_default(load_model("haadf").card, 2.0, smeared)
