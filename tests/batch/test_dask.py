"""Batch runs on Dask: the same outputs as the serial run, one line per bad file, and a worker that dies
(out of memory) takes only its own file with it."""

import zlib

import numpy as np
import pytest
import tifffile

import napari_lowdose
from napari_lowdose.batch.task import denoise_path
from napari_lowdose.cli import EXIT_ERROR, main
from napari_lowdose.core.model import load_model
from napari_lowdose.core.tiling import TiledDenoiser
from napari_lowdose.io import read_image

from .conftest import corrupt_tiff, make_image


def _pixels(path):
    image = read_image(path)[0]
    return image.data, image.pixel_size


def test_workers_2_equals_the_serial_run_and_reports_a_bad_file(tmp_path, tiny_model, capsys):
    files = [make_image(tmp_path / "a.tif", seed=1), make_image(tmp_path / "b.tif", seed=2, shape=(130, 90)), corrupt_tiff(tmp_path / "c.tif")]
    common = [*map(str, files), "--model", str(tiny_model), "--device", "cpu", "--tile", "64", "--overlap", "16"]
    assert main(["denoise", *common, "-o", str(tmp_path / "serial")]) == EXIT_ERROR
    capsys.readouterr()
    assert main(["denoise", *common, "-o", str(tmp_path / "dask"), "--workers", "2"]) == EXIT_ERROR
    out, err = capsys.readouterr()
    assert "local Dask cluster of 2 worker process(es)" in err and "dashboard: http://" in err
    assert "5/5" not in err and "3/3" in err  # the progress bar
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "c.tif" in errors[0], err
    assert "1 of 3 file(s) failed" in err and out.count("wrote") == 2
    for name in ("a_denoised.tif", "b_denoised.tif"):
        serial, dask = _pixels(tmp_path / "serial" / name), _pixels(tmp_path / "dask" / name)
        np.testing.assert_array_equal(dask[0], serial[0])
        assert dask[1] == serial[1] == pytest.approx(1.5)
    assert sorted(p.name for p in (tmp_path / "dask").iterdir()) == ["a_denoised.tif", "b_denoised.tif"]


def _memory_bomb(path, side=32768, tile=4096):
    """A 4 MB TIFF that holds 4 GiB of float32 zeros: reading it blows any worker's memory limit."""
    zeros = zlib.compress(bytes(tile * tile * 4))
    n = side // tile
    tifffile.imwrite(path, data=(zeros for _ in range(n * n)), shape=(side, side), dtype="float32", tile=(tile, tile), compression="zlib")
    return path


def test_a_worker_killed_mid_run_loses_no_finished_output_and_the_run_says_what_failed(tmp_path, tiny_model):
    good = [make_image(tmp_path / f"g{i}.tif", seed=10 + i) for i in range(4)]
    bomb = _memory_bomb(tmp_path / "bomb.tif")
    paths = good[:2] + [bomb] + good[2:]
    progress = []
    # retries=0: the first death of a worker fails its file (the default retries it twice elsewhere)
    records = napari_lowdose.denoise_files(paths, tmp_path / "out", model=tiny_model, workers=2, retries=0, memory_limit="1.5GB",
                                           device="cpu", on_progress=progress.append)
    assert [r.ok for r in records] == [True, True, False, True, True]
    assert "bomb.tif" in records[2].error and "died" in records[2].error
    assert len(progress) == 5 and progress[-1].failed == [str(bomb)]
    assert len({r.pid for r in records if r.ok}) >= 2  # both workers did files
    serial = TiledDenoiser(load_model(tiny_model), device="cpu")
    for path, record in zip(paths, records):
        if record.ok:
            expected = denoise_path(path, tmp_path / "serial", serial)
            assert expected.ok, expected.error
            np.testing.assert_array_equal(_pixels(record.outputs[0])[0], _pixels(expected.outputs[0])[0])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"g{i}_denoised.tif" for i in range(4)]


def test_scheduler_address_uses_a_running_cluster(tmp_path, tiny_model, capsys):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        a = make_image(tmp_path / "a.tif", seed=4)
        assert main(["denoise", str(a), "-o", str(tmp_path / "out"), "--model", str(tiny_model), "--device", "cpu",
                     "--scheduler", cluster.scheduler_address]) == 0
    assert f"the Dask cluster at {cluster.scheduler_address}" in capsys.readouterr().err
    expected = denoise_path(a, tmp_path / "serial", TiledDenoiser(load_model(tiny_model), device="cpu"))
    np.testing.assert_array_equal(_pixels(tmp_path / "out" / "a_denoised.tif")[0], _pixels(expected.outputs[0])[0])


def test_bad_batch_arguments_are_one_line(tmp_path, tiny_model, capsys):
    (tmp_path / "x").mkdir()
    a = make_image(tmp_path / "x" / "a.tif")
    b = make_image(tmp_path / "a.tif")
    assert main(["denoise", str(a), str(b), "-o", str(tmp_path / "o"), "--workers", "2"]) == EXIT_ERROR
    assert "would both write a_denoised.tif" in capsys.readouterr().err
    assert main(["denoise", str(b), "-o", str(tmp_path / "o"), "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"]) == EXIT_ERROR
    assert "not both" in capsys.readouterr().err
    assert main(["denoise", str(b), "-o", str(tmp_path / "o"), "--model", str(tmp_path / "none.safetensors"), "--workers", "2"]) == EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "none" in err and "Traceback" not in err
