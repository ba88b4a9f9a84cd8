import numpy as np
import pytest

from napari_lowdose.core.errors import InvalidImageError
from napari_lowdose.core.image import check_image, describe, intensity_stats, looks_like_rgb
from napari_lowdose.core.units import to_angstrom_factor


@pytest.mark.parametrize(
    "data, words",
    [
        (np.zeros((0, 5)), "empty"),
        (np.zeros((1, 1)), "too small"),
        (np.zeros((1, 64)), "too small"),
        (np.zeros(5), "dimension"),
        (np.zeros((4, 4), np.complex64), "complex"),
        (np.array([[1.0, np.nan], [0, 1]]), "NaN/Inf"),
        (np.array([[1.0, np.inf], [0, 1]]), "NaN/Inf"),
        (np.array([["a", "b"], ["c", "d"]]), "not a number"),
    ],
)
def test_check_image_refuses_with_a_clear_message(data, words):
    with pytest.raises(InvalidImageError, match=words):
        check_image(data, "x.tif")


def test_check_image_accepts_small_real_images():
    check_image(np.zeros((2, 2), np.uint16))
    check_image(np.zeros((3, 3, 3), np.int16))


def test_rgb_detection():
    assert looks_like_rgb((10, 10, 3), np.uint8)
    assert not looks_like_rgb((3, 10, 10), np.uint16)


@pytest.mark.parametrize(
    "unit, factor",
    [("nm", 10), ("n_m", 10), ("µm", 1e4), ("\\u00B5m", 1e4), ("micron", 1e4), ("Å", 1), ("A", 1), ("pm", 0.01), ("m", 1e10), ("eV", None), ("", None)],
)
def test_unit_factors(unit, factor):
    assert to_angstrom_factor(unit) == factor


def test_describe_reports_pixel_size_in_angstrom_and_nm():
    rows = dict(describe((100, 200), np.uint16, (2.5, 2.5), ("angstrom", "angstrom"), ("y", "x")))
    assert rows["pixel size"] == "2.5 Å (0.25 nm)"
    assert rows["field of view"] == "25 x 50 nm"
    rows = dict(describe((100, 200), np.float32, (1, 1), ("pixel", "pixel")))
    assert rows["pixel size"].startswith("unknown")


def test_intensity_stats_ignore_non_finite():
    s = intensity_stats(np.array([1.0, 3.0, np.nan]))
    assert s["min"] == 1 and s["max"] == 3 and s["mean"] == 2
