"""The segmented-detector simulator: consistent with the centre-of-mass theorem and the DPC convention."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from napari_lowdose.core.errors import LowdoseError
from napari_lowdose.core.segmented import DetectorGeometry, detector_differences, find_rotation, integrate_gradient
from napari_lowdose.core.segmented.reconstruct import PhaseConfig, reconstruct_phase
from napari_lowdose.core.segmented.simulate import SegmentedDetector, SegmentedScene, simulate_segments

SCENE = SegmentedScene(structure="SrTiO3", thickness=40.0, shape=(40, 40), pixel_size=0.25)


@pytest.fixture(scope="module")
def sample():
    return simulate_segments(SCENE, seed=0)


def r(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def test_centre_of_mass_integrates_to_the_truth(sample):
    """2 pi <k> = P * grad(sigma V): the ideal COM, integrated, is the probe-blurred potential."""
    sigma = DetectorGeometry(voltage_kv=300.0).sigma
    phase = integrate_gradient(sample.com[0], sample.com[1], SCENE.pixel_size)
    truth = sample.potential * sigma
    assert r(phase, truth) > 0.97  # 0.996 on 96 x 96 scans; small fields lose more at the edges
    assert 0.85 < phase.std() / truth.std() < 1.1


def test_quadrant_idpc_follows_the_truth(sample):
    geo = DetectorGeometry(voltage_kv=300.0, convergence_mrad=25.0, inner_mrad=SCENE.detector.inner_mrad)
    res = reconstruct_phase(sample.segments, PhaseConfig(rotation_deg=0.0, pixel_size=SCENE.pixel_size, geometry=geo))
    assert r(res.potential, sample.potential) > 0.97
    assert 0.6 < res.potential.std() / sample.potential.std() < 1.1  # quadrants saturate: below 1
    assert np.all(sample.segments >= 0) and 0.8 < sample.segments.sum(0).mean() < 1.0


def test_detector_rotation_is_simulated_and_found(sample):
    rotated = simulate_segments(replace(SCENE, detector=SegmentedDetector(rotation_deg=30.0)), seed=0)
    dx, dy, _ = detector_differences(rotated.segments)
    assert abs(find_rotation(dx, dy) - 30.0) < 2.0
    assert np.allclose(rotated.potential, sample.potential)


def test_dose_gives_poisson_counts(sample):
    counts = sample.noisy(1000.0, seed=1)
    expected = sample.segments * 1000.0 * SCENE.pixel_size**2
    assert counts.shape == (4, 40, 40) and np.all(counts == np.round(counts))
    assert abs(counts.mean() / expected.mean() - 1) < 0.05
    with pytest.raises(LowdoseError):
        sample.noisy(-1.0)


def test_bad_scenes_are_refused():
    with pytest.raises(LowdoseError):
        SegmentedScene(thickness=float("nan"))
    with pytest.raises(LowdoseError):
        SegmentedScene(detector=SegmentedDetector(inner_mrad=30.0, outer_mrad=40.0))
