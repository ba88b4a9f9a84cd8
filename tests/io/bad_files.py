"""Makers of bad input files, shared by the reader, napari and CLI tests."""

import mrcfile
import numpy as np
import tifffile


def truncated_tiff(folder):
    path = folder / "truncated.tif"
    tifffile.imwrite(path, np.arange(256 * 256, dtype=np.uint16).reshape(256, 256))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


def garbage_tiff(folder):
    path = folder / "garbage.tif"
    path.write_bytes(b"this is not a tiff file at all" * 10)
    return path


def corrupt_mrc(folder):
    path = folder / "corrupt.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((64, 64), np.float32))
    data = path.read_bytes()
    path.write_bytes(data[:1024 + 100])  # header plus a sliver of the data
    return path


def garbage_mrc(folder):
    path = folder / "garbage.mrc"
    path.write_bytes(b"\x00\x01" * 600)
    return path


def empty_file(folder, ext=".tif"):
    path = folder / f"empty{ext}"
    path.write_bytes(b"")
    return path


def one_pixel_tiff(folder):
    path = folder / "one_pixel.tif"
    tifffile.imwrite(path, np.zeros((1, 1), np.uint16))
    return path


def one_pixel_mrc(folder):
    path = folder / "one_pixel.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((1, 1), np.float32))
    return path


def zero_size_tiff(folder):
    path = folder / "zero_size.tif"
    tifffile.imwrite(path, np.zeros((0, 16), np.uint16))
    return path


def rgb_tiff(folder):
    path = folder / "rgb.tif"
    tifffile.imwrite(path, np.zeros((16, 16, 3), np.uint8), photometric="rgb")
    return path


def complex_mrc(folder):
    path = folder / "complex.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((16, 16), np.complex64))
    return path


def nan_tiff(folder):
    path = folder / "nan.tif"
    data = np.ones((16, 16), np.float32)
    data[3, 4] = np.nan
    data[5, 6] = np.inf
    tifffile.imwrite(path, data)
    return path


# (maker, words the message must contain)
CLAIMED_BAD = {
    "truncated_tiff": (truncated_tiff, "cannot read TIFF"),
    "garbage_tiff": (garbage_tiff, "cannot read TIFF"),
    "corrupt_mrc": (corrupt_mrc, "cannot read MRC"),
    "garbage_mrc": (garbage_mrc, "cannot read MRC"),
    "empty_file": (empty_file, "empty"),
    "one_pixel_tiff": (one_pixel_tiff, "too small"),
    "one_pixel_mrc": (one_pixel_mrc, "too small"),
    "zero_size_tiff": (zero_size_tiff, "(empty|no image)"),
    "rgb_tiff": (rgb_tiff, "RGB"),
    "complex_mrc": (complex_mrc, "complex"),
    "nan_tiff": (nan_tiff, "NaN/Inf"),
}
