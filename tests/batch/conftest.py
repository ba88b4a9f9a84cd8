import numpy as np
import pytest
import torch

from napari_lowdose.core.model import Model, save_model
from napari_lowdose.core.unet import UNetConfig
from napari_lowdose.io import write_image


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A small untrained U-Net saved as a model file (workers load it from the path)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model(Model.new(UNetConfig(depth=2, base_channels=8), name="tiny test model"), path)
    return path


def make_image(path, seed=0, shape=(72, 88), pixel_size=1.5):
    data = np.random.default_rng(seed).poisson(5, shape).astype(np.uint16)
    write_image(path, data, pixel_size=pixel_size)
    return path


def corrupt_tiff(path):
    path.write_bytes(b"II*\x00" + bytes(range(200)) * 3)  # a TIFF header pointing nowhere
    return path
