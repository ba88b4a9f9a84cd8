"""Virtual detectors: masks with a known area, virtual images with a known answer, numpy = dask."""

import math

import numpy as np
import pytest

from napari_lowdose.core.errors import LowdoseError
from napari_lowdose.core.fourd.detector import (
    DetectorRegion,
    bright_disc,
    detector_mask,
    mean_pattern,
    standard_regions,
    virtual_image,
)


def test_circle_and_annulus_masks_have_the_expected_area():
    disc = detector_mask((201, 201), DetectorRegion((100, 100), 40))
    assert disc.sum() == pytest.approx(math.pi * 40**2, rel=0.01)
    ring = detector_mask((201, 201), DetectorRegion((100, 100), 80, 50))
    assert ring.sum() == pytest.approx(math.pi * (80**2 - 50**2), rel=0.01)
    assert not (disc & ring).any()


def test_radii_in_calibrated_units_use_the_detector_step():
    mrad = detector_mask((64, 64), DetectorRegion((32, 32), 20.0, unit="mrad"), step=2.0)  # 2 mrad per px
    px = detector_mask((64, 64), DetectorRegion((32, 32), 10.0))
    assert np.array_equal(mrad, px)
    with pytest.raises(LowdoseError, match="calibration"):
        detector_mask((64, 64), DetectorRegion((32, 32), 20.0, unit="mrad"))


def test_virtual_image_of_a_known_dataset():
    data = np.zeros((3, 4, 32, 32), np.uint16)
    data[..., 16, 16] = 5  # bright field: one pixel in the centre
    data[1, 2, 2, 2] = 7  # a dark-field count far out, at one scan position
    bf = virtual_image(data, detector_mask((32, 32), DetectorRegion((16, 16), 3)))
    adf = virtual_image(data, detector_mask((32, 32), DetectorRegion((16, 16), 30, 10)))
    assert np.array_equal(bf, np.full((3, 4), 5.0))
    expected = np.zeros((3, 4))
    expected[1, 2] = 7
    assert np.array_equal(adf, expected)
    assert np.array_equal(mean_pattern(data)[16, 16], 5.0)


def test_dask_gives_the_same_images_lazily():
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(0)
    data = rng.poisson(3.0, (5, 6, 20, 20)).astype(np.uint16)
    lazy = da.from_array(data, chunks=(2, 3, 20, 20))
    mask = detector_mask((20, 20), DetectorRegion((10, 10), 8, 3))
    v = virtual_image(lazy, mask)
    assert type(v).__module__.startswith("dask")
    np.testing.assert_allclose(v.compute(), virtual_image(data, mask))
    np.testing.assert_allclose(mean_pattern(lazy).compute(), mean_pattern(data))


def test_bright_disc_and_standard_regions():
    yy, xx = np.mgrid[:64, :64]
    pattern = np.where(np.hypot(yy - 30, xx - 34) < 10, 100.0, 1.0)
    (cy, cx), r = bright_disc(pattern)
    assert (cy, cx) == pytest.approx((30, 34), abs=0.1) and r == pytest.approx(10, abs=0.3)
    bf, adf = standard_regions(pattern)
    assert bf.inner == 0 and adf.inner == pytest.approx(1.3 * r) and adf.outer > adf.inner


def test_bad_regions_and_masks_get_a_sentence():
    with pytest.raises(LowdoseError, match="inner radius < outer"):
        DetectorRegion((5, 5), 3, 4)
    with pytest.raises(LowdoseError, match="4D-STEM data needs exactly 4"):
        virtual_image(np.zeros((4, 32, 32)), np.ones((32, 32), bool))
    with pytest.raises(LowdoseError, match="mask is 16 x 16"):
        virtual_image(np.zeros((2, 2, 32, 32)), np.ones((16, 16), bool))


def test_block_generators_give_the_whole_scan_results_with_progress():
    da = pytest.importorskip("dask.array")
    from napari_lowdose.core.fourd.detector import iter_mean_pattern, iter_virtual_image
    from napari_lowdose.core.progress import drive

    rng = np.random.default_rng(1)
    data = rng.poisson(2.0, (7, 5, 16, 16)).astype(np.uint16)
    mask = detector_mask((16, 16), DetectorRegion((8, 8), 6, 2))
    for arr in (data, da.from_array(data, chunks=(2, 5, 16, 16))):
        records = []
        image = drive(iter_virtual_image(arr, mask), records.append)
        np.testing.assert_array_equal(image, virtual_image(data, mask))
        assert image[3, 4] == data[3, 4][mask].sum()
        mean = drive(iter_mean_pattern(arr), records.append)
        np.testing.assert_allclose(mean, data.mean(axis=(0, 1)))
        assert records[-1].rows == 7 and records[-1].fraction == 1.0
    lazy_records = []
    drive(iter_mean_pattern(da.from_array(data, chunks=(2, 5, 16, 16))), lazy_records.append)
    assert [r.rows for r in lazy_records] == [2, 4, 6, 7]  # one dask row chunk at a time


def test_block_generator_refuses_a_wrong_mask_before_reading():
    from napari_lowdose.core.fourd.detector import iter_virtual_image

    with pytest.raises(LowdoseError, match="mask is 8 x 8"):
        next(iter_virtual_image(np.zeros((3, 3, 16, 16)), np.ones((8, 8), bool)))


class _Unreadable:
    """A 4D array-like (shape, dtype, slicing) that must never be converted whole."""

    def __init__(self, data):
        self.data, self.shape, self.dtype, self.ndim = data, data.shape, data.dtype, data.ndim

    def __getitem__(self, key):
        return self.data[key]

    def __array__(self, dtype=None, copy=None):
        raise AssertionError("the whole 4D array was read")


def test_checks_and_block_reads_never_convert_the_whole_array():
    from napari_lowdose.core.fourd.data import check_4d
    from napari_lowdose.core.fourd.detector import iter_mean_pattern, iter_virtual_image
    from napari_lowdose.core.image import check_image
    from napari_lowdose.core.progress import drive

    data = np.random.default_rng(2).poisson(1.0, (4, 3, 16, 16)).astype(np.uint16)
    lazy = _Unreadable(data)
    check_4d(lazy, min_detector=16, min_scan=3)
    check_image(lazy, check_finite=False)
    mask = detector_mask((16, 16), DetectorRegion((8, 8), 5))
    np.testing.assert_allclose(drive(iter_mean_pattern(lazy)), data.mean(axis=(0, 1)))
    np.testing.assert_array_equal(drive(iter_virtual_image(lazy, mask)), virtual_image(data, mask))
    np.testing.assert_array_equal(virtual_image(lazy, mask), virtual_image(data, mask))
