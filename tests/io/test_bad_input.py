import pytest

from napari_lowdose._reader import napari_get_reader
from napari_lowdose.core.errors import LowdoseError
from napari_lowdose.io import read_image

from .bad_files import CLAIMED_BAD


@pytest.mark.parametrize("case", sorted(CLAIMED_BAD))
def test_claimed_bad_files_raise_one_clear_error(tmp_path, case):
    maker, words = CLAIMED_BAD[case]
    path = maker(tmp_path)
    reader = napari_get_reader(str(path))
    assert reader is not None, "the plugin claims this extension"
    with pytest.raises(LowdoseError, match=words) as info:
        reader(str(path))
    message = str(info.value)
    assert path.name in message  # says which file
    assert "\n" not in message  # one line


@pytest.mark.parametrize("name", ["notes.txt", "image.png", "data.h5", "noextension", "archive.tif.gz"])
def test_unknown_extensions_are_not_claimed(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"xx")
    assert napari_get_reader(str(path)) is None
    assert napari_get_reader([str(path)]) is None


def test_list_is_claimed_only_if_every_path_is_ours(tmp_path):
    assert napari_get_reader([str(tmp_path / "a.tif"), str(tmp_path / "b.mrc")]) is not None
    assert napari_get_reader([str(tmp_path / "a.tif"), str(tmp_path / "b.png")]) is None
    assert napari_get_reader([]) is None


def test_read_image_refuses_unknown_and_missing(tmp_path):
    with pytest.raises(LowdoseError, match="unsupported file type"):
        read_image(tmp_path / "a.png")
    with pytest.raises(LowdoseError, match="no such file"):
        read_image(tmp_path / "missing.tif")
