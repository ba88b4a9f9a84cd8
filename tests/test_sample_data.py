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
