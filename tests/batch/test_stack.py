"""Big stacks plane by plane: the same output as reading the file whole, for TIFF and MRC."""

import numpy as np
import pytest
import tifffile
import torch

from napari_lowdose.batch.task import denoise_path
from napari_lowdose.core.model import Model
from napari_lowdose.core.tiling import TiledDenoiser
from napari_lowdose.core.unet import UNetConfig
from napari_lowdose.io import read_image, write_image


@pytest.fixture(scope="module")
def denoiser():
    torch.manual_seed(0)
    return TiledDenoiser(Model.new(UNetConfig(depth=2, base_channels=8)), tile=64, overlap=16, device="cpu")


def _stack(seed=0, shape=(3, 70, 90)):
    return np.random.default_rng(seed).poisson(5, shape).astype(np.uint16)


@pytest.mark.parametrize("kind", ["tiff-z", "tiff-frames", "mrc-z", "mrcs-frames"])
def test_plane_by_plane_equals_the_whole_file(tmp_path, denoiser, kind):
    data = _stack()
    if kind == "tiff-z":
        path = write_image(tmp_path / "s.tif", data, pixel_size=1.5, z_size=4.0)
    elif kind == "tiff-frames":
        path = write_image(tmp_path / "s.tif", data, pixel_size=1.5)
    elif kind == "mrc-z":
        path = write_image(tmp_path / "s.mrc", data, pixel_size=1.5, z_size=4.0)
    else:
        path = write_image(tmp_path / "s.mrcs", data, pixel_size=1.5)
    whole = denoise_path(path, tmp_path / "whole", denoiser, lazy_bytes=1 << 40)
    lazy = denoise_path(path, tmp_path / "lazy", denoiser, lazy_bytes=0)
    assert whole.ok and lazy.ok, (whole.error, lazy.error)
    a, b = read_image(whole.outputs[0])[0], read_image(lazy.outputs[0])[0]
    np.testing.assert_array_equal(b.data, a.data)
    assert b.data.dtype == np.float32 and b.scale == pytest.approx(a.scale) and b.units == a.units
    assert not list((tmp_path / "lazy").glob(".*.part"))


def test_a_bad_plane_in_a_stack_writes_nothing(tmp_path, denoiser):
    data = _stack().astype(np.float32)
    data[2, 5, 5] = np.nan
    path = write_image(tmp_path / "nan.tif", data, pixel_size=1.0)
    record = denoise_path(path, tmp_path / "out", denoiser, lazy_bytes=0)
    assert not record.ok and "plane 2" in record.error and "NaN" in record.error
    assert list((tmp_path / "out").iterdir()) == []


def test_what_is_not_a_plain_stack_is_read_whole(tmp_path, denoiser):
    path = write_image(tmp_path / "flat.tif", _stack(shape=(60, 60)), pixel_size=1.0)  # 2-D
    assert denoise_path(path, tmp_path / "out", denoiser, lazy_bytes=0).ok
    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(rgb, np.zeros((2, 40, 40, 3), np.uint8), photometric="rgb")
    record = denoise_path(rgb, tmp_path / "out", denoiser, lazy_bytes=0)
    assert not record.ok and "RGB" in record.error
    bad = tmp_path / "bad.mrc"
    bad.write_bytes(b"\0" * 2000)
    record = denoise_path(bad, tmp_path / "out", denoiser, lazy_bytes=0)
    assert not record.ok and "bad.mrc" in record.error
