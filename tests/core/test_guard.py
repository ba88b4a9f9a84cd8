import numpy as np
import pytest
from scipy import ndimage

from napari_lowdose.core.errors import LowdoseError
from napari_lowdose.core.guard import GuardConfig, apply, choose, guard_plane, guarded
from napari_lowdose.core.thinning import thin


def _lattice(n=96, period=8.0, peak=6.0, floor=0.2):
    y, x = np.mgrid[:n, :n]
    return floor + peak * (np.cos(2 * np.pi * x / period) * np.cos(2 * np.pi * y / period) > 0.6)


def test_thinning_splits_every_electron_into_independent_poisson_folds():
    rng = np.random.default_rng(0)
    counts = rng.poisson(3.0, (200, 200))
    parts = thin(counts, 4, np.random.default_rng(1))
    assert np.array_equal(sum(parts), counts)
    for p in parts:
        assert p.mean() == pytest.approx(0.75, rel=0.03) and p.var() == pytest.approx(0.75, rel=0.05)  # Poisson(λ/K)
    assert abs(np.corrcoef(parts[0].ravel(), parts[1].ravel())[0, 1]) < 0.02  # independent


def test_a_faithful_network_is_kept_and_a_structure_eraser_falls_back_to_the_filter():
    lam = ndimage.gaussian_filter(_lattice(), 1.0)
    counts = np.random.default_rng(2).poisson(lam).astype(np.float64)
    oracle = lambda c: lam * c.sum() / lam.sum()  # noqa: E731 - knows the truth: must win
    eraser = lambda c: np.full_like(c, c.mean())  # noqa: E731 - erases the lattice
    good = choose(counts, oracle)
    assert good.weight >= 0.9 and good.network_vs_gaussian > 0  # (on a lattice, a lattice filter is nearly as good)
    bad = choose(counts, eraser)
    assert bad.weight <= 0.2 and bad.network_vs_gaussian < -3  # (a little of the mean may shrink the filter)
    assert "network alone" in bad.message or "does not fit" in bad.message
    # the held-out errors: fold noise plus the signal error, so the truth's error is about the noise alone
    assert good.network_error == pytest.approx(good.noise, rel=0.1)


def test_the_guard_is_the_same_in_adu_and_in_electrons():
    lam = ndimage.gaussian_filter(_lattice(), 1.0)
    counts = np.random.default_rng(3).poisson(lam).astype(np.float64)
    smear = lambda c: ndimage.uniform_filter1d(c, 9, axis=1)  # noqa: E731 - smears columns into rows
    out_c, ch_c = guarded(counts, smear(counts), smear)
    gain, offset = 7.0, 100.0
    adu = offset + gain * counts
    to_adu = lambda a: offset + gain * smear((a - offset) / gain)  # noqa: E731
    out_a, ch_a = guarded(adu, to_adu(adu), to_adu, gain, offset)
    assert ch_a.weight == ch_c.weight < 1 and ch_a.filter_label == ch_c.filter_label
    np.testing.assert_allclose(out_a, offset + gain * out_c, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(apply(counts, smear(counts), ch_c), out_c, rtol=1e-6)
    assert ch_c.lattice is not None  # a lattice: the lattice filter beat the Gaussians, and was applied alike in ADU


def test_bad_input_gets_one_sentence_and_guard_plane_keeps_the_network_result():
    with pytest.raises(LowdoseError, match="counts"):
        choose(-np.ones((64, 64)), lambda c: c)
    with pytest.raises(LowdoseError, match="32 x 32"):
        choose(np.ones((16, 16)), lambda c: c)
    with pytest.raises(LowdoseError, match="too few electrons"):
        choose(np.zeros((64, 64)), lambda c: c)
    with pytest.raises(LowdoseError, match="folds"):
        GuardConfig(folds=1)
    flat = np.full((64, 64), 7.0)
    out, choice, note = guard_plane(flat, flat + 1, lambda a: a)  # a constant image: no gain to estimate
    assert choice is None and "guard not applied" in note and np.array_equal(out, flat + 1)


def test_on_columns_an_eraser_falls_back_to_a_lattice_filter_and_a_blur_gets_its_residual_back():
    from napari_lowdose.core.evaluate import score

    truth = ndimage.gaussian_filter(_lattice(128, period=7.3), 1.0)
    counts = np.random.default_rng(4).poisson(truth).astype(np.float64)
    eraser = lambda c: np.full_like(c, c.mean())  # noqa: E731
    choice = choose(counts, eraser)
    assert choice.lattice is not None and choice.weight <= 0.2 and "lattice" in choice.message
    best_gauss = max(score(ndimage.gaussian_filter(counts, s), truth)[0] for s in (0.7, 1.0, 1.4, 2.0))
    assert score(apply(counts, eraser(counts), choice), truth)[0] > best_gauss + 2
    # offered only a wide Gaussian, the held-out electrons take part of the residual back, finer
    wide = GuardConfig(sigmas=(6.0,), lattice=())
    blur = choose(counts, eraser, wide)
    assert blur.residual_share > 0 and blur.residual_sigma < 6.0
    assert score(apply(counts, eraser(counts), blur), truth)[0] > score(ndimage.gaussian_filter(counts, 6.0), truth)[0] + 1


def test_an_image_of_counts_needs_no_gain_estimate():
    lam = ndimage.gaussian_filter(_lattice(128, period=7.3), 1.0)
    counts = np.random.default_rng(5).poisson(lam).astype(np.float32)
    out, choice, note = guard_plane(counts, counts, lambda c: c)
    assert choice is not None and "holds electron counts: gain 1, offset 0" in note
    adu = 100.0 + 7.0 * counts  # the same electrons in ADU: not counts, the gain is estimated (or the guard refuses)
    assert "holds electron counts" not in guard_plane(adu, adu, lambda c: c)[2]
