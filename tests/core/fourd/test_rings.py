"""Annular sums put back on held-out electrons (core/fourd/rings.py) and their use in the thinned finish."""

import numpy as np

from napari_lowdose.core.fourd import rings, thin
from napari_lowdose.core.fourd.detector import DetectorRegion, detector_mask, virtual_image


def disc_and_ring(scan=(24, 24), det=(24, 24), dose=300.0, seed=0):
    """Truth: a constant bright disc (radius 4 px) and a faint annulus (8-11 px) whose brightness varies
    smoothly over the scan (a dark-field signal worth ~3 % of the counts); Poisson counts."""
    rng = np.random.default_rng(seed)
    ky, kx = np.indices(det)
    r = np.hypot(ky - det[0] / 2, kx - det[1] / 2)
    disc = (r < 4).astype(float)
    ring = ((r >= 8) & (r < 11)).astype(float)
    yy, xx = np.mgrid[: scan[0], : scan[1]] / scan[0]
    dark = 1 + 0.8 * np.sin(2 * np.pi * (yy + 0.5 * xx))
    truth = disc[None, None] * 1.0 + dark[:, :, None, None] * ring[None, None] * 0.03 * disc.sum() / ring.sum()
    truth = truth / truth.sum(axis=(2, 3)).mean() * dose
    return truth, rng.poisson(truth).astype(np.float32), DetectorRegion((det[0] / 2, det[1] / 2), 11.5, 7.5)


def test_ring_labels_and_sums():
    pattern = np.zeros((16, 16))
    pattern[6:11, 6:11] = 1.0
    lab = rings.ring_labels(pattern, width=2.0)
    assert lab[8, 8] == 0 and lab[8, 13] == 2 and lab.max() == int(np.hypot(8, 8) // 2)
    block = np.random.default_rng(0).poisson(2.0, (5, 16, 16)).astype(np.float32)
    sums = rings.ring_sums(block, lab)
    assert sums.shape == (5, lab.max() + 1)
    np.testing.assert_allclose(sums.sum(axis=1), block.sum(axis=(1, 2)))
    np.testing.assert_allclose(sums[:, 0], block[:, lab == 0].sum(axis=1))


def test_put_back_moves_each_ring_sum_by_its_share_of_the_residual():
    truth, noisy, _ = disc_and_ring()
    est = np.broadcast_to(noisy.mean(axis=(0, 1)), noisy.shape).copy()
    lab = rings.ring_labels(est[0, 0])
    n_rings = lab.max() + 1
    shares = np.linspace(0, 1, n_rings)
    choice = rings.RingChoice(lab, shares, np.zeros(n_rings), 0.0, 0.0)
    out = rings.put_back(noisy, est, choice)
    before, after, data = (rings.ring_sums(x, lab) for x in (est, out, noisy))
    np.testing.assert_allclose(after - before, shares * (data - before), rtol=1e-4, atol=1e-3)


def test_rings_bring_back_a_dark_field_signal_the_components_miss():
    truth, noisy, adf = disc_and_ring()
    cfg = thin.ThinConfig(max_rank=1, sigmas=(0.0,), residual_bands=False, rings=False)
    plain = thin.finish(noisy, thin.choose(noisy, cfg))
    choice = thin.choose(noisy, thin.ThinConfig(max_rank=1, sigmas=(0.0,), residual_bands=False))
    assert choice.rings is not None and choice.rings.after < choice.rings.before
    with_rings = thin.finish(noisy, choice)
    mask = detector_mask(noisy.shape[2:], adf)
    true_adf = virtual_image(truth, mask)

    def err(x):
        return float(np.mean((virtual_image(x, mask) - true_adf) ** 2))

    # the single component is the bright disc's; the dark-field ring's variation comes back from the rings,
    # smoothed over the scan: better than both the plain estimate and the noisy counts' own ADF image
    assert err(with_rings) < 0.5 * err(plain)
    assert err(with_rings) < 0.5 * err(noisy)


def test_rings_leave_a_perfect_estimate_nearly_alone():
    truth, noisy, adf = disc_and_ring(seed=3)
    perfect = thin.choose(noisy, thin.ThinConfig(max_rank=4, residual_bands=False), network=lambda rest: truth * 4 / 5)
    out = thin.finish(noisy, perfect, truth)
    mask = detector_mask(noisy.shape[2:], adf)
    true_adf = virtual_image(truth, mask)
    noisy_err = np.mean((virtual_image(noisy, mask) - true_adf) ** 2)
    assert np.mean((virtual_image(out, mask) - true_adf) ** 2) < 0.1 * noisy_err
