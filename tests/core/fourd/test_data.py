"""4D-STEM array checks: one sentence for 3-D/5-D, empty, tiny detectors; big-endian counts made native."""

import numpy as np
import pytest

from napari_lowdose.core.errors import LowdoseError
from napari_lowdose.core.fourd.data import check_4d, native, read_rows, reflect_pad_scan


@pytest.mark.parametrize(
    "shape, match",
    [
        ((8, 32, 32), "has 3 axes"),
        ((2, 4, 4, 32, 32), "has 5 axes"),
        ((0, 4, 32, 32), "is empty"),
        ((4, 4, 8, 8), "8 x 8 px detector; .* at least 16 x 16"),
        ((2, 4, 32, 32), "2 x 4 scan"),
    ],
)
def test_bad_shapes_get_one_sentence(shape, match):
    with pytest.raises(LowdoseError, match=match) as info:
        check_4d(np.zeros(shape, np.float32), min_detector=16, min_scan=3)
    assert "\n" not in str(info.value)


def test_complex_data_is_refused():
    with pytest.raises(LowdoseError, match="complex64"):
        check_4d(np.zeros((4, 4, 16, 16), np.complex64))


def test_big_endian_counts_become_native():
    data = np.arange(4 * 4 * 16 * 16, dtype=">u4").reshape(4, 4, 16, 16)
    out = native(data)
    assert out.dtype == np.uint32 and out.dtype.isnative and np.array_equal(out, data)


def test_nan_counts_are_found_where_the_rows_are_read():
    data = np.ones((4, 4, 16, 16), np.float32)
    data[2, 1, 3, 3] = np.nan
    read_rows(data, 0, 2)
    with pytest.raises(LowdoseError, match="1 NaN/Inf count"):
        read_rows(data, 0, 2, halo=1)


def test_reflect_padding_never_repeats_the_centre():
    block = np.arange(3 * 3).reshape(3, 3, 1, 1).astype(np.float32)
    padded = reflect_pad_scan(block)
    assert padded[0, 1, 0, 0] == block[1, 0, 0, 0]  # row -1 is row 1, not row 0
    assert padded[1, 0, 0, 0] == block[0, 1, 0, 0]
