"""``napari-lowdose phase`` (issue 19): four segment files or a Velox EMD -> float32 potential with the pixel size."""

from __future__ import annotations

import numpy as np
import pytest

from napari_lowdose.cli import main
from napari_lowdose.core.segmented.simulate import SegmentedDetector, SegmentedScene, simulate_segments
from napari_lowdose.io import read_image, write_image


@pytest.fixture(scope="module")
def sample():
    return simulate_segments(SegmentedScene(structure="SrTiO3", thickness=40.0, shape=(48, 48), detector=SegmentedDetector(rotation_deg=20.0)), seed=2)


def _write(tmp_path, segs, px=0.25):
    paths = []
    for name, s in zip("ABCD", segs):
        p = tmp_path / f"{name}.tif"
        write_image(p, s.astype(np.float32), pixel_size=px)
        paths.append(str(p))
    return paths


def test_phase_from_four_tiffs(tmp_path, sample, capsys):
    paths = _write(tmp_path, sample.noisy(20000.0, seed=0))
    out = tmp_path / "pot.tif"
    assert main(["phase", *paths, "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "found by minimum curl" in text
    found = float(text.split("rotation ")[1].split("°")[0])
    assert abs(found - 20.0) < 2.0
    img = read_image(out)[0]
    assert img.data.dtype == np.float32 and img.data.shape == (48, 48) and img.pixel_size == pytest.approx(0.25, rel=1e-4)
    assert np.corrcoef(img.data.ravel(), sample.potential.ravel())[0, 1] > 0.9
    assert img.metadata["provenance"]["processing"] == "phase reconstruction (idpc)"


def test_phase_in_rad_with_a_given_rotation(tmp_path, sample):
    paths = _write(tmp_path, sample.segments)
    out = tmp_path / "phase.tif"
    assert main(["phase", *paths, "-o", str(out), "--rotation", "20", "--phase", "--voltage", "300"]) == 0
    phase = read_image(out)[0].data
    assert np.corrcoef(phase.ravel(), sample.potential.ravel())[0, 1] > 0.95
    assert 0.05 < phase.std() < 5  # rad, not V·Å


@pytest.mark.parametrize("argv, words", [
    (["--rotation", "abc"], "rotation must be a number of degrees or 'auto'"),
    (["--thickness", "-5"], "--thickness must be a positive number"),
])
def test_bad_arguments_get_one_line(tmp_path, sample, capsys, argv, words):
    paths = _write(tmp_path, sample.segments)
    assert main(["phase", *paths, "-o", str(tmp_path / "x.tif"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1


def test_three_files_or_no_pixel_size_are_refused(tmp_path, sample, capsys):
    paths = _write(tmp_path, sample.segments)
    assert main(["phase", *paths[:3], "-o", str(tmp_path / "x.tif")]) == 2
    assert "got 3 files" in capsys.readouterr().err
    nopx = _write(tmp_path, sample.segments, px=None)
    assert main(["phase", *nopx, "-o", str(tmp_path / "x.tif")]) == 2
    assert "--pixel-size" in capsys.readouterr().err


def test_velox_file_is_read_but_too_small_to_reconstruct(real_data, tmp_path, capsys):
    """The example file's scan is 2 x 2: read in order, refused with one sentence."""
    assert main(["phase", str(real_data / "4d" / "fei_example_dpc_titles.emd"), "-o", str(tmp_path / "x.tif")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "at least 8 x 8" in err[-1]


def test_learned_method_with_the_bundled_model(tmp_path, sample, capsys):
    """The bundled model runs from the command line; on this scan it is closer to the truth than iDPC."""
    counts = sample.noisy(1000.0, seed=5)
    paths = _write(tmp_path, counts)
    truth = sample.potential - sample.potential.mean()
    errs = {}
    for method in ("idpc", "learned"):
        out = tmp_path / f"{method}.tif"
        assert main(["phase", *paths, "-o", str(out), "--method", method, "--rotation", "20", "--thickness", "40"]) == 0
        est = read_image(out)[0].data.astype(np.float64)
        errs[method] = float(np.sqrt(np.mean((est - est.mean() - truth) ** 2)))
    assert "by learned" in capsys.readouterr().out
    assert errs["learned"] < errs["idpc"]
