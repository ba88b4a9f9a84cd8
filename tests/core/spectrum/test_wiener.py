import numpy as np
import pytest
from scipy import ndimage

from napari_lowdose.core.errors import LowdoseError
from napari_lowdose.core.evaluate import score
from napari_lowdose.core.spectrum.wiener import BANK, LatticeWiener, filter_bank, filter_image, filter_windows


def _columns(n=128, period=7.3, width=1.1, seed=0):
    """Atomic columns on a slightly rotated lattice (incommensurate with the pixels), one column missing."""
    y, x = np.mgrid[:n, :n].astype(float)
    a = np.deg2rad(7.0)
    u, v = (x * np.cos(a) + y * np.sin(a)) / period, (-x * np.sin(a) + y * np.cos(a)) / period
    du, dv = u - np.round(u), v - np.round(v)
    img = np.exp(-(du * du + dv * dv) * period**2 / (2 * width**2))
    hole = (np.round(u) == np.round(u[n // 2, n // 2])) & (np.round(v) == np.round(v[n // 2, n // 2]))
    return 0.2 + 4.0 * np.where(hole, 0.0, img)


def test_a_lattice_filter_beats_the_best_gaussian_on_noisy_columns():
    truth = _columns()
    counts = np.random.default_rng(1).poisson(truth).astype(float)
    best_gauss = max(score(ndimage.gaussian_filter(counts, s), truth)[0] for s in (0.7, 1.0, 1.4, 2.0, 2.8))
    best_lattice = max(score(f, truth)[0] for f in filter_bank(counts, BANK))
    assert best_lattice > best_gauss + 3.0  # many unit cells: their Bragg peaks stand far above the noise


def test_pure_noise_gives_no_lattice_and_a_constant_image_stays_constant():
    flat = np.random.default_rng(2).poisson(3.0, (96, 96)).astype(float)
    for out in filter_bank(flat, (LatticeWiener(2.0, 3), LatticeWiener(2.0, 5, 1.0))):
        assert out.std() < 0.2 * flat.std() and out.mean() == pytest.approx(flat.mean(), rel=0.02)
    const = np.full((150, 170), 5.0)
    np.testing.assert_allclose(filter_image(const, LatticeWiener(3.0, 3), (64, 64)), const, rtol=1e-6)


def test_windows_blend_into_one_image_and_the_window_is_the_filter_chosen():
    counts = np.random.default_rng(3).poisson(_columns(200)).astype(float)
    whole = filter_windows(counts, BANK[:3], (200, 200))
    assert len(whole) == 3 and whole[0].shape == counts.shape
    np.testing.assert_allclose(whole[1], filter_bank(counts, (BANK[1],))[0])  # one window: the filter itself
    tiled = filter_image(counts, BANK[1], (64, 64))
    assert tiled.shape == counts.shape and np.all(np.isfinite(tiled))
    assert score(tiled, _columns(200))[0] > score(ndimage.gaussian_filter(counts, 1.0), _columns(200))[0]


def test_bad_parameters_get_one_sentence():
    for bad in (dict(alpha=0, box=3), dict(alpha=2, box=4), dict(alpha=2, box=3, beta=-1)):
        with pytest.raises(LowdoseError, match="lattice filter"):
            LatticeWiener(**bad)
