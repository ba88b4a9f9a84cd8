"""Wiener refinement (core/refine.py): cases with known answers."""

import numpy as np
import pytest
from scipy import ndimage

from napari_lowdose.core.model import Model, ModelCard, ModelFileError, load_model
from napari_lowdose.core.refine import global_wiener, local_wiener, restore_residual, white_noise_variance, wiener_refine
from napari_lowdose.core.tiling import TiledDenoiser, denoise
from napari_lowdose.core.unet import UNetConfig


def _band_limited(shape=(256, 256), seed=0, k_max=0.3, k_min=0.0):
    """A smooth random signal with no power beyond k_max cycles/px (so none in the spectrum's corners),
    nor below k_min: with k_min > 0 one ring of frequencies, as phase contrast through a CTF puts it (a
    Thon ring), which no Gaussian blur can keep while dropping the noise on both sides of it."""
    rng = np.random.default_rng(seed)
    spec = np.fft.fft2(rng.normal(size=shape))
    ky, kx = np.meshgrid(np.fft.fftfreq(shape[0]), np.fft.fftfreq(shape[1]), indexing="ij")
    k = np.hypot(ky, kx)
    spec[(k > k_max) | (k < k_min)] = 0
    x = np.real(np.fft.ifft2(spec))
    return 100 + 10 * x / x.std()


def _psnr(x, t):
    return 10 * np.log10(np.ptp(t) ** 2 / np.mean((x - t) ** 2))


def test_white_noise_variance_reads_the_noise_not_the_signal():
    rng = np.random.default_rng(1)
    signal = _band_limited()
    for sigma in (0.5, 3.0):
        est = white_noise_variance(signal + rng.normal(0, sigma, signal.shape))
        assert est == pytest.approx(sigma**2, rel=0.1)
    assert white_noise_variance(signal) < 1e-6  # no noise, no signal in the corners


def test_noise_free_input_comes_back_whatever_the_pilot():
    """Without noise the Wiener gain is 1 wherever there is signal: the output is the input."""
    signal = _band_limited(seed=2)
    blurred = ndimage.gaussian_filter(signal, 3)
    out = wiener_refine(signal, blurred)
    assert np.abs(out - signal).max() < 1e-3 * np.ptp(signal)


def test_restores_detail_an_over_smoothing_denoiser_removed():
    rng = np.random.default_rng(3)
    truth = _band_limited(seed=3, k_max=0.25)
    noisy = truth + rng.normal(0, 2.0, truth.shape)
    oversmoothed = ndimage.gaussian_filter(noisy, 4)  # keeps little of the noise and little of the detail
    refined = wiener_refine(noisy, oversmoothed)
    assert _psnr(refined, truth) > _psnr(oversmoothed, truth) + 3
    assert _psnr(refined, truth) > _psnr(noisy, truth) + 3


def test_pure_noise_stays_flat():
    """A residual that is only noise is not put back: the output stays near the (perfect) flat pilot."""
    rng = np.random.default_rng(4)
    noisy = 50 + rng.normal(0, 5.0, (256, 256))
    out = wiener_refine(noisy, np.full(noisy.shape, 50.0))
    assert out.std() < 0.1 * noisy.std()
    # each step alone, too
    assert restore_residual(noisy, np.full(noisy.shape, 50.0)).std() < 0.1 * noisy.std()
    assert local_wiener(noisy, np.full(noisy.shape, 50.0), 25.0).std() < 0.01 * noisy.std()


def test_global_wiener_keeps_a_thon_ring_and_a_lattice_and_drops_noise():
    rng = np.random.default_rng(6)
    truth = _band_limited(seed=6, k_min=0.15, k_max=0.2)
    noisy = truth + rng.normal(0, 10.0, truth.shape)  # as much noise as signal
    out = global_wiener(noisy, 100.0)
    assert out.dtype == np.float32 and out.shape == noisy.shape
    best_gaussian = max(_psnr(ndimage.gaussian_filter(noisy, s), truth) for s in (0.5, 0.7, 1, 1.5, 2, 3, 4, 6))
    assert _psnr(out, truth) > _psnr(noisy, truth) + 6
    assert _psnr(out, truth) > best_gaussian + 2  # measured +2.5 dB (and +9 dB over the noisy image)
    # a weak lattice (one off-axis reflection pair), 0.3 of the noise's rms: kept, where the noise goes
    yy, xx = np.mgrid[:256, :256]
    lattice = 3.0 * np.sqrt(2) * np.cos(2 * np.pi * (0.13 * yy + 0.21 * xx))
    noisy = 100 + lattice + rng.normal(0, 10.0, lattice.shape)
    out = global_wiener(noisy, white_noise_variance(noisy))
    assert np.corrcoef(out.ravel(), lattice.ravel())[0, 1] > 0.8  # measured 0.88; the noisy image: 0.29
    # pure noise: next to nothing passes
    noise = 50 + rng.normal(0, 5.0, (256, 256))
    assert global_wiener(noise, 25.0).std() < 0.1 * noise.std()


def test_small_and_odd_planes():
    rng = np.random.default_rng(5)
    for shape in ((40, 70), (17, 33)):
        noisy = rng.normal(10, 1, shape)
        out = wiener_refine(noisy, np.full(shape, 10.0))
        assert out.shape == shape and out.dtype == np.float32 and np.isfinite(out).all()
    tiny = rng.normal(size=(8, 8))
    assert np.array_equal(wiener_refine(tiny, tiny * 0), np.zeros((8, 8), np.float32))  # below MIN_SIDE: unchanged
    with pytest.raises(ValueError):
        wiener_refine(np.zeros((32, 32)), np.zeros((32, 31)))


