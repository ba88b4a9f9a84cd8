"""``napari-lowdose denoise4d``: output in the input's shape, float32, calibrations kept in .h5; bad input
gets one line and exit status 2."""

import numpy as np
import pytest

from napari_lowdose.cli import main
from napari_lowdose.io.read4d import read_4dstem


def _counts(shape=(6, 5, 16, 16)):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[: shape[2], : shape[3]]
    disc = np.where(np.hypot(yy - 8, xx - 8) < 4, 6.0, 0.3)
    return rng.poisson(disc * (1 + 0.3 * rng.random(shape[:2]))[..., None, None]).astype(np.uint16)


@pytest.mark.parametrize("ext", [".npy", ".h5"])
def test_denoise4d_writes_float32_in_the_input_shape(tmp_path, capsys, ext):
    src = tmp_path / "scan.npy"
    data = _counts()
    np.save(src, data)
    out = tmp_path / f"den{ext}"
    rc = main(["denoise4d", str(src), "-o", str(out), "--minutes", "1", "--steps", "2", "--neighbours", "8", "--cycles", "2"])
    assert rc == 0, capsys.readouterr().err
    res = read_4dstem(out)
    assert res.shape == data.shape and res.data.dtype == np.float32 and np.isfinite(res.data).all()
    assert f"{out}: denoised 6 x 5 x 16 x 16 float32" in capsys.readouterr().out
    if ext == ".h5":
        assert "denoise4d" in res.metadata["provenance"]


def test_denoise4d_keeps_the_calibration_of_the_input(tmp_path, capsys):
    from napari_lowdose.io.write4d import open_4d_output

    src = tmp_path / "cal.h5"
    with open_4d_output(src, (5, 5, 16, 16), {"scan_step_angstrom": [0.4, 0.4], "detector_step": [1.5, 1.5], "detector_unit": "mrad"}) as o:
        o[...] = _counts((5, 5, 16, 16)).astype(np.float32)
    out = tmp_path / "den.h5"
    assert main(["denoise4d", str(src), "-o", str(out), "--steps", "1"]) == 0, capsys.readouterr().err
    res = read_4dstem(out)
    assert res.scan_step == (0.4, 0.4) and res.detector_step == (1.5, 1.5) and res.detector_unit == "mrad"


@pytest.mark.parametrize("data, words", [(np.zeros((4, 16, 16), np.float32), "has 3 axes"),
                                         (np.ones((6, 6, 8, 8), np.float32), "8 x 8 px detector"),
                                         (np.full((6, 6, 16, 16), np.nan, np.float32), "NaN/Inf")])
def test_bad_input_gets_one_line_and_exit_2(tmp_path, capsys, data, words):
    src = tmp_path / "bad.npy"
    np.save(src, data)
    assert main(["denoise4d", str(src), "-o", str(tmp_path / "o.npy"), "--steps", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert words in err[-1] and err[-1].startswith("napari-lowdose: error:")
    assert not (tmp_path / "o.npy").exists()


def test_bad_output_and_raw_merlin(tmp_path, capsys, real_data):
    np.save(tmp_path / "a.npy", _counts())
    assert main(["denoise4d", str(tmp_path / "a.npy"), "-o", str(tmp_path / "o.tif")]) == 2
    assert "denoise4d writes .npy" in capsys.readouterr().err
    raw = real_data / "4d" / "Quad_1_Frame_CounterDepth_1_Rows_256RAW.mib"
    assert main(["denoise4d", str(raw), "-o", str(tmp_path / "o.npy")]) == 2
    assert "RAW mode" in capsys.readouterr().err
