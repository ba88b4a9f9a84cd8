"""4D-STEM reading on every file in ../shared/real-data/4d (shape, dtype, calibration, lazy or not), and
on bad input (RAW Merlin, truncated, empty, 3-D/5-D, NaN); writing .npy/.h5/.zarr block by block."""

import shutil

import numpy as np
import pytest

from napari_lowdose.core.errors import LowdoseError
from napari_lowdose.io.read4d import INV_ANGSTROM, PIXEL, read_4dstem
from napari_lowdose.io.write4d import open_4d_output

# file: (shape, dtype in the file, dtype read, scan step Å, detector step, detector unit, index)
EXPECTED = {
    "001_4x2_6bit.mib": ((2, 4, 256, 256), "uint8", np.uint8, None, None, PIXEL, None),
    "001_4x2_6bit.hdr": ((2, 4, 256, 256), "uint8", np.uint8, None, None, PIXEL, None),
    "Quad_9_Frame_CounterDepth_24_Rows_256.mib": ((3, 3, 512, 512), ">u4", np.uint32, None, None, PIXEL, None),
    "Quad_9_Frame_CounterDepth_24_Rows_256.hdr": ((3, 3, 512, 512), ">u4", np.uint32, None, None, PIXEL, None),
    "test1.blo": ((3, 2, 144, 144), "uint8", np.uint8, (128.0, 128.0), None, PIXEL, None),
    "Si100_4D.emd": ((11, 11, 8, 8), "float32", np.float32, (5.0, 5.0), (0.0184162, 0.0184162), INV_ANGSTROM, 1),
    "py4DSTEM_size2x3x4x5.h5": ((2, 3, 4, 5), "float32", np.float32, (1.26796875, 1.26796875), (0.0442516, 0.0442516), INV_ANGSTROM, None),
}
REFUSED = {
    "Quad_1_Frame_CounterDepth_1_Rows_256RAW.mib": "saved in RAW mode",
    "Quad_1_Frame_CounterDepth_1_Rows_256RAW.hdr": "saved in RAW mode",
    "fei_example_dpc_titles.emd": "holds no 4D-STEM data",
    "Si100_2D_3D_DPC_potential_2slices.emd": "holds no 4D-STEM data",
}


def test_every_real_4d_file_is_expected(real_data):
    names = {p.name for p in (real_data / "4d").iterdir() if p.suffix != ".md"}
    assert names <= set(EXPECTED) | set(REFUSED), sorted(names - set(EXPECTED) - set(REFUSED))


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("lazy", [False, True])
def test_real_file_shape_dtype_and_calibration(real_data, name, lazy):
    shape, in_file, dtype, scan, det, unit, index = EXPECTED[name]
    d = read_4dstem(real_data / "4d" / name, lazy=lazy, index=index)
    assert d.shape == shape and d.data.dtype == dtype and d.data.dtype.isnative
    assert d.metadata["dtype_in_file"] == in_file and d.lazy == lazy
    assert d.scan_step == (pytest.approx(scan) if scan else None)
    assert d.detector_step == (pytest.approx(det, rel=1e-5) if det else None) and d.detector_unit == unit
    kw = d.layer_kwargs()
    assert kw["axis_labels"] == ("scan y", "scan x", "ky", "kx") and len(kw["scale"]) == 4
    eager = read_4dstem(real_data / "4d" / name, lazy=False, index=index).data
    np.testing.assert_array_equal(np.asarray(d.data[-1, -1]), eager[-1, -1])


def test_big_endian_merlin_counts_are_converted(real_data):
    d = read_4dstem(real_data / "4d" / "Quad_9_Frame_CounterDepth_24_Rows_256.mib")
    raw = np.fromfile(real_data / "4d" / "Quad_9_Frame_CounterDepth_24_Rows_256.mib", np.uint8)
    assert d.data.dtype == np.dtype("<u4") and d.data.max() > 0 and d.data.sum() < 2**40 and raw.size


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_real_files_without_usable_4d_data_get_one_sentence(real_data, name):
    with pytest.raises(LowdoseError, match=REFUSED[name]) as info:
        read_4dstem(real_data / "4d" / name)
    assert "\n" not in str(info.value) and name.split(".")[0] in str(info.value)


def test_a_5d_file_asks_for_a_plane(real_data):
    with pytest.raises(LowdoseError, match=r"5-D data .* choose one of its 2 'CBED_array_depth' planes"):
        read_4dstem(real_data / "4d" / "Si100_4D.emd")
    with pytest.raises(LowdoseError, match="plane 5 does not exist"):
        read_4dstem(real_data / "4d" / "Si100_4D.emd", index=5)


@pytest.mark.parametrize("name, match", [("001_4x2_6bit.mib", "is truncated: it holds 4 complete frame"),
                                         ("test1.blo", "is truncated"), ("py4DSTEM_size2x3x4x5.h5", "damaged or truncated")])
