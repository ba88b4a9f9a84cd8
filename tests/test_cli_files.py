"""_cli_files: denoise checks before any work and writes provenance; resolution of processed files and the
half-data FRC; view opens what it can; every argument has help."""

import argparse
import json

import numpy as np
import pytest

from napari_lowdose.cli import EXIT_ERROR, build_parser, main
from napari_lowdose.core.simulate import bandlimited_image
from napari_lowdose.io import read_image, write_image


@pytest.fixture
def small_model_file(tmp_path):
    import torch

    from napari_lowdose.core.model import Model, save_model
    from napari_lowdose.core.unet import UNetConfig

    torch.manual_seed(0)
    return save_model(Model.new(UNetConfig(depth=3, base_channels=8), name="small"), tmp_path / "small")


@pytest.fixture
def no_model_run(monkeypatch):
    from napari_lowdose.core.tiling import TiledDenoiser

    def refuse(self, *args, **kwargs):
        raise AssertionError("the model ran")

    monkeypatch.setattr(TiledDenoiser, "run", refuse)


def test_every_argument_of_every_subcommand_has_help():
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, subparser in sub.choices.items():
        for action in subparser._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help, f"{name} {action.dest} has no help"


@pytest.mark.parametrize(
    "data, words",
    [
        (np.random.default_rng(0).random((3, 3)).astype(np.float32), "too small"),
        (np.zeros((64, 64), np.uint16), "constant"),
        (np.stack([np.random.default_rng(0).random((64, 64)), np.full((64, 64), 2.0)]).astype(np.float32), "plane 1) is constant"),
    ],
)
def test_denoise_refuses_tiny_and_constant_images_before_any_work(tmp_path, capsys, small_model_file, no_model_run, data, words):
    path = write_image(tmp_path / "x.tif", data)
    assert main(["denoise", str(path), "-o", str(tmp_path / "o"), "--model", str(small_model_file)]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert words in err and "x.tif" in err and "Traceback" not in err
    assert not list((tmp_path / "o").glob("*.tif"))


def test_denoise_refuses_4d_stem_and_4d_arrays_before_the_model(tmp_path, capsys, real_data, small_model_file, no_model_run):
    assert main(["denoise", str(real_data / "4d" / "Si100_4D.emd"), "-o", str(tmp_path), "--model", str(small_model_file)]) == EXIT_ERROR
    assert "is 4D-STEM data" in capsys.readouterr().err
    code = main(["denoise", str(real_data / "4d" / "Si100_2D_3D_DPC_potential_2slices.emd"), "-o", str(tmp_path), "--model", str(small_model_file)])
    assert code == EXIT_ERROR
    err = capsys.readouterr().err
    assert "signal 'DPC_CoM' has 4 dimensions" in err and "signal 'annular_detector'" in err


def test_denoise_goes_on_with_the_good_signals_and_names_the_bad(tmp_path, capsys, real_data):
    """The four-detector Velox file: HAADF denoises; the all-zero DF2, BF, DF4 are refused by name."""
    code = main(["denoise", str(real_data / "STEM_HAADF-DF4-DF2-BF_Diffraction_Micro.emd"), "-o", str(tmp_path), "--device", "cpu"])
    assert code == EXIT_ERROR
    err = capsys.readouterr().err
    for name in ("DF2", "BF", "DF4"):
        assert f"signal '{name}' is constant (every pixel 0)" in err
    assert (tmp_path / "STEM_HAADF-DF4-DF2-BF_Diffraction_Micro_HAADF_denoised.tif").is_file()


def test_denoise_writes_provenance_and_resolution_reads_it(tmp_path, capsys, small_model_file):
    raw = write_image(tmp_path / "raw.tif", bandlimited_image((96, 96), 0.2, mean=20, std=8), pixel_size=2.0)
    assert main(["denoise", str(raw), "-o", str(tmp_path / "o"), "--model", str(small_model_file), "--device", "cpu"]) == 0
    out = tmp_path / "o" / "raw_denoised.tif"
    (image,) = read_image(out)
    prov = image.metadata["provenance"]
    assert prov["processing"] == "denoised" and prov["model"] == "small" and prov["input"] == str(raw.resolve()) and prov["date"]
    capsys.readouterr()
    assert main(["resolution", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))
    assert report["cutoff"] is None and report["frc_cutoff"] is None
    assert "not measurable on a processed image (denoised with small)" in report["note"]
    assert main(["resolution", str(out), "--denoised"]) == EXIT_ERROR
    assert "already processed" in capsys.readouterr().err


def test_resolution_denoised_gives_the_half_data_frc(tmp_path, capsys):
    k0 = 0.25
    raw = write_image(tmp_path / "raw.tif", bandlimited_image((128, 128), k0, mean=30, std=10), pixel_size=2.0)
    assert main(["resolution", str(raw), "--denoised", "--model", "haadf", "--device", "cpu", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cutoff"] is None and "half-data FRC" in report["note"]
    assert report["counts"] == "integer counts" and report["denoised_with"] == "haadf"
    assert report["half_data_frc_cutoff"] <= 1.1 * k0  # 128 px: one frequency bin is 3 % of k0
    assert report["half_data_frc_resolution_A"] == pytest.approx(2.0 / report["half_data_frc_cutoff"])
    assert main(["resolution", str(raw), "--gain", "2"]) == EXIT_ERROR
    assert "go with --denoised" in capsys.readouterr().err


def test_resolution_denoised_on_non_count_data_says_not_measurable(tmp_path, capsys, small_model_file):
    from scipy import ndimage

    counts = bandlimited_image((128, 128), 0.2, mean=30, std=10).astype(np.float32)
    raw = write_image(tmp_path / "smeared.tif", ndimage.uniform_filter1d(counts, 3, axis=1) * 3.0 + 100)
    assert main(["resolution", str(raw), "--denoised", "--model", str(small_model_file), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "half-data FRC: —" in out and "not independent" in out


class _Viewer:
    def __init__(self):
        self.layers = []

    def add_image(self, data, **kwargs):
        self.layers.append(kwargs["name"])


def test_view_opens_what_it_can_and_reports_the_rest(tmp_path, capsys, real_data):
    from napari_lowdose._cli_files import open_files

    viewer = _Viewer()
    files = [real_data / "Acquisition_18.emd", real_data / "08_carbon.dm3", real_data / "4d" / "fei_example_dpc_titles.emd"]
    assert open_files(viewer, files) == 1
    assert "Acquisition_18" in viewer.layers and "fei_example_dpc_titles DF4 segments" in viewer.layers
    err = capsys.readouterr().err
    assert "08_carbon.dm3" in err and "EELS spectrum" in err
    assert "skipped: fei_example_dpc_titles.emd signal 'DPC' holds complex numbers" in err


def test_view_of_a_good_and_a_bad_file_in_a_real_process(tmp_path, real_data):
    import subprocess
    import sys

    shot = tmp_path / "view.png"
    proc = subprocess.run(
        [sys.executable, "-m", "napari_lowdose.cli", "view", str(real_data / "Acquisition_18.emd"),
         str(real_data / "08_carbon.dm3"), "--no-denoise", "--screenshot", str(shot)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == EXIT_ERROR  # something was not opened: said, and the exit code says so
    assert "layer 'Acquisition_18' (1024, 1024) uint16" in proc.stdout and shot.is_file()
    assert "08_carbon.dm3 holds no image" in proc.stderr and "Traceback" not in proc.stderr


def test_signal_reaches_a_signal_beside_a_bad_one(tmp_path, capsys, real_data):
    out = tmp_path / "df4a.tif"
    assert main(["fftmask", str(real_data / "4d" / "fei_example_dpc_titles.emd"), "--signal", "DF4-A", "-o", str(out)]) == 0
    assert read_image(out)[0].data.shape == (2, 2)
    assert "skipped: fei_example_dpc_titles.emd signal 'DPC'" in capsys.readouterr().err


def test_info_says_4d_stem_and_provenance(tmp_path, capsys, real_data):
    assert main(["info", str(real_data / "4d" / "Si100_4D.emd")]) == 0
    out = capsys.readouterr().out
    assert "4D-STEM data: a 2 x 11 x 11 scan of 8 x 8 diffraction patterns" in out and "1 / nm per pixel" in out
    assert "no calibration" not in out and "spectrum" not in out
    prov = {"processing": "denoised", "model": "haadf", "input": "/data/a.emd", "notes": ["Wiener refinement skipped"]}
    path = write_image(tmp_path / "d.tif", np.ones((40, 40), np.float32), provenance=prov)
    assert main(["info", str(path)]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip().startswith("provenance")]
    assert line and line[0].split(None, 1)[1] == "processing denoised, model haadf, input /data/a.emd, notes ['Wiener refinement skipped']"
