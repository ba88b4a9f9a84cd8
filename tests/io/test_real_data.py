"""The reader on real instrument files (../shared/real-data, see its README)."""

import numpy as np
import pytest

from napari_lowdose.core.errors import FileFormatError
from napari_lowdose.io import read_image

# file: list of (shape, dtype, pixel size in Å, units)
EXPECTED = {
    "16_STOimage_1.ser": [((1024, 1024), np.uint16, 0.100127, ("angstrom", "angstrom"))],
    "Acquisition_18.emd": [((1024, 1024), np.uint16, 0.122465, ("angstrom", "angstrom"))],
    "multi_signal.dm3": [((512, 512), np.uint16, 0.177516, ("angstrom", "angstrom"))],
    "test_STEM_image.dm3": [((68, 68), np.uint32, 2.48538, ("angstrom", "angstrom"))],
    "03_Scanning_Preview_1.ser": [((5, 128, 128), np.uint16, 3.843525, ("pixel", "angstrom", "angstrom"))],
    "fei_example_tem_stack.emd": [((2, 3, 3), np.int16, 0.0817288, ("s", "angstrom", "angstrom"))],
    "HAADFscan.mrc": [((16, 16), np.uint16, 56.7913, ("angstrom", "angstrom"))],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_files_open_with_pixel_size(real_data, name):
    images = read_image(real_data / name)
    assert len(images) == len(EXPECTED[name])
    for img, (shape, dtype, px, units) in zip(images, EXPECTED[name]):
        assert img.data.shape == shape
        assert img.data.dtype == dtype
        assert img.pixel_size == pytest.approx(px, rel=1e-4)
        assert img.units == units
        assert img.scale[-2] == pytest.approx(img.scale[-1])


def test_velox_emd_with_four_detector_signals(real_data):
    images = read_image(real_data / "STEM_HAADF-DF4-DF2-BF_Diffraction_Micro.emd")
    assert sorted(i.metadata["signal"] for i in images) == ["BF", "DF2", "DF4", "HAADF"]
    assert len({i.name for i in images}) == 4  # one layer per detector, distinct names
    for img in images:
        assert img.data.shape == (128, 128)
        assert img.pixel_size == pytest.approx(873.708, rel=1e-4)  # 0.0874 µm


def test_tia_series_is_a_stack_of_frames(real_data):
    (img,) = read_image(real_data / "03_Scanning_Preview_1.ser")
    assert img.axis_labels == ("frame", "y", "x")


def test_dm3_with_an_image_and_a_line_plot_gives_the_image(real_data):
    (img,) = read_image(real_data / "multi_signal.dm3")
    assert img.metadata["signal"] == "HAADF"


def test_eels_spectrum_is_refused_clearly(real_data):
    with pytest.raises(FileFormatError, match=r"08_carbon\.dm3 holds no image.*EELS spectrum.*eV"):
        read_image(real_data / "08_carbon.dm3")
