import numpy as np
import pytest

from napari_lowdose.core.errors import FileFormatError
from napari_lowdose.io import atomic_write, read_image, write_image


def test_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    import tifffile

    target = tmp_path / "out.tif"
    write_image(target, np.full((8, 8), 7, np.uint16), pixel_size=1.0)
    before = target.read_bytes()

    def crash(path, data, **kwargs):
        with open(path, "wb") as fh:
            fh.write(b"II*\x00 half a file")  # a partial write, then the crash
        raise OSError("disk full")

    monkeypatch.setattr(tifffile, "imwrite", crash)
    with pytest.raises(OSError, match="disk full"):
        write_image(target, np.zeros((8, 8), np.uint16), pixel_size=1.0)
    assert target.read_bytes() == before  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["out.tif"]  # no temporary left behind

    # a new file that fails half-way never appears under its final name
    with pytest.raises(OSError):
        write_image(tmp_path / "new.tif", np.zeros((8, 8), np.uint16))
    assert not (tmp_path / "new.tif").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out.tif"]


def test_atomic_write_renames_only_on_success(tmp_path):
    target = tmp_path / "x.bin"
    with atomic_write(target) as tmp:
        tmp.write_bytes(b"complete")
        assert not target.exists() and tmp.parent == tmp_path
    assert target.read_bytes() == b"complete"


def test_write_refuses_unknown_extension_and_missing_folder(tmp_path):
    with pytest.raises(FileFormatError, match="writes"):
        write_image(tmp_path / "a.png", np.zeros((4, 4)))
    with pytest.raises(FileFormatError, match="does not exist"):
        write_image(tmp_path / "nope" / "a.tif", np.zeros((4, 4)))


def test_overwrite_replaces_content(tmp_path):
    target = tmp_path / "o.mrc"
    write_image(target, np.zeros((4, 4), np.float32), pixel_size=1.0)
    write_image(target, np.ones((4, 4), np.float32), pixel_size=3.0)
    (img,) = read_image(target)
    assert img.data.sum() == 16 and img.pixel_size == pytest.approx(3.0)


def test_written_files_get_the_usual_permissions(tmp_path):
    import os
    import stat

    from napari_lowdose.core.files import default_file_mode

    path = write_image(tmp_path / "p.tif", np.zeros((4, 4), np.uint16))
    assert stat.S_IMODE(os.stat(path).st_mode) == default_file_mode()
