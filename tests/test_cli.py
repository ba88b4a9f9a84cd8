import subprocess
import sys

import pytest

from napari_lowdose._sample_data import sample_paths
from napari_lowdose.cli import EXIT_ERROR, main

from .io.bad_files import CLAIMED_BAD


def test_info_prints_shape_dtype_pixel_size_and_unit(capsys):
    low, _ = sample_paths()
    assert main(["info", str(low)]) == 0
    out = capsys.readouterr().out
    assert "1024 (y) x 1024 (x)" in out
    assert "uint16" in out
    assert "5 Å (0.5 nm)" in out
    assert "angstrom" in out


def test_info_on_real_files(capsys, real_data):
    assert main(["info", str(real_data / "16_STOimage_1.ser"), str(real_data / "HAADFscan.mrc")]) == 0
    out = capsys.readouterr().out
    assert "0.100127 Å" in out and "56.7913 Å" in out


@pytest.mark.parametrize("case", sorted(CLAIMED_BAD))
def test_info_on_bad_files_is_one_line_and_non_zero(tmp_path, capsys, case):
    maker, words = CLAIMED_BAD[case]
    path = maker(tmp_path)
    assert main(["info", str(path)]) == EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("napari-lowdose: error:")
    assert "Traceback" not in err


def test_info_unknown_extension_and_missing_file(tmp_path, capsys):
    (tmp_path / "x.png").write_bytes(b"png")
    assert main(["info", str(tmp_path / "x.png")]) == EXIT_ERROR
    assert "unsupported file type" in capsys.readouterr().err
    assert main(["info", str(tmp_path / "nope.tif")]) == EXIT_ERROR
    assert "no such file" in capsys.readouterr().err


def test_info_in_a_real_process_has_no_traceback(tmp_path, real_data):
    proc = subprocess.run(
        [sys.executable, "-m", "napari_lowdose.cli", "info", str(real_data / "08_carbon.dm3")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == EXIT_ERROR
    assert proc.stderr.strip().splitlines() == [
        "napari-lowdose: error: 08_carbon.dm3 holds no image: napari-lowdose opens 2-D images with spatial "
        "axes, and this file holds '08_carbon' (EELS spectrum, axis units: eV)"
    ]


def test_main_job_renders_sample_with_widgets(tmp_path):
    """`napari-lowdose view --screenshot`: napari with the sample pair and the plugin's widgets docked."""
    shot = tmp_path / "shot.png"
    proc = subprocess.run(
        [sys.executable, "-m", "napari_lowdose.cli", "view", "--screenshot", str(shot)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "layer 'gold 1 µs (low dose)' (1024, 1024) uint16, scale (5.0, 5.0) ('angstrom', 'angstrom')" in proc.stdout
    assert shot.stat().st_size > 10_000
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size[0] >= 800 and im.size[1] >= 500
