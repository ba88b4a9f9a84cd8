"""Segmented-detector images: the Velox DF4 file and four TIFFs as one (4, y, x) image (issue 19)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_lowdose.core.errors import LowdoseError
from napari_lowdose.io import read_image, write_image
from napari_lowdose.io.segments import KIND_SEGMENTS, group_segments, read_segments


def test_velox_segments_read_in_the_right_order(real_data):
    path = real_data / "4d" / "fei_example_dpc_titles.emd"
    seg = read_segments([path])
    own = {im.metadata["signal"]: im.data.astype(np.float64) for im in read_image(path)}
    assert seg.data.shape[0] == 4 and seg.metadata["segments"] == ["DF4-A", "DF4-B", "DF4-C", "DF4-D"]
    a, b, c, d = seg.data.astype(np.float64)
    assert np.array_equal(own["A-C"], a - c)  # the file's own A-C is DF4-A - DF4-C
    assert np.array_equal(own["B-D"], b - d)
    assert not np.array_equal(own["A-C"], b - d)
    assert seg.pixel_size == pytest.approx(read_image(path)[0].pixel_size)
    assert seg.axis_labels == ("segment", "y", "x")


def test_velox_file_groups_into_one_layer_and_keeps_its_own_signals(real_data):
    images = group_segments(read_image(real_data / "4d" / "fei_example_dpc_titles.emd"))
    names = sorted(im.metadata["signal"] for im in images)
    assert names == sorted(["DF4 segments", "A-C", "B-D", "iDPC", "Filtered iDPC"])
    assert sum(im.metadata.get("kind") == KIND_SEGMENTS for im in images) == 1
    assert images.skipped and "DPC" in images.skipped[0]


def _tiffs(tmp_path, shapes=((32, 40),) * 4, pixel_sizes=(0.3,) * 4):
    rng = np.random.default_rng(0)
    paths = []
    for name, shape, px in zip("ABCD", shapes, pixel_sizes):
        p = tmp_path / f"seg_{name}.tif"
        write_image(p, rng.poisson(50, shape).astype(np.float32), pixel_size=px)
        paths.append(p)
    return paths


def test_four_tiffs_are_grouped_in_the_order_given(tmp_path):
    paths = _tiffs(tmp_path)
    seg = read_segments(paths)
    assert seg.data.shape == (4, 32, 40) and seg.pixel_size == pytest.approx(0.3)
    assert np.array_equal(seg.data[2], read_image(paths[2])[0].data)


def test_segment_files_that_do_not_match_are_refused(tmp_path):
    with pytest.raises(LowdoseError, match="same shape"):
        read_segments(_tiffs(tmp_path, shapes=((32, 40),) * 3 + ((32, 41),)))
    with pytest.raises(LowdoseError, match="same pixel size"):
        read_segments(_tiffs(tmp_path, pixel_sizes=(0.3, 0.3, 0.3, 0.31)))
    with pytest.raises(LowdoseError, match="got 3 files"):
        read_segments(_tiffs(tmp_path)[:3])
    with pytest.raises(LowdoseError, match="no segmented-detector images"):
        read_segments(_tiffs(tmp_path)[:1])
