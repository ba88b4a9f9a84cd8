"""The learned segmented reconstruction: features, augmentation, training loop, save/load, predict."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_lowdose.core.errors import LowdoseError
from napari_lowdose.core.progress import drive
from napari_lowdose.core.segmented.learned import load_segmented, sample_features, save_segmented
from napari_lowdose.core.segmented.reconstruct import PhaseConfig, reconstruct_phase
from napari_lowdose.core.segmented.simulate import SegmentedScene, simulate_segments
from napari_lowdose.core.segmented.train import PROBE, SegTrainConfig, _augment, geometry, iter_train_segmented, make_pair

from .test_dpc import bumps, segments_from_gradient


class FixedRng:
    def __init__(self, values):
        self.values = list(values)

    def random(self):
        return self.values.pop(0)


@pytest.mark.parametrize("coins, transform", [
    ((0.0, 1.0, 1.0), lambda a: a[:, ::-1]),  # mirror x
    ((1.0, 0.0, 1.0), lambda a: a[::-1, :]),  # mirror y
    ((1.0, 1.0, 0.0), lambda a: a.T),  # transpose
])
def test_augmentation_matches_the_features_of_the_transformed_scene(coins, transform):
    phi, gx, gy = bumps((48, 48), seed=8)
    phi_t = transform(phi)
    # the gradient of the transformed phase, numerically (the same for both sides)
    gyt, gxt = np.gradient(phi_t)
    gy0, gx0 = np.gradient(phi)
    geo = geometry()
    scale = 0.02 * 4 * 100.0
    segs = segments_from_gradient(gx0 * scale, gy0 * scale, 0.0)
    segs_t = segments_from_gradient(gxt * scale, gyt * scale, 0.0)
    x = sample_features(segs, 0.0, False, geo, 0.25, 80.0, (3.0, -2.0), True)
    y = phi[None].astype(np.float32)
    xa, ya = _augment(x, y, FixedRng(coins), True)
    tilt = {0: (-3.0, -2.0), 1: (3.0, 2.0), 2: (-2.0, 3.0)}[[c < 0.5 for c in coins].index(True)]
    xt = sample_features(segs_t, 0.0, False, geo, 0.25, 80.0, tilt, True)
    assert np.allclose(ya[0], phi_t)
    assert np.allclose(xa[:3], xt[:3], atol=1e-5)  # gradient and total channels
    assert np.allclose(xa[4:], xt[4:])  # metadata channels follow the transform
    assert np.corrcoef(xa[3].ravel(), xt[3].ravel())[0, 1] > 0.999  # iDPC (edges integrate slightly differently)


@pytest.fixture(scope="module")
def tiny_samples():
    return [simulate_segments(SegmentedScene(structure=s, thickness=30.0, shape=(32, 32), probe=PROBE), seed=i) for i, s in enumerate(("SrTiO3", "GaN"))]


@pytest.mark.parametrize("metadata", [True, False])
def test_training_saving_loading_and_predicting(tmp_path, tiny_samples, metadata):
    cfg = SegTrainConfig(minutes=1.0, steps=4, batch=2, patch=16, depth=2, base_channels=8, metadata=metadata, validate_every=2)
    records = []
    model = drive(iter_train_segmented(tiny_samples[:1], tiny_samples[1:], cfg), records.append)
    assert [r["step"] for r in records] == [0, 2, 4] and all(np.isfinite(r["val_loss"]) for r in records)
    assert records[0]["idpc_val_loss"] > 0
    path = save_segmented(model, tmp_path / "m.safetensors")
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["kind"] == "segmented" and card["metadata"] is metadata and card["architecture"]["in_channels"] == (7 if metadata else 4)
    loaded = load_segmented(path)
    smp = tiny_samples[1]
    counts = smp.noisy(2000.0, seed=3)
    res = reconstruct_phase(counts, PhaseConfig(method="learned", rotation_deg=0.0, pixel_size=0.25, geometry=geometry(), model=str(path), thickness=30.0))
    assert res.potential.shape == (32, 32) and np.isfinite(res.potential).all() and abs(float(res.potential.mean())) < 1e-2
    x, _ = make_pair(smp, 2000.0, 3, metadata)
    assert loaded.net(__import__("torch").from_numpy(x)[None]).shape == (1, 1, 32, 32)


def test_learned_refuses_other_pixel_sizes_and_bad_files(tmp_path, tiny_samples):
    cfg = SegTrainConfig(minutes=1.0, steps=1, batch=1, patch=16, depth=2, base_channels=8, validate_every=1)
    path = save_segmented(drive(iter_train_segmented(tiny_samples[:1], tiny_samples[1:], cfg)), tmp_path / "m")
    with pytest.raises(LowdoseError, match="trained for scan steps"):
        reconstruct_phase(tiny_samples[0].segments, PhaseConfig(method="learned", rotation_deg=0.0, pixel_size=1.0, model=str(path)))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a model")
    bad.with_suffix(".json").write_text("{}")
    with pytest.raises(LowdoseError, match="not a segmented-detector model"):
        load_segmented(bad)
    with pytest.raises(LowdoseError, match="no segmented model"):
        load_segmented(tmp_path / "missing.safetensors")
