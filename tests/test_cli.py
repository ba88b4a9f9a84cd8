import subprocess
import sys

import numpy as np
import torch
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
        "napari-lowdose: error: 08_carbon.dm3 holds no image napari-lowdose can open: signal '08_carbon' is an "
        "EELS spectrum, not an image (axis unit eV)"
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


# ------------------------------------------------------------------------ resolution, fftmask
def _bandlimited_file(tmp_path, k0=0.25, pixel_size=2.0, name="bl.tif"):
    from napari_lowdose.io import write_image

    from napari_lowdose.core.simulate import bandlimited_image as bandlimited

    return write_image(tmp_path / name, bandlimited((256, 256), k0), pixel_size=pixel_size)


def test_resolution_json(tmp_path, capsys):
    import json

    path = _bandlimited_file(tmp_path)
    assert main(["resolution", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("cutoff", "cutoff_x", "cutoff_y", "anisotropy", "frc_cutoff"):
        assert key in out
    assert out["cutoff"] == pytest.approx(0.25, rel=0.05)
    assert out["pixel_size_A"] == pytest.approx(2.0)
    assert out["resolution_A"] == pytest.approx(2.0 / out["cutoff"])


def test_resolution_pixel_size_override_and_text(tmp_path, capsys):
    import json

    path = _bandlimited_file(tmp_path, pixel_size=None)
    assert main(["resolution", str(path), "--json"]) == 0
    assert "resolution_A" not in json.loads(capsys.readouterr().out)  # no pixel size known
    assert main(["resolution", str(path), "--pixel-size", "1.25", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pixel_size_A"] == 1.25
    assert main(["resolution", str(path)]) == 0
    assert "anisotropy x/y" in capsys.readouterr().out


def test_resolution_of_noise_says_no_cutoff(tmp_path, capsys):
    import json

    import numpy as np

    from napari_lowdose.io import write_image

    path = write_image(tmp_path / "noise.tif", np.random.default_rng(0).poisson(5, (128, 128)).astype(np.uint16))
    assert main(["resolution", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cutoff"] is None and out["message"] == "no cutoff above noise"


def test_resolution_multi_signal_file_gives_a_list(real_data, capsys):
    import json

    assert main(["resolution", str(real_data / "STEM_HAADF-DF4-DF2-BF_Diffraction_Micro.emd"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert isinstance(out, list) and sorted(o["name"].split()[-1] for o in out) == ["BF", "DF2", "DF4", "HAADF"]
    assert main(["resolution", str(real_data / "multi_signal.dm3"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "multi_signal HAADF"


@pytest.mark.parametrize(
    "args, words",
    [
        (["--pixel-size", "-2"], "positive"),
        (["--plane", "5"], "out of range"),
        (["--signal", "DF9"], "no signal"),
    ],
)
def test_resolution_bad_arguments(tmp_path, capsys, args, words):
    path = _bandlimited_file(tmp_path)
    assert main(["resolution", str(path), *args]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1


def test_resolution_small_image_is_one_line(tmp_path, capsys):
    import numpy as np

    from napari_lowdose.io import write_image

    path = write_image(tmp_path / "small.tif", np.ones((16, 16), np.uint16))
    assert main(["resolution", str(path)]) == EXIT_ERROR
    assert "too small" in capsys.readouterr().err


@pytest.mark.parametrize("ext", [".tif", ".mrc"])
def test_fftmask_writes_masked_image_with_pixel_size(tmp_path, capsys, ext):
    from napari_lowdose.core.spectrum import fft_mask
    from napari_lowdose.io import read_image

    src = _bandlimited_file(tmp_path, k0=0.4, pixel_size=1.7)
    out = tmp_path / f"out{ext}"
    assert main(["fftmask", str(src), "-o", str(out), "--cutoff", "0.5", "--notch"]) == 0
    (img,) = read_image(out)
    (orig,) = read_image(src)
    assert img.pixel_size == pytest.approx(1.7, rel=1e-6)
    assert img.data.dtype == orig.data.dtype  # uint16 in, uint16 out
    expected = fft_mask(orig.data, 0.5, notch=True)
    assert abs(img.data.astype(float) - expected).max() <= 0.5 + 1e-3  # rounded to integers
    assert "wrote" in capsys.readouterr().out


def test_fftmask_multi_signal_needs_signal(real_data, tmp_path, capsys):
    src = real_data / "STEM_HAADF-DF4-DF2-BF_Diffraction_Micro.emd"
    assert main(["fftmask", str(src), "-o", str(tmp_path / "o.tif")]) == EXIT_ERROR
    assert "--signal" in capsys.readouterr().err
    assert main(["fftmask", str(src), "-o", str(tmp_path / "o.tif"), "--signal", "HAADF"]) == 0


def test_fftmask_bad_cutoff_and_output(tmp_path, capsys):
    src = _bandlimited_file(tmp_path)
    assert main(["fftmask", str(src), "-o", str(tmp_path / "o.tif"), "--cutoff", "0"]) == EXIT_ERROR
    assert main(["fftmask", str(src), "-o", str(tmp_path / "o.png")]) == EXIT_ERROR
    assert "writes" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ denoise
@pytest.fixture
def small_model_file(tmp_path):
    import torch

    from napari_lowdose.core.model import Model, save_model
    from napari_lowdose.core.unet import UNetConfig

    torch.manual_seed(0)
    return save_model(Model.new(UNetConfig(depth=3, base_channels=8), name="small"), tmp_path / "small")


def test_denoise_writes_float32_with_pixel_size(tmp_path, capsys, small_model_file):
    import numpy as np

    from napari_lowdose.io import read_image, write_image

    a = write_image(tmp_path / "a.tif", np.random.default_rng(0).poisson(5, (70, 90)).astype(np.uint16), pixel_size=2.5)
    b = write_image(tmp_path / "b.mrc", np.random.default_rng(1).random((2, 40, 50)).astype(np.float32), pixel_size=1.5)
    out = tmp_path / "out"
    assert main(["denoise", str(a), str(b), "-o", str(out), "--model", str(small_model_file), "--tile", "64"]) == 0
    (da,) = read_image(out / "a_denoised.tif")
    (db,) = read_image(out / "b_denoised.tif")
    assert da.data.dtype == np.float32 and da.data.shape == (70, 90) and da.pixel_size == pytest.approx(2.5)
    assert db.data.shape == (2, 40, 50) and db.pixel_size == pytest.approx(1.5)
    captured = capsys.readouterr()
    assert "wrote" in captured.out and "[" in captured.err  # a progress bar on stderr

    assert main(["denoise", str(a), "-o", str(tmp_path / "flips"), "--model", str(small_model_file), "--tile", "64", "--flips", "4", "--guard", "off"]) == 0
    assert "averaged over 4 flips" in capsys.readouterr().err
    (df,) = read_image(tmp_path / "flips" / "a_denoised.tif")
    from napari_lowdose.core.model import load_model
    from napari_lowdose.core.tiling import denoise

    expected = denoise(read_image(a)[0].data, load_model(small_model_file), tile=64, flips=4, device="auto")
    np.testing.assert_allclose(df.data, expected, rtol=1e-5, atol=1e-4)


def test_denoise_guard_blends_with_a_gaussian_as_the_image_prefers(tmp_path, capsys, small_model_file):
    from scipy import ndimage

    from napari_lowdose.core.guard import guard_plane
    from napari_lowdose.core.model import load_model
    from napari_lowdose.core.tiling import denoise
    from napari_lowdose.io import read_image, write_image

    y, x = np.mgrid[:96, :96]
    lam = ndimage.gaussian_filter(1 + 5.0 * ((x // 6 + y // 6) % 2), 1.0)
    counts = np.random.default_rng(4).poisson(lam)
    a = write_image(tmp_path / "a.tif", (100 + 10 * counts).astype(np.uint16), pixel_size=0.3)
    args = ["denoise", str(a), "--model", str(small_model_file), "--tile", "64", "--device", "cpu"]
    assert main([*args, "-o", str(tmp_path / "off")]) == 0  # auto: this card records no range, so no guard
    assert "guard" not in capsys.readouterr().err
    assert main([*args, "-o", str(tmp_path / "on"), "--guard", "on", "--gain", "10", "--offset", "100"]) == 0
    err = capsys.readouterr().err
    assert "guard: " in err and "gain 10 ADU/e⁻, offset 100 ADU given" in err
    (plain,), (guarded,) = read_image(tmp_path / "off" / "a_denoised.tif"), read_image(tmp_path / "on" / "a_denoised.tif")
    net = denoise(read_image(a)[0].data, load_model(small_model_file), tile=64, device="cpu")
    np.testing.assert_allclose(plain.data, net, rtol=1e-5, atol=1e-3)
    # the written result is the core guard's (same counts, same seed), and an untrained network is not kept whole
    model = load_model(small_model_file)
    image = read_image(a)[0].data
    expected, choice, note = guard_plane(image, net, lambda x: denoise(x, model, tile=64, device="cpu"), 10.0, 100.0)
    assert choice is not None and choice.weight < 1 and choice.message in err
    np.testing.assert_allclose(guarded.data, expected, rtol=1e-4, atol=1e-2)


def test_denoise_reports_a_failing_file_and_goes_on(tmp_path, capsys, small_model_file):
    import numpy as np

    from napari_lowdose.io import write_image

    from .io.bad_files import nan_tiff, truncated_tiff

    good = write_image(tmp_path / "good.tif", np.random.default_rng(0).random((40, 40)).astype(np.float32), pixel_size=1.0)
    bad1, bad2 = truncated_tiff(tmp_path), nan_tiff(tmp_path)
    out = tmp_path / "out"
    code = main(["denoise", str(bad1), str(good), str(bad2), "-o", str(out), "--model", str(small_model_file)])
    assert code == EXIT_ERROR
    assert (out / "good_denoised.tif").is_file()
    err = capsys.readouterr().err
    assert "truncated.tif" in err and "NaN/Inf" in err and "2 file(s) or signal(s) of 3 file(s) failed" in err
    assert "Traceback" not in err


def test_denoise_refuses_pickled_and_foreign_models(tmp_path, capsys, small_model_file):
    import json

    import numpy as np
    import torch

    from napari_lowdose.io import write_image

    img = write_image(tmp_path / "i.tif", np.ones((40, 40), np.float32))
    torch.save({"w": torch.zeros(1)}, tmp_path / "evil.pt")
    assert main(["denoise", str(img), "-o", str(tmp_path / "o"), "--model", str(tmp_path / "evil.pt")]) == EXIT_ERROR
    assert "pickled" in capsys.readouterr().err
    card = json.loads(small_model_file.with_suffix(".json").read_text())
    card["architecture"]["base_channels"] = 48
    small_model_file.with_suffix(".json").write_text(json.dumps(card))
    assert main(["denoise", str(img), "-o", str(tmp_path / "o"), "--model", str(small_model_file)]) == EXIT_ERROR
    assert "another architecture" in capsys.readouterr().err


def test_denoise_bad_device(tmp_path, capsys, small_model_file):
    import numpy as np

    from napari_lowdose.io import write_image

    img = write_image(tmp_path / "i.tif", np.ones((40, 40), np.float32))
    assert main(["denoise", str(img), "-o", str(tmp_path / "o"), "--model", str(small_model_file), "--device", "tpu9"]) == EXIT_ERROR
    assert "unknown device" in capsys.readouterr().err


def test_denoise_real_file_with_the_default_model(tmp_path, capsys, real_data):
    from napari_lowdose.io import read_image

    assert main(["denoise", str(real_data / "multi_signal.dm3"), "-o", str(tmp_path), "--device", "cpu"]) == 0
    (out,) = read_image(tmp_path / "multi_signal_denoised.tif")
    assert out.data.shape == (512, 512) and out.pixel_size == pytest.approx(0.177516, rel=1e-4)
    err = capsys.readouterr().err
    # the HAADF-STEM family's model for its pixel size (0.18 Å: atomic resolution), reported by name, and the guard's sentence
    assert "model 'haadf-atomic'" in err and "pixel size (0.178 Å)" in err and "guard" in err


def test_denoise_with_a_bundled_model_by_name(tmp_path, capsys):
    import numpy as np

    from napari_lowdose.io import write_image

    img = write_image(tmp_path / "i.tif", np.random.default_rng(0).poisson(20, (64, 80)).astype(np.uint16), pixel_size=1.0)
    assert main(["denoise", str(img), "-o", str(tmp_path / "o"), "--model", "hrtem", "--device", "cpu", "--guard", "off"]) == 0
    err = capsys.readouterr().err
    assert "model 'hrtem'" in err and "Wiener refinement" in err  # the hrtem card's choice
    assert (tmp_path / "o" / "i_denoised.tif").is_file()
    assert main(["denoise", str(img), "-o", str(tmp_path / "plain"), "--model", "hrtem", "--device", "cpu", "--refine", "none", "--guard", "off"]) == 0
    assert "Wiener" not in capsys.readouterr().err

    from napari_lowdose.core.tiling import denoise
    from napari_lowdose.io import read_image

    (refined,), (plain,) = read_image(tmp_path / "o" / "i_denoised.tif"), read_image(tmp_path / "plain" / "i_denoised.tif")
    raw = read_image(img)[0].data
    np.testing.assert_allclose(plain.data, denoise(raw, "hrtem", device="cpu", refine="none"), rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(refined.data, denoise(raw, "hrtem", device="cpu"), rtol=1e-5, atol=1e-3)
    assert np.abs(refined.data - plain.data).max() > 1e-2


def test_train_writes_a_loadable_model_card_and_log(tmp_path, capsys):
    import json

    from napari_lowdose.core.model import load_model

    out = tmp_path / "m"
    args = ["train", "-o", str(out), "--steps", "2", "--batch", "1", "--patch", "32", "--depth", "2", "--channels", "8", "--modalities", "haadf",
            "--validation-images", "2"]
    assert main(args) == 0
    model = load_model(out.with_suffix(".safetensors"))
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training"]["steps"] == 2 and card["training"]["seed"] == 0
    assert card["training"]["command"].startswith("napari-lowdose train")
    curve = card["training"]["validation_curve"]
    assert card["metrics"]["validation_psnr_db"] == pytest.approx(max(c["val_psnr_db"] for c in curve), abs=1e-3)
    assert card["training"]["wall_time_s"] > 0 and card["training"]["start_validation_psnr_db"] is None
    assert card["trained_on"]["distribution"]["modalities"] == ["haadf"]
    assert model.card.architecture.depth == 2
    assert "validation PSNR" in out.with_suffix(".log").read_text()
    # the best weights so far are checkpointed while the run goes: a stopped or crashed run keeps them
    best = load_model(tmp_path / "m-best.safetensors")
    assert all(torch.equal(v, model.net.state_dict()[k]) for k, v in best.net.state_dict().items())
    assert main(["train", "-o", str(out), "--patch", "33"]) == EXIT_ERROR
    assert "multiple of 32" in capsys.readouterr().err
    assert main(["train", "-o", str(out), "--hrtem-counting", "1.5"]) == EXIT_ERROR
    assert "hrtem_counting must be a fraction" in capsys.readouterr().err
    # --init continues from a model: its architecture, and the card says where it started
    more = tmp_path / "m2"
    assert main(["train", "-o", str(more), "--init", str(out.with_suffix(".safetensors")), "--steps", "1", "--batch", "1", "--patch", "32", "--modalities", "hrtem",
                 "--validation-images", "2", "--loss", "psnr", "--ema", "0.9", "--hrtem-camera-psf", "0.2", "1.0", "--hrtem-counting", "0.4"]) == 0
    card2 = json.loads(more.with_suffix(".json").read_text())
    dist = card2["trained_on"]["distribution"]
    assert dist["hrtem_camera_psf"] == [0.2, 1.0] and dist["hrtem_counting"] == 0.4
    assert card2["architecture"]["depth"] == 2 and card2["training"]["started_from"]["training"]["steps"] == 2
    # the starting weights were scored first (step 0 of the curve) and are a candidate for the best
    t2 = card2["training"]
    assert t2["validation_curve"][0]["step"] == 0 and t2["validation_curve"][0]["val_psnr_db"] == pytest.approx(t2["start_validation_psnr_db"], abs=1e-3)
    assert t2["best_step"] in (0, 1) and t2["ema"] == 0.9 and t2["loss"] == "1·psnr"
    assert card2["metrics"]["validation_images"] == 2
    assert "step 0 (the starting weights)" in more.with_suffix(".log").read_text()
    assert "HRTEM" in card2["description"] and "HAADF" not in card2["description"]


def _tiny_base(tmp_path):
    from napari_lowdose.core.model import Model, save_model
    from napari_lowdose.core.unet import UNetConfig

    return save_model(Model.new(UNetConfig(depth=2, base_channels=8), name="tiny"), tmp_path / "base")


def _pair_files(tmp_path):
    from napari_lowdose.core.simulate import Acquisition, SceneConfig, simulate_pair
    from napari_lowdose.io import write_image

    p = simulate_pair(SceneConfig(shape=(160, 160), pixel_size=4.0, island_size=60.0), Acquisition(dose=2.0), seed=4)
    return write_image(tmp_path / "a_1us.tif", p.low, pixel_size=4.0), write_image(tmp_path / "a_4us.tif", p.high, pixel_size=4.0)


def test_finetune_writes_a_model_with_the_pairs_in_its_card(tmp_path, capsys):
    import json

    from napari_lowdose.core.model import load_model

    noisy, ref = _pair_files(tmp_path)
    out = tmp_path / "tuned.safetensors"
    args = ["finetune", "--noisy", str(noisy), "--reference", str(ref), "-o", str(out), "--base", str(_tiny_base(tmp_path)), "--steps", "3", "--patch", "64", "--batch", "1"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "a_1us.tif / a_4us.tif" in err and "intensity denoised reference x" in err
    card = json.loads(out.with_suffix(".json").read_text())
    ft = card["training"]["finetune"]
    assert ft["steps"] == 3 and ft["mode"].startswith("paired") and "a_1us.tif" in ft["pairs"][0]
    load_model(out)


def test_finetune_self_supervised_and_bad_arguments(tmp_path, capsys):
    noisy, ref = _pair_files(tmp_path)
    base = str(_tiny_base(tmp_path))
    out = str(tmp_path / "ss.safetensors")
    assert main(["finetune", "--noisy", str(noisy), "--self-supervised", "-o", out, "--base", base, "--steps", "2", "--patch", "64", "--batch", "1"]) == 0
    assert main(["finetune", "--noisy", str(noisy), "-o", out, "--base", base]) == EXIT_ERROR
    assert "--self-supervised" in capsys.readouterr().err
    from napari_lowdose.io import write_image

    small = write_image(tmp_path / "small.tif", np.zeros((160, 100), np.uint16), pixel_size=4.0)
    assert main(["finetune", "--noisy", str(noisy), "--reference", str(small), "-o", out, "--base", base, "--steps", "1"]) == EXIT_ERROR
    assert "same shape" in capsys.readouterr().err


def test_finetune_ctrl_c_writes_the_best_weights_so_far(tmp_path, capsys, monkeypatch):
    from napari_lowdose.core import finetune
    from napari_lowdose.core.model import load_model

    original = finetune.FineTuner.run

    def interrupted_run(self):
        gen = original(self)
        yield next(gen)  # the starting validation
        yield next(gen)  # one step
        raise KeyboardInterrupt  # what Ctrl-C raises in the main thread

    monkeypatch.setattr(finetune.FineTuner, "run", interrupted_run)
    noisy, ref = _pair_files(tmp_path)
    out = tmp_path / "ctrl_c.safetensors"
    args = ["finetune", "--noisy", str(noisy), "--reference", str(ref), "-o", str(out), "--base", str(_tiny_base(tmp_path)), "--steps", "100", "--patch", "64", "--batch", "1"]
    assert main(args) == 130
    assert "interrupted; wrote" in capsys.readouterr().out
    model = load_model(out)
    assert model.card.training["finetune"]["ended"] == "interrupted"


def test_simulate_writes_counts_truth_and_pixel_size(tmp_path, capsys):
    from napari_lowdose.io import read_image

    out, truth = tmp_path / "sto.tif", tmp_path / "sto_truth.tif"
    args = ["simulate", "--structure", "SrTiO3", "--zone", "0", "0", "1", "--thickness", "40", "--pixel-size", "0.25",
            "--shape", "64", "96", "--dose", "2000", "--seed", "4", "-o", str(out), "--truth", str(truth)]
    assert main(args) == 0
    (noisy,), (clean,) = read_image(out), read_image(truth)
    assert noisy.data.shape == (64, 96) and noisy.data.dtype == np.uint16
    assert noisy.pixel_size == pytest.approx(0.25) and clean.pixel_size == pytest.approx(0.25)
    # counts are Poisson around dose x pixel area x the noise-free fraction
    assert noisy.data.mean() == pytest.approx(2000 * 0.25**2 * clean.data.mean(), rel=0.05)
    assert main(args) == 0 and np.array_equal(read_image(out)[0].data, noisy.data)  # same seed, same image


def test_simulate_without_dose_is_noise_free_hrtem(tmp_path):
    from napari_lowdose.io import read_image

    out = tmp_path / "gan.tif"
    assert main(["simulate", "--structure", "GaN", "--modality", "hrtem", "--shape", "48", "48", "--thickness", "30", "-o", str(out)]) == 0
    (img,) = read_image(out)
    assert img.data.dtype == np.float32 and 0.2 < img.data.mean() < 1.2


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--structure", "Kryptonite"], "unknown structure"),
        (["--structure", "Au", "--zone", "0", "0", "0"], "zone axis"),
        (["--structure", "Au", "--pixel-size", "0"], "pixel-size"),
        (["--structure", "Au", "--pixel-size", "nan"], "pixel-size"),
        (["--structure", "BAD_FILE"], "cannot read"),
    ],
)
def test_simulate_bad_input_is_one_line(tmp_path, capsys, extra, words):
    bad = tmp_path / "bad.cif"
    bad.write_text("not a structure\n")
    extra = [str(bad) if e == "BAD_FILE" else e for e in extra]
    assert main(["simulate", *extra, "--shape", "16", "16", "-o", str(tmp_path / "x.tif")]) == EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err and "Traceback" not in err
