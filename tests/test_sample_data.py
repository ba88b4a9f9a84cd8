import json

import numpy as np

from napari_lowdose._sample_data import CARD_FILE, generate_sample, lowdose_pair, sample_folder, sample_paths
from napari_lowdose.io import read_image


def test_shipped_sample_is_what_the_simulator_makes():
    pair = generate_sample()
    low_path, high_path = sample_paths()
    (low,) = read_image(low_path)
    (high,) = read_image(high_path)
    np.testing.assert_array_equal(low.data, pair.low)
    np.testing.assert_array_equal(high.data, pair.high)
    assert low.pixel_size == high.pixel_size == pair.pixel_size == 5.0
    card = json.loads((sample_folder() / CARD_FILE).read_text())
    assert card["seed"] == pair.seed and card["low"]["dose"] == 0.681 and card["high"]["dose"] == 2.723


def test_sample_files_are_small():
    for path in sample_paths():
        assert path.stat().st_size < 3_000_000


def test_sample_command_returns_two_calibrated_layers():
    layers = lowdose_pair()
    assert [kind for _, _, kind in layers] == ["image", "image"]
    for data, kwargs, _ in layers:
        assert kwargs["scale"] == (5.0, 5.0) and kwargs["units"] == ("angstrom", "angstrom")


def test_shipped_atomic_sample_is_what_the_simulator_makes():
    from napari_lowdose._sample_data import ATOMIC_CARD_FILE, atomic_pair, atomic_sample_paths, generate_atomic_sample

    pair = generate_atomic_sample()
    low_path, high_path = atomic_sample_paths()
    (low,), (high,) = read_image(low_path), read_image(high_path)
    np.testing.assert_array_equal(low.data, pair.low)
    np.testing.assert_array_equal(high.data, pair.high)
    assert low.pixel_size == high.pixel_size == 0.25
    assert low_path.stat().st_size < 1_000_000
    card = json.loads((sample_folder() / ATOMIC_CARD_FILE).read_text())
    assert card["seed"] == pair.seed and card["low"]["dose"] == 300.0 and card["scene"]["structure"] == "Pt"
    layers = atomic_pair()
    assert [kw["scale"] for _, kw, _ in layers] == [(0.25, 0.25)] * 2
    # the reference has the higher signal-to-noise: its correlation with the truth is higher
    r = [np.corrcoef(img.ravel().astype(float), pair.truth.ravel())[0, 1] for img in (pair.low, pair.high)]
    assert r[1] > r[0] > 0.3
