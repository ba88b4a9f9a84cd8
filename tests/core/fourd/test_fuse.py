"""Band fusion: a right prediction is kept (the residual is only noise), a broad bias of the prediction is
taken back from the counts, and the bands add up to the residual."""

import numpy as np

from napari_lowdose.core.fourd.fuse import BandFusion, band_sigmas, bands


def _truth(shape=(16, 16, 32, 32)):
    yy, xx = np.mgrid[: shape[2], : shape[3]]
    disc = np.where(np.hypot(yy - 16, xx - 16) < 6, 20.0, 0.5)
    scan = 1 + 0.5 * np.sin(np.arange(shape[0]) / 2)[:, None] * np.cos(np.arange(shape[1]) / 3)[None, :]
    return (disc[None, None] * scan[..., None, None]).astype(np.float32)


def test_bands_add_up_to_the_residual():
    r = np.random.default_rng(0).standard_normal((3, 4, 32, 32)).astype(np.float32)
    parts = bands(r, band_sigmas((32, 32)))
    assert len(parts) == len(band_sigmas((32, 32))) + 2
    np.testing.assert_allclose(sum(parts), r, atol=1e-4)


def test_a_right_prediction_is_kept_and_a_broad_bias_is_corrected():
    truth = _truth()
    noisy = np.random.default_rng(1).poisson(truth).astype(np.float32)
    mse = lambda a: float(np.mean((a - truth) ** 2))  # noqa: E731

    right = BandFusion(truth.shape[2:])
    right.add(noisy, truth)
    fused = right.fuse(noisy, truth)
    assert right.weights()[0].max() < 0.2  # fine detail: noise only, the prediction is kept
    assert mse(fused) < 0.05 * mse(noisy)

    flat = np.broadcast_to(truth.mean(axis=(0, 1)), truth.shape)  # blind to the scan's contrast
    wrong = BandFusion(truth.shape[2:])
    wrong.add(noisy, flat)
    fixed = wrong.fuse(noisy, flat)
    assert wrong.weights()[-1].mean() > 0.8  # the pattern's total: taken back from the counts
    assert mse(fixed) < 0.5 * mse(flat) and mse(fixed) < mse(noisy)
    sums = lambda a: a.sum(axis=(2, 3))  # noqa: E731
    assert np.mean((sums(fixed) - sums(truth)) ** 2) < np.mean((sums(flat) - sums(truth)) ** 2) / 4


def test_fusion_in_pieces_equals_fusion_of_the_whole_block(monkeypatch):
    """Large patterns are split into bands a few positions at a time (bounded memory): same weights,
    same result as one piece."""
    import napari_lowdose.core.fourd.fuse as fuse

    truth = _truth((5, 4, 32, 32))
    noisy = np.random.default_rng(2).poisson(truth).astype(np.float32)
    pred = np.broadcast_to(truth.mean(axis=(0, 1)), truth.shape)
    whole = BandFusion(truth.shape[2:])
    whole.add(noisy, pred)
    expected = whole.fuse(noisy, pred)
    monkeypatch.setattr(fuse, "PIECE", 3 * 32 * 32)  # 3 positions a piece: 20 positions in 7 uneven pieces
    pieces = BandFusion(truth.shape[2:])
    pieces.add(noisy[:2], pred[:2])
    pieces.add(noisy[2:], pred[2:])
    np.testing.assert_allclose(pieces.weights(), whole.weights(), rtol=1e-6, atol=1e-7)
    got = pieces.fuse(noisy, pred)
    assert got.shape == noisy.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
