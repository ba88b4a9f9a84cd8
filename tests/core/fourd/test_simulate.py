"""Simulated 4D-STEM data: deterministic, the right shape and calibration, counts drawn from the truth."""

import numpy as np
import pytest

from napari_lowdose.core.errors import LowdoseError
from napari_lowdose.core.fourd.detector import mean_pattern, standard_regions
from napari_lowdose.core.fourd.simulate import Sim4DConfig, simulate_4dstem

SMALL = Sim4DConfig(structure="SrTiO3", scan=(4, 5), detector=32, cells=2, scan_cells=1.0, thickness=8.0)


def test_a_small_simulation_has_a_bright_disc_and_a_known_dose():
    sim = simulate_4dstem(SMALL, dose=500.0, seed=1)
    assert sim.truth.shape == (4, 5, 32, 32) and sim.truth.dtype == np.float32
    total = sim.truth.sum(axis=(2, 3))
    assert (total <= 500.0 * 1.001).all() and total.min() > 0.5 * 500.0  # most electrons land on the detector
    assert sim.scan_step == pytest.approx(3.905 / 5)
    bf, _ = standard_regions(mean_pattern(sim.truth))
    # disc radius = convergence angle / detector step (mrad per px)
    assert bf.outer == pytest.approx(SMALL.convergence_mrad / sim.detector_step, rel=0.15)
    again = simulate_4dstem(SMALL, dose=500.0, seed=1)
    assert np.array_equal(again.truth, sim.truth)
    counts = sim.counts(seed=2)
    assert np.array_equal(counts, np.round(counts)) and abs(counts.sum() / sim.truth.sum() - 1) < 0.05


def test_patterns_change_with_the_probe_position():
    sim = simulate_4dstem(SMALL, dose=1000.0)
    assert not np.allclose(sim.truth[0, 0], sim.truth[2, 3], rtol=0.05)


def test_bad_settings_get_a_sentence():
    with pytest.raises(LowdoseError, match="dose"):
        simulate_4dstem(SMALL, dose=0.0)
    with pytest.raises(LowdoseError, match="scan_cells"):
        Sim4DConfig(cells=2, scan_cells=3)
