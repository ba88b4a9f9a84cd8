import json

import numpy as np

from napari_lowdose.cli import EXIT_ERROR, main
from napari_lowdose.io import read_image, write_image


def test_check_json_shape_and_maps(tmp_path, capsys):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:96, :96]
    lam = 3.0 + 2.0 * np.cos(2 * np.pi * xx / 8.0)
    noisy = 100 + 10 * rng.poisson(lam) + rng.normal(0, 1, lam.shape)
    write_image(tmp_path / "noisy.tif", noisy.astype(np.float32), pixel_size=0.25)
    write_image(tmp_path / "flat.tif", np.full(lam.shape, 130.0, np.float32), pixel_size=0.25)
    rc = main(["check", str(tmp_path / "noisy.tif"), str(tmp_path / "flat.tif"), "--gain", "10", "--offset", "100",
               "--json", "--maps", str(tmp_path / "maps")])
    d = json.loads(capsys.readouterr().out)
    assert rc == 1 and d["ok"] is False and d["gain"] == 10 and d["offset"] == 100
    kinds = {f["kind"] for f in d["flags"]}
    assert "removed_lattice" in kinds and kinds <= {"removed_lattice", "spurious_atom", "disagreement"}
    for f in d["flags"]:
        assert {"kind", "y", "x", "size", "score"} <= set(f)
    assert 2.0 in d["removed_spacings"]
    for name in ("agreement", "residual_z", "likelihood"):
        (img,) = read_image(tmp_path / "maps" / f"{name}.tif")
        assert img.data.shape == (96, 96) and abs(img.pixel_size - 0.25) < 1e-6


def test_check_bad_input_is_one_line(tmp_path, capsys):
    write_image(tmp_path / "a.tif", np.ones((64, 64), np.float32))
    write_image(tmp_path / "b.tif", np.ones((64, 48), np.float32))
    assert main(["check", str(tmp_path / "a.tif"), str(tmp_path / "b.tif")]) == EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "same shape" in err
