import numpy as np
import pytest
import torch
from scipy import ndimage, stats

from napari_lowdose.core.errors import LowdoseError
from napari_lowdose.core.losses import (
    LossConfig,
    anisotropy,
    anisotropy_penalty,
    cutoff_bins,
    fourier_l1,
    l1,
    l2,
    make_loss,
    NAMED,
    poisson_nll,
    psnr_loss,
    radial_power,
    resolution_penalty,
)
from napari_lowdose.core.simulate import SceneConfig, bandlimited_image, simulate_scene


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None, None]


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return simulate_scene(SceneConfig(shape=(128, 128), pixel_size=2.0, island_size=40.0), seed=5) * 10


def test_pixel_losses_known_values():
    a, b = torch.zeros(1, 1, 4, 4), torch.full((1, 1, 4, 4), 2.0)
    assert float(l1(a, b)) == pytest.approx(2.0)
    assert float(l2(a, b)) == pytest.approx(4.0)


def test_psnr_loss_is_minus_the_mean_per_image_psnr():
    target = torch.zeros(2, 1, 8, 8)
    pred = torch.zeros(2, 1, 8, 8)
    pred[0] += 0.1  # MSE 0.01: -20 dB
    pred[1] += 1.0  # MSE 1: 0 dB
    assert float(psnr_loss(pred, target)) == pytest.approx(-10.0, abs=1e-4)
    # unlike L2, it weighs a relative improvement the same in every image: halving either error
    # (MSE / 4, -6.02 dB) lowers it by the same amount
    for i in (0, 1):
        better = pred.clone()
        better[i] /= 2
        assert float(psnr_loss(better, target)) == pytest.approx(-10.0 - 10 * np.log10(4) / 2, abs=1e-3)
    # and it has a gradient that points to the target
    p = pred.clone().requires_grad_(True)
    psnr_loss(p, target).backward()
    assert (p.grad > 0).all()
    assert LossConfig.named("psnr").describe() == "1·psnr"


def test_cli_knows_every_named_loss():
    from napari_lowdose.cli import LOSS_NAMES

    assert tuple(LOSS_NAMES) == NAMED
    for name in NAMED:
        assert LossConfig.named(name).describe()


def test_fourier_term_ignores_a_shift_that_pixel_l1_sees(scene):
    shifted = np.roll(scene, (3, -2), axis=(0, 1))
    assert float(fourier_l1(_t(shifted), _t(scene))) < 1e-5
    assert float(l1(_t(shifted), _t(scene))) > 0.1
    # a sub-pixel shift (Fourier phase ramp) keeps the magnitudes too
    sub = ndimage.fourier_shift(np.fft.fft2(scene), (0.4, 0.3))
    sub = np.fft.ifft2(sub).real
    assert float(fourier_l1(_t(sub), _t(scene))) < 0.02 * float(fourier_l1(_t(np.zeros_like(scene)), _t(scene)))


def test_fourier_term_sees_blur(scene):
    blurred = ndimage.gaussian_filter(scene, 2.0, mode="wrap")
    assert float(fourier_l1(_t(blurred), _t(scene))) > 0.05


def test_cutoff_bins_finds_a_band_limit():
    img = bandlimited_image((128, 128), kx0=0.25, mean=100, std=30, seed=1, poisson=False)
    noisy = img + np.random.default_rng(0).normal(0, 10, img.shape)
    kc = int(cutoff_bins(radial_power(_t(noisy)))[0])
    assert abs(kc / 128 - 0.25) <= 0.03  # bins are 1/128 cycles/pixel


def test_resolution_penalty_zero_for_identity_and_extra_power_positive_for_blur():
    img = bandlimited_image((128, 128), kx0=0.3, mean=100, std=30, seed=2, poisson=False)
    target = img + np.random.default_rng(1).normal(0, 5, img.shape)
    assert float(resolution_penalty(_t(target), _t(target))) == pytest.approx(0.0, abs=1e-6)
    sharper = target + np.random.default_rng(2).normal(0, 20, img.shape)  # more power everywhere
    assert float(resolution_penalty(_t(sharper), _t(target))) == pytest.approx(0.0, abs=1e-6)
    blurred = ndimage.gaussian_filter(target, 2.0, mode="wrap")
    assert float(resolution_penalty(_t(blurred), _t(target))) > 1.0


