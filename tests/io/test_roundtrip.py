import mrcfile
import numpy as np
import pytest
import tifffile

from napari_lowdose.io import read_image, write_image


@pytest.mark.parametrize("ext", [".tif", ".tiff", ".mrc"])
@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.int16, np.uint8, np.float64, np.int32])
def test_roundtrip_2d_keeps_pixels_and_pixel_size(tmp_path, ext, dtype):
    rng = np.random.default_rng(0)
    data = (rng.random((37, 53)) * 200).astype(dtype)
    path = write_image(tmp_path / f"img{ext}", data, pixel_size=1.2345)
    (back,) = read_image(path)
    assert back.data.shape == data.shape
    np.testing.assert_array_equal(back.data, data.astype(back.data.dtype))
    assert back.pixel_size == pytest.approx(1.2345, rel=1e-6)
    assert back.units == ("angstrom", "angstrom")
    assert back.axis_labels == ("y", "x")
    # same dtype family: integers stay integers, floats stay floats
    assert np.issubdtype(back.data.dtype, np.integer) == np.issubdtype(np.dtype(dtype), np.integer)


@pytest.mark.parametrize("ext", [".tif", ".mrc"])
def test_roundtrip_volume_and_stack(tmp_path, ext):
    data = np.arange(3 * 8 * 10, dtype=np.float32).reshape(3, 8, 10)
    (vol,) = read_image(write_image(tmp_path / f"vol{ext}", data, pixel_size=2.0, z_size=3.5))
    assert vol.data.shape == (3, 8, 10)
    assert vol.scale == pytest.approx((3.5, 2.0, 2.0), rel=1e-6)
    assert vol.units == ("angstrom",) * 3
    (stack,) = read_image(write_image(tmp_path / f"stack{ext}", data, pixel_size=2.0))
    assert stack.scale == pytest.approx((1.0, 2.0, 2.0), rel=1e-6)
    assert stack.units == ("pixel", "angstrom", "angstrom")
    np.testing.assert_array_equal(stack.data, data)


def test_uncalibrated_image_opens_in_pixels(tmp_path):
    write_image(tmp_path / "a.tif", np.ones((8, 8), np.uint16))
    (img,) = read_image(tmp_path / "a.tif")
    assert img.pixel_size is None and img.units == ("pixel", "pixel") and img.scale == (1.0, 1.0)


@pytest.mark.parametrize("unit, size, expected", [("nm", 0.25, 2.5), ("\\u00B5m", 0.0005, 5.0), ("micron", 0.001, 10.0), ("\\u00C5", 0.7, 0.7), ("A", 0.7, 0.7)])
def test_imagej_tiff_written_by_tifffile(tmp_path, unit, size, expected):
    path = tmp_path / "ij.tif"
    tifffile.imwrite(path, np.zeros((16, 16), np.uint16), imagej=True, resolution=(1 / size, 1 / size), metadata={"unit": unit})
    (img,) = read_image(path)
    assert img.pixel_size == pytest.approx(expected, rel=1e-5)


def test_tiff_with_centimetre_resolution_unit(tmp_path):
    path = tmp_path / "cm.tif"
    # 1e7 pixels per cm = 1 nm pixels
    tifffile.imwrite(path, np.zeros((16, 16), np.uint16), resolution=(1e7, 1e7), resolutionunit="CENTIMETER")
    assert read_image(path)[0].pixel_size == pytest.approx(10.0, rel=1e-6)


def test_plain_tiff_default_dpi_is_not_a_calibration(tmp_path):
    path = tmp_path / "dpi.tif"
    tifffile.imwrite(path, np.zeros((16, 16), np.uint16), resolution=(72, 72), resolutionunit="INCH")
    assert read_image(path)[0].pixel_size is None


def test_mrc_written_by_mrcfile_uses_voxel_size_x_y_z_in_angstrom(tmp_path):
    path = tmp_path / "m.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((4, 6, 8), np.float32))
        mrc.voxel_size = (1.5, 1.5, 4.0)  # x, y, z in Å
    (img,) = read_image(path)
    assert img.data.shape == (4, 6, 8)
    assert img.scale == pytest.approx((4.0, 1.5, 1.5))
    assert img.axis_labels == ("z", "y", "x")


def test_mrcs_stack(tmp_path):
    path = tmp_path / "s.mrcs"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((5, 6, 8), np.int16))
        mrc.set_image_stack()
        mrc.voxel_size = 2.0
    (img,) = read_image(path)
    assert img.axis_labels == ("frame", "y", "x") and img.scale == pytest.approx((1.0, 2.0, 2.0))
