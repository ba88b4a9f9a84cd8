"""The abTEM benchmark side that runs without abTEM: the validation loader, the resampling
used on abTEM's images, and the scene files' geometry conventions."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

ABTEM_DIR = Path(__file__).resolve().parents[1] / "benchmarks" / "abtem"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_abtem_bench_{name}", ABTEM_DIR / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def validation():
    mod = _load("validation")
    if not list(mod.DATA_DIR.glob("val_*.npz")):
        pytest.skip("abTEM validation truths not present")
    return mod


def test_validation_yields_every_scene_and_dose_deterministically(validation):
    truths = validation.load_truths()
    items = list(validation.iter_validation())
    assert len(items) == 4 * len(truths)
    for v in items:
        assert v.noisy.dtype == np.float32 and v.noisy.shape == v.truth.shape
        assert v.dose in validation.DOSES[v.modality]
        assert np.all(v.noisy >= 0) and np.all(v.noisy == np.round(v.noisy))
    again = list(validation.iter_validation(names=[items[0].name]))
    np.testing.assert_array_equal(again[0].noisy, items[0].noisy)
    # Different doses of one scene use different seeds.
    assert validation.noise_seed("a", 1.0) != validation.noise_seed("a", 4.0)


def test_noisy_mean_follows_dose_times_truth(validation):
    for v in validation.iter_validation():
        expected = v.dose * np.clip(v.truth, 0, None).astype(np.float64).sum()
        # Poisson sum: standard deviation sqrt(expected); allow 5 sigma.
        assert abs(v.noisy.sum() - expected) < 5 * np.sqrt(expected) + 1, v.name


def test_fourier_resample_is_exact_for_band_limited_images():
    sim = _load("simulate_abtem")
    ny, nx = 36, 40
    y, x = np.mgrid[0:ny, 0:nx]
    img = 1 + 0.3 * np.cos(2 * np.pi * (3 * x / nx + 2 * y / ny)) + 0.1 * np.sin(2 * np.pi * 5 * y / ny)
    up = sim.fourier_resample(img, (54, 60))
    yy, xx = np.mgrid[0:54, 0:60]
    want = 1 + 0.3 * np.cos(2 * np.pi * (3 * xx / 60 + 2 * yy / 54)) + 0.1 * np.sin(2 * np.pi * 5 * yy / 54)
    np.testing.assert_allclose(up, want, atol=1e-10)
    np.testing.assert_allclose(sim.fourier_resample(up, (ny, nx)), img, atol=1e-10)


def test_scene_cells_are_shape_times_pixel_size():
    files = sorted((ABTEM_DIR / "data" / "scenes").glob("*.json"))
    if not files:
        pytest.skip("scene files not present")
    for f in files:
        meta = json.loads(f.read_text())
        header = (f.with_suffix(".extxyz")).read_text().splitlines()[1]
        lattice = np.array(re.search(r'Lattice="([^"]+)"', header).group(1).split(), float).reshape(3, 3)
        assert np.allclose(lattice - np.diag(np.diag(lattice)), 0), f.name
        ny, nx = meta["shape"]
        assert np.isclose(lattice[0, 0], nx * meta["pixel_size"], rtol=1e-9), f.name
        assert np.isclose(lattice[1, 1], ny * meta["pixel_size"], rtol=1e-9), f.name
        assert np.isclose(lattice[2, 2], meta["thickness"], rtol=1e-9), f.name