def test_card_refine_is_validated_and_saved(tmp_path):
    assert ModelCard().refine == "none"
    with pytest.raises(ModelFileError, match="refine"):
        ModelCard(refine="bm3d")
    text = ModelCard(refine="wiener").to_json().replace('"wiener"', '"sharpen"')
    with pytest.raises(ModelFileError, match="card.*refine"):
        ModelCard.from_json(text, source="card")
    assert ModelCard.from_json(ModelCard(refine="wiener").to_json()).refine == "wiener"


def test_bundled_cards_choose_refinement_by_noise_kind():
    assert load_model("hrtem").card.refine == "wiener"  # camera: white noise
    assert load_model("haadf").card.refine == "none"  # STEM: scan artifacts, not white


def test_denoiser_applies_the_cards_choice_or_the_users():
    rng = np.random.default_rng(6)
    image = rng.poisson(20, (96, 96)).astype(np.float32)
    model = Model.new(UNetConfig(depth=2, base_channels=4), refine="wiener")
    assert TiledDenoiser(model, device="cpu").refine == "wiener"
    assert TiledDenoiser(model, device="cpu", refine="none").refine == "none"
    with pytest.raises(Exception, match="refine"):
        TiledDenoiser(model, device="cpu", refine="sharpen")
    plain = denoise(image, model, device="cpu", refine="none")
    refined = denoise(image, model, device="cpu")
    assert np.array_equal(refined, wiener_refine(image, plain))
    stack = np.stack([image, image[::-1]])
    out = denoise(stack, model, device="cpu")
    assert np.array_equal(out[1], wiener_refine(image[::-1], denoise(image[::-1], model, device="cpu", refine="none")))


def test_noise_looks_white_tells_a_camera_point_spread():
    from napari_lowdose.core.refine import noise_looks_white

    rng = np.random.default_rng(7)
    noisy = _band_limited(seed=7) + rng.normal(0, 2.0, (256, 256))
    white, ratio = noise_looks_white(noisy)
    assert white and 0.7 < ratio < 1.5
    white, ratio = noise_looks_white(ndimage.gaussian_filter(noisy, 0.8))
    assert not white and ratio > 20


def test_denoiser_skips_refinement_on_correlated_noise_and_says_so():
    rng = np.random.default_rng(8)
    image = ndimage.gaussian_filter(rng.poisson(30, (96, 96)).astype(np.float64), 1.0).astype(np.float32)
    model = Model.new(UNetConfig(depth=2, base_channels=4), refine="wiener")
    den = TiledDenoiser(model, device="cpu")
    steps = []
    gen = den.run(image)
    try:
        while True:
            steps.append(next(gen))
    except StopIteration as stop:
        out = stop.value
    assert "Wiener refinement skipped" in steps[-1].message and "not white" in den.notes[-1]
    assert np.array_equal(out, denoise(image, model, device="cpu", refine="none"))


def test_refinement_check_catches_correlated_noise_under_white_read_noise():
    """A camera point spread with white read noise on top: the corners look white, but the network (here
    the truth itself) removes far more variance than their level: refinement is refused, with the reason."""
    from napari_lowdose.core.refine import noise_looks_white, refinement_check

    rng = np.random.default_rng(9)
    truth = _band_limited(seed=9, k_max=0.2)
    white = truth + rng.normal(0, 2.0, truth.shape)
    ok = refinement_check(white, truth)
    assert ok.reason == "" and ok.noise_variance == pytest.approx(4.0, rel=0.1)
    assert np.array_equal(wiener_refine(white, truth, noise_variance=ok.noise_variance), wiener_refine(white, truth))
    spread = truth + ndimage.gaussian_filter(rng.normal(0, 6.0, truth.shape), 0.8) + rng.normal(0, 0.5, truth.shape)
    assert noise_looks_white(spread)[0]  # the read noise fills the corners: the edge/corner test is fooled
    reason = refinement_check(spread, truth).reason
    assert "removed" in reason and "correlated" in reason
    assert "not white" in refinement_check(ndimage.gaussian_filter(white, 0.8), truth).reason


def test_cli_refine_choices_are_auto_and_the_methods():
    from napari_lowdose.cli import REFINE_CHOICES
    from napari_lowdose.core.refine import REFINE_METHODS

    assert REFINE_CHOICES == ("auto", *REFINE_METHODS)


def test_scanned_images_skip_the_wiener_step_with_a_note(real_data):
    """README: the refinement is for white noise only and skipped with a note otherwise. The real STEM
    files' noise differs along x and y (afterglow, scan lines); HRTEM-like white noise passes."""
    from napari_lowdose.core.refine import refinement_check, scan_noise
    from napari_lowdose.io import read_image

    for name in ("16_STOimage_1.ser", "Acquisition_18.emd"):
        plane = np.asarray(read_image(real_data / name)[0].data, np.float32)[:512, :512]
        reason = refinement_check(plane, plane).reason
        assert "not white" in reason and "scanned image" in reason, name
    white = _band_limited(seed=3) + np.random.default_rng(3).normal(0, 2.0, (256, 256))
    assert scan_noise(white) == ""
