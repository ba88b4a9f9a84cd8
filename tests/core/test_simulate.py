import numpy as np
import pytest

from napari_lowdose.core import Acquisition, ScanArtifacts, SceneConfig, simulate_pair, simulate_scene
from napari_lowdose.core.errors import LowdoseError

SMALL = SceneConfig(shape=(128, 160), pixel_size=5.0, island_size=120.0)


def test_deterministic_from_seed():
    a, b = simulate_pair(SMALL, seed=3), simulate_pair(SMALL, seed=3)
    assert np.array_equal(a.low, b.low) and np.array_equal(a.high, b.high) and np.array_equal(a.truth, b.truth)
    c = simulate_pair(SMALL, seed=4)
    assert not np.array_equal(a.truth, c.truth)


def test_pair_shapes_types_and_independent_noise():
    p = simulate_pair(SMALL, seed=1)
    assert p.low.shape == p.high.shape == p.truth.shape == (128, 160)
    assert p.low.dtype == p.high.dtype == np.uint16 and p.truth.dtype == np.float32
    # both images see the same scene: each correlates with the truth
    for img in (p.low, p.high):
        assert np.corrcoef(img.ravel().astype(float), p.truth.ravel())[0, 1] > 0.3
    assert p.metadata()["pixel_size_A"] == 5.0


def test_scene_has_gold_islands_brighter_than_carbon():
    truth = simulate_scene(SceneConfig(shape=(256, 256), island_coverage=0.3), seed=0)
    top, bottom = np.quantile(truth, 0.9), np.quantile(truth, 0.3)
    assert top > 3 * bottom  # Z-contrast: gold scatters far more than the carbon film


def test_counts_scale_with_dose():
    scene = simulate_scene(SMALL, seed=0)
    from napari_lowdose.core.simulate import acquire

    clean = dict(artifacts=ScanArtifacts.none(), detector_offset=0.0, read_noise=0.0, detector_gain=1.0)
    low = acquire(scene, SMALL.pixel_size, Acquisition(dose=0.5, **clean), seed=0).astype(float)
    high = acquire(scene, SMALL.pixel_size, Acquisition(dose=5.0, **clean), seed=0).astype(float)
    expected = scene.mean() * SMALL.pixel_size**2
    assert low.mean() == pytest.approx(0.5 * expected, rel=0.05)
    assert high.mean() == pytest.approx(5.0 * expected, rel=0.05)


def test_every_other_column_and_flyback_artifacts_show_and_switch_off():
    scene = SceneConfig(shape=(256, 256), island_coverage=0.0)
    on = simulate_pair(scene, Acquisition(dose=5.0), seed=2).low.astype(float)
    off = simulate_pair(scene, Acquisition(dose=5.0, artifacts=ScanArtifacts.none()), seed=2).low.astype(float)
    signal_on, signal_off = on - 200.0, off - 200.0  # detector offset
    ratio_on = signal_on[:, 20::2].mean() / signal_on[:, 21::2].mean()
    ratio_off = signal_off[:, 20::2].mean() / signal_off[:, 21::2].mean()
    assert ratio_on > 1.15  # odd columns lose gain
    assert abs(ratio_off - 1) < 0.05
    assert signal_on[:, :2].mean() > 1.3 * signal_on[:, 40:].mean()  # flyback at line start
    assert abs(signal_off[:, :2].mean() / signal_off[:, 40:].mean() - 1) < 0.1


def test_artifacts_weaker_at_long_dwell():
    art = ScanArtifacts()
    assert art.at_dwell(4.0).column_gain < art.column_gain < art.at_dwell(0.2).column_gain


def test_bad_configs_are_refused():
    with pytest.raises(LowdoseError):
        SceneConfig(shape=(4, 4))
    with pytest.raises(LowdoseError):
        Acquisition(dose=0)
