"""Poisson thinning and the score-PCA finish chosen on held-out electrons (core/fourd/thin.py)."""

import numpy as np
import pytest

from napari_lowdose.core.errors import LowdoseError
from napari_lowdose.core.fourd import thin


def low_rank(rank=2, scan=(16, 16), det=(16, 16), dose=400.0, seed=0):
    """Truth: positive patterns made of ``rank`` fixed patterns weighted by smooth maps over the scan."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: scan[0], : scan[1]] / scan[0]
    maps = [1 + 0.5 * np.sin(2 * np.pi * (i + 1) * (yy + 0.3 * xx)) for i in range(rank)]
    pats = [rng.random(det) for _ in range(rank)]
    truth = sum(m[:, :, None, None] * p[None, None] for m, p in zip(maps, pats))
    truth = truth / truth.sum(axis=(2, 3)).mean() * dose
    return truth, rng.poisson(truth).astype(np.float32)


def test_thinning_splits_counts_into_independent_poisson_folds():
    rng = np.random.default_rng(1)
    lam = 6.0
    counts = rng.poisson(lam, size=200_000)
    parts = thin.thin(counts, 3, np.random.default_rng(2))
    assert parts.shape == (3, counts.size)
    assert (parts.sum(axis=0) == counts).all()
    for p in parts:  # Poisson(λ/3): mean = variance = 2
        assert abs(p.mean() - lam / 3) < 0.03 and abs(p.var() - lam / 3) < 0.05
    # independent: no correlation between two folds (a fixed total would make them anti-correlated)
    assert abs(np.corrcoef(parts[0], parts[1])[0, 1]) < 0.01


def test_counts_must_be_non_negative_integers():
    with pytest.raises(LowdoseError, match="not electron counts"):
        thin.counts_of(np.full((6, 6, 16, 16), 0.5))
    with pytest.raises(LowdoseError, match="NaN"):
        thin.counts_of(np.full((6, 6, 16, 16), np.nan))
    with pytest.raises(LowdoseError, match="folds"):
        thin.ThinConfig(folds=1)


def test_chosen_components_recover_a_known_low_rank_signal():
    truth, noisy = low_rank(rank=2)
    choice = thin.choose(noisy, thin.ThinConfig(max_rank=20, residual_bands=False))
    assert all(np.isfinite(s) for s in choice.sigmas[:2])  # the signal's two components are kept
    # pure-noise components are dropped, or kept only under the widest smoothing (their map averaged away)
    assert all(not np.isfinite(s) or s >= 2.8 for s in choice.sigmas[2:])
    est = thin.finish(noisy, choice)
    mse = lambda a: float(np.mean((a - truth) ** 2))
    assert mse(est) < 0.05 * mse(noisy)
    # better than truncated PCA at the true rank (the smoothing of score maps helps on smooth maps)
    assert mse(est) < mse(thin.score_pca(noisy, (0.0, 0.0)))


def test_blend_weight_is_one_for_a_perfect_estimator_and_zero_for_a_useless_one():
    truth, noisy = low_rank(rank=3, dose=100.0)
    cfg = thin.ThinConfig(max_rank=10, residual_bands=False)
    perfect = thin.choose(noisy, cfg, network=lambda rest: truth * 4 / 5)
    assert perfect.weight > 0.95 and perfect.network_error < perfect.pca_error
    # the truth under heavy independent noise: far worse than the score PCA, hardly used
    wrong = truth + np.random.default_rng(3).normal(0, 5 * float(truth.mean()) ** 0.5 + 5, truth.shape)
    useless = thin.choose(noisy, cfg, network=lambda rest: wrong * 4 / 5)
    assert useless.weight < 0.1 and useless.network_error > useless.pca_error
    out = thin.finish(noisy, perfect, truth)
    assert np.mean((out - truth) ** 2) < 0.01 * np.mean((thin.finish(noisy, useless) - truth) ** 2) + 1e-3


def test_residual_bands_put_back_a_signal_the_components_miss():
    truth, noisy = low_rank(rank=1, dose=2000.0)
    # a feature at one detector pixel that varies at random over the scan: no smooth score map describes it
    rng = np.random.default_rng(5)
    truth = truth.copy()
    truth[:, :, 8, 8] += rng.random(truth.shape[:2]) * 200
    noisy = rng.poisson(truth).astype(np.float32)
    choice = thin.choose(noisy, thin.ThinConfig(max_rank=3, sigmas=(1.0,), band_smooth=0.0))
    assert choice.band_weights is not None and choice.band_weights[8, 8].max() > 0.3
    err = lambda a: float(np.mean((a[:, :, 8, 8] - truth[:, :, 8, 8]) ** 2))
    assert err(thin.finish(noisy, choice)) < err(thin.score_pca(noisy, choice.sigmas))


def test_denoiser_finish_thin_blends_on_held_out_electrons():
    from napari_lowdose.core.fourd.denoise import Denoise4DConfig, Denoiser4D
    from napari_lowdose.core.progress import drive

    truth, noisy = low_rank(rank=2, dose=300.0)
    cfg = Denoise4DConfig(minutes=5, max_steps=6, val_every=3, batch=4, depth=2, base_channels=4, finish="thin", seed=1)
    den = Denoiser4D(noisy, cfg)
    drive(den.train())
    records = []
    gen = den.apply()
    try:
        while True:
            records.append(next(gen))
    except StopIteration as stop:
        out = stop.value
    assert out.shape == noisy.shape and out.dtype == np.float32
    assert "network share" in records[-1].message
    assert np.mean((out - truth) ** 2) < 0.1 * np.mean((noisy - truth) ** 2)


def test_thin_finish_refuses_a_scan_too_large_for_memory():
    with pytest.raises(LowdoseError, match="'thin' finish"):
        thin.check_size((256, 256, 64, 64))


def test_auto_finish_is_thin_for_counts_that_fit_and_fuse_otherwise():
    from napari_lowdose.core.fourd.denoise import Denoise4DConfig, Denoiser4D

    truth, noisy = low_rank(rank=2, dose=300.0)
    assert Denoise4DConfig().finish == "auto"
    assert Denoiser4D(noisy, Denoise4DConfig()).resolved_finish() == "thin"
    assert Denoiser4D(noisy * 0.37, Denoise4DConfig()).resolved_finish() == "fuse"  # not counts (e.g. gain-scaled)
    assert Denoiser4D(noisy, Denoise4DConfig(finish="fuse")).resolved_finish() == "fuse"
    big = np.ones((64, 64, 96, 96), np.uint8)  # more values than the thinned finish holds: never read to decide
    assert Denoiser4D(big, Denoise4DConfig()).resolved_finish(big) == "fuse"
