"""The acquisition mode read from real instrument files' metadata."""

import pytest

from napari_lowdose.io.mode import acquisition_mode


@pytest.mark.parametrize(
    "name, expected",
    [("test_STEM_image.dm3", "stem"), ("fei_example_tem_stack.emd", "tem"), ("STEM_HAADF-DF4-DF2-BF_Diffraction_Micro.emd", "stem"), ("16_STOimage_1.ser", None)],
)
def test_mode_from_real_files(real_data, name, expected):
    from rsciio import digitalmicrograph, emd, tia

    reader = {".dm3": digitalmicrograph, ".emd": emd, ".ser": tia}[(real_data / name).suffix].file_reader
    signals = reader(str(real_data / name))
    assert acquisition_mode(signals[0].get("original_metadata")) == expected


def test_mode_from_plain_metadata():
    assert acquisition_mode({"ImageTags": {"Microscope Info": {"Illumination Mode": "TEM"}}}) == "tem"
    assert acquisition_mode({"ImageTags": {"Microscope Info": {"Operation Mode": "SCANNING"}}}) == "stem"
    assert acquisition_mode({}) is None and acquisition_mode(None) is None