def test_resolution_penalty_has_gradients():
    target = _t(bandlimited_image((64, 64), kx0=0.3, seed=3, poisson=False))
    pred = torch.zeros_like(target, requires_grad=True)
    with torch.no_grad():
        pred += torch.from_numpy(ndimage.gaussian_filter(target[0, 0].numpy(), 1.5))
    resolution_penalty(pred, target).backward()
    assert pred.grad is not None and float(pred.grad.abs().sum()) > 0


def test_anisotropy_zero_on_isotropic_data(scene):
    # an image symmetric under x <-> y has exactly equal x and y bandwidths
    sym = scene + scene.T
    assert float(anisotropy_penalty(_t(sym))) == pytest.approx(0.0, abs=1e-8)
    # isotropic random data: near zero
    iso = bandlimited_image((256, 256), kx0=0.3, seed=4, poisson=False)
    assert float(anisotropy_penalty(_t(iso))) < 0.01


def test_anisotropy_sees_smearing_along_x_and_compares_with_the_target():
    iso = bandlimited_image((256, 256), kx0=0.3, seed=5, poisson=False)
    smeared = ndimage.gaussian_filter1d(iso, 2.0, axis=1)  # blur along the fast-scan axis x
    assert float(anisotropy(_t(smeared))[0]) < 0.7  # less bandwidth along x
    assert float(anisotropy_penalty(_t(smeared))) > 0.1
    # relative to an equally smeared target there is nothing to correct
    assert float(anisotropy_penalty(_t(smeared), _t(smeared))) == pytest.approx(0.0, abs=1e-8)


def test_anisotropy_ignores_scan_line_offsets():
    iso = bandlimited_image((128, 128), kx0=0.3, seed=6, poisson=False)
    lines = iso + 5.0 * np.random.default_rng(0).standard_normal((128, 1))  # one offset per scan line
    assert float(anisotropy(_t(lines))[0]) == pytest.approx(float(anisotropy(_t(iso))[0]), rel=1e-4)


def test_poisson_nll_matches_scipy_and_is_minimal_at_the_true_rate():
    counts = torch.tensor([0.0, 1.0, 3.0, 7.0])
    rate = torch.tensor([0.5, 1.2, 2.5, 9.0])
    expected = -stats.poisson.logpmf(counts.numpy(), rate.numpy()).mean()
    assert float(poisson_nll(rate, counts, full=True)) == pytest.approx(expected, rel=1e-5)
    rng = np.random.default_rng(0)
    k = torch.from_numpy(rng.poisson(4.0, size=20000).astype(np.float32))
    rates = np.linspace(2, 6, 41)
    nll = [float(poisson_nll(torch.full_like(k, r), k)) for r in rates]
    assert abs(rates[int(np.argmin(nll))] - float(k.mean())) <= 0.1


def test_loss_config_validation_and_weighted_sum(scene):
    with pytest.raises(LowdoseError):
        LossConfig(l1=-1)
    with pytest.raises(LowdoseError):
        LossConfig(l1=0)
    with pytest.raises(LowdoseError):
        LossConfig.named("nope")
    pred, target = _t(ndimage.gaussian_filter(scene, 1.0)), _t(scene)
    total, parts = make_loss(LossConfig.seed())(pred, target)
    cfg = LossConfig.seed()
    assert set(parts) == {"l1", "fourier", "resolution", "anisotropy"}
    assert float(total) == pytest.approx(sum(getattr(cfg, k) * v for k, v in parts.items()), rel=1e-5)
    assert LossConfig.named("l2").describe() == "1·l2"

