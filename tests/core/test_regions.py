import numpy as np
from scipy import ndimage

from napari_lowdose.core.regions import bright_mask, bright_threshold, otsu, soft_mask


def _particle_on_carbon(n=160, seed=0):
    """A lattice-filled disc (the particle) on a dim, textured support."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:n, :n]
    disc = (y - n / 2) ** 2 + (x - n / 2) ** 2 < (n / 4) ** 2
    lattice = 1 + (np.cos(2 * np.pi * x / 6.1) * np.cos(2 * np.pi * y / 6.1) > 0.3)
    support = 0.3 + 0.1 * ndimage.gaussian_filter(rng.random((n, n)), 2)
    return np.where(disc, 3.0 * lattice, support), disc


def test_otsu_splits_two_populations_between_them():
    v = np.r_[np.full(500, 1.0), np.full(300, 9.0)] + np.random.default_rng(0).normal(0, 0.3, 800)
    assert 2.0 < otsu(v) < 8.0


def test_a_particle_on_its_support_is_found_and_a_crystal_filling_the_field_is_not():
    lam, disc = _particle_on_carbon()
    counts = np.random.default_rng(1).poisson(5 * lam).astype(float)
    t = bright_threshold(counts)
    assert t is not None
    mask = bright_mask(counts, t)
    assert (mask == disc).mean() > 0.95  # the particle, give or take its edge
    soft = soft_mask(mask)
    assert soft.min() >= 0 and soft.max() <= 1 and 0 < soft[80, 40 - 1] < 1  # a soft edge at the disc's rim
    y, x = np.mgrid[:160, :160]
    crystal = 1 + 3 * (np.cos(2 * np.pi * x / 19.0) * np.cos(2 * np.pi * y / 19.0) > 0.3)  # columns 4 Å apart at 0.21 Å/px
    assert bright_threshold(np.random.default_rng(2).poisson(5 * crystal).astype(float)) is None
    assert bright_threshold(np.random.default_rng(3).poisson(3.0, (128, 128)).astype(float)) is None  # flat


def test_the_guard_gives_the_support_its_own_choice_and_keeps_the_lattice_off_it():
    from napari_lowdose.core.evaluate import score
    from napari_lowdose.core.guard import GuardConfig, apply, choose

    lam, disc = _particle_on_carbon(128)
    truth = ndimage.gaussian_filter(lam, 0.8)
    counts = np.random.default_rng(4).poisson(4 * truth).astype(float)
    eraser = lambda c: np.full_like(c, c.mean())  # noqa: E731 - a network that fits nothing
    both = choose(counts, eraser)
    assert both.support is not None and both.lattice is not None and "on the support" in both.message
    one = choose(counts, eraser, GuardConfig(regions=False))
    out_both, out_one = apply(counts, eraser(counts), both), apply(counts, eraser(counts), one)
    off = ~ndimage.binary_dilation(disc, iterations=6)  # the support, away from the particle's edge
    # on the support the lattice's fringes are gone: closer to the truth there, and as good over the image
    assert np.abs(out_both - 4 * truth)[off].mean() < np.abs(out_one - 4 * truth)[off].mean()
    assert score(out_both, truth)[0] > score(out_one, truth)[0] - 0.3