def test_truncated_files_get_one_sentence(real_data, tmp_path, name, match):
    src = real_data / "4d" / name
    data = src.read_bytes()
    (tmp_path / name).write_bytes(data[: len(data) // 2])
    if name.endswith(".mib"):
        shutil.copy(src.with_suffix(".hdr"), tmp_path)
    with pytest.raises(LowdoseError, match=match) as info:
        read_4dstem(tmp_path / name)
    assert "\n" not in str(info.value)


def test_empty_missing_and_wrong_files(tmp_path):
    (tmp_path / "a.mib").write_bytes(b"")
    with pytest.raises(LowdoseError, match="is empty"):
        read_4dstem(tmp_path / "a.mib")
    with pytest.raises(LowdoseError, match="no such file"):
        read_4dstem(tmp_path / "b.blo")
    with pytest.raises(LowdoseError, match="not a 4D-STEM file"):
        read_4dstem(tmp_path / "c.tif")
    np.save(tmp_path / "three.npy", np.zeros((4, 16, 16), np.float32))
    with pytest.raises(LowdoseError, match="has 3 axes"):
        read_4dstem(tmp_path / "three.npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    with pytest.raises(LowdoseError, match="cannot read junk.npy"):
        read_4dstem(tmp_path / "junk.npy")


def test_npy_reads_eagerly_or_lazily(tmp_path):
    data = np.random.default_rng(0).poisson(2.0, (4, 5, 16, 16)).astype(">u2")
    np.save(tmp_path / "d.npy", data)
    eager = read_4dstem(tmp_path / "d.npy")
    lazy = read_4dstem(tmp_path / "d.npy", lazy=True)
    assert not eager.lazy and lazy.lazy and eager.data.dtype == np.uint16
    np.testing.assert_array_equal(np.asarray(lazy.data), data)


def test_lazy_npy_is_streamed_with_file_reads_not_a_memory_map(tmp_path):
    """A lazily read .npy is read by scan rows with plain file reads (pages read by a memory map would stay
    in the process's resident memory): the dask graph holds no memmap, and any slice reads the right values."""
    from napari_lowdose.io.read4d import NpyRows

    data = np.random.default_rng(1).poisson(3.0, (7, 5, 16, 16)).astype(np.uint16)
    np.save(tmp_path / "d.npy", data)
    lazy = read_4dstem(tmp_path / "d.npy", lazy=True)
    sources = list(lazy.data.dask.values())
    assert not any(isinstance(v, np.memmap) for v in sources) and any(isinstance(v, NpyRows) for v in sources)
    np.testing.assert_array_equal(lazy.data[2:6, 1:4].compute(), data[2:6, 1:4])
    rows = NpyRows(tmp_path / "d.npy", data.shape, data.dtype, np.load(tmp_path / "d.npy", mmap_mode="r").offset)
    for key in (3, -1, slice(None), slice(1, 6, 2), slice(5, 0, -2), (slice(2, 4), 3), (4, Ellipsis, 7), (Ellipsis, 2)):
        np.testing.assert_array_equal(rows[key], data[key], err_msg=str(key))
    np.testing.assert_array_equal(np.asarray(rows), data)
    with pytest.raises(IndexError):
        rows[7]


@pytest.mark.parametrize("ext", [".npy", ".h5", ".zarr"])
def test_results_are_written_in_blocks_and_read_back(tmp_path, ext):
    if ext == ".zarr":
        pytest.importorskip("zarr")
    data = np.random.default_rng(1).random((5, 4, 16, 16)).astype(np.float32)
    cal = {"scan_step_angstrom": [0.5, 0.5], "detector_step": [1.2, 1.2], "detector_unit": "mrad"}
    path = tmp_path / f"out{ext}"
    with open_4d_output(path, data.shape, cal, {"processing": "denoise4d"}) as out:
        for r in range(5):
            out[r : r + 1] = data[r : r + 1]
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary left
    back = read_4dstem(path)
    np.testing.assert_array_equal(np.asarray(back.data), data)
    if ext != ".npy":
        assert back.scan_step == (0.5, 0.5) and back.detector_step == (1.2, 1.2) and back.detector_unit == "mrad"
        assert "denoise4d" in back.metadata["provenance"]


def test_an_error_while_writing_leaves_no_file(tmp_path):
    path = tmp_path / "out.h5"
    with pytest.raises(RuntimeError):
        with open_4d_output(path, (3, 3, 16, 16)) as out:
            out[0:1] = 1.0
            raise RuntimeError("cancelled")
    assert list(tmp_path.iterdir()) == []


def test_reading_4d_files_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, napari_lowdose.io; from napari_lowdose.io import read_4dstem; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
