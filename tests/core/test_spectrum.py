"""Accuracy and behaviour of the FFT mask and the resolution readout on images the tests make."""

import numpy as np
import pytest
from scipy import ndimage

from napari_lowdose.core.errors import InvalidImageError
from napari_lowdose.core.simulate import bandlimited_image as bandlimited
from napari_lowdose.core.spectrum import (
    NO_CUTOFF,
    MaskedFilter,
    ResolutionConfig,
    fft_mask,
    frc_curve,
    lowpass_mask,
    resolution,
)


@pytest.mark.parametrize("k0", [0.15, 0.2, 0.25, 0.3, 0.35, 0.4])
@pytest.mark.parametrize("shape", [(512, 512), (384, 600), (511, 257)])
def test_cutoff_within_5_percent_of_a_hard_band_limit(k0, shape):
    report = resolution(bandlimited(shape, k0, seed=int(k0 * 100)))
    assert report.cutoff == pytest.approx(k0, rel=0.05)
    assert report.anisotropy == pytest.approx(1.0, rel=0.05)
    assert report.message == ""


@pytest.mark.parametrize("kx0, ky0", [(0.2, 0.3), (0.35, 0.2), (0.15, 0.3)])
def test_anisotropic_band_limit_ratio_within_10_percent(kx0, ky0):
    report = resolution(bandlimited((512, 512), kx0, ky0))
    assert report.anisotropy == pytest.approx(kx0 / ky0, rel=0.10)
    sharper = "x" if kx0 > ky0 else "y"
    assert (report.cutoff_x > report.cutoff_y) == (sharper == "x")


@pytest.mark.parametrize("sx, sy", [(1.0, 2.0), (2.5, 1.2), (1.2, 1.8)])
def test_anisotropic_gaussian_blur_ratio_within_10_percent(sx, sy):
    truth = ndimage.gaussian_filter(np.random.default_rng(1).standard_normal((512, 512)), (sy, sx), mode="wrap")
    image = np.random.default_rng(2).poisson(np.clip(truth / truth.std() * 30 + 100, 0, None))
    report = resolution(image)
    # cutoff ~ 1 / sigma along each axis: x/y = sigma_y / sigma_x; the sharper axis has the higher cutoff
    assert report.anisotropy == pytest.approx(sy / sx, rel=0.10)
    assert (report.cutoff_x > report.cutoff_y) == (sx < sy)


@pytest.mark.parametrize("k0", [0.1, 0.2, 0.3, 0.4])
def test_frc_binomial_on_counts_agrees_with_band_limit(k0):
    report = resolution(bandlimited((512, 512), k0))
    assert report.frc_split == "binomial"
    assert report.frc_cutoff == pytest.approx(k0, rel=0.08)


@pytest.mark.parametrize("k0", [0.1, 0.15, 0.2])
def test_frc_checkerboard_on_non_count_data_within_its_range(k0):
    image = bandlimited((512, 512), k0, poisson=False) + np.random.default_rng(5).normal(0, 5, (512, 512)).astype(np.float32)
    report = resolution(image)
    assert report.frc_split == "checkerboard"
    assert report.frc_cutoff == pytest.approx(k0, rel=0.10)


def test_pixel_size_gives_resolutions_in_angstrom():
    report = resolution(bandlimited((256, 256), 0.25), pixel_size=2.0)
    assert report.resolution == pytest.approx(2.0 / report.cutoff)
    d = report.to_dict()
    assert d["resolution_A"] == pytest.approx(8.0, rel=0.05)
    assert {"cutoff", "cutoff_x", "cutoff_y", "anisotropy", "frc_cutoff", "resolution_x_A", "frc_resolution_A"} <= set(d)
    assert "Å" in report.summary()


@pytest.mark.parametrize(
    "image",
    [
        np.full((128, 128), 7.0, np.float32),
        np.zeros((64, 80), np.uint16),
    ],
)
def test_constant_image_reports_no_cutoff(image):
    report = resolution(image)
    assert report.message == NO_CUTOFF
    assert report.cutoff is None and report.cutoff_x is None and report.cutoff_y is None
    assert report.anisotropy is None and report.frc_cutoff is None
    assert NO_CUTOFF in report.summary()


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("shape", [(64, 64), (256, 256), (300, 97)])
def test_pure_noise_reports_no_cutoff(seed, shape):
    rng = np.random.default_rng(seed)
    for image in (rng.poisson(10, shape), rng.standard_normal(shape).astype(np.float32)):
        report = resolution(image)
        assert report.message == NO_CUTOFF
        assert (report.cutoff, report.cutoff_x, report.cutoff_y, report.frc_cutoff) == (None, None, None, None)


@pytest.mark.parametrize(
    "image, words",
    [
        (np.full((64, 64), np.nan, np.float32), "NaN/Inf"),
        (np.ones((16, 64)), "too small"),
        (np.ones((64, 64, 3), np.uint8), "RGB"),
        (np.ones((2, 64, 64)), "2-D"),
        (np.ones((64, 64), np.complex64), "complex"),
    ],
)
def test_bad_images_give_one_clear_message(image, words):
    with pytest.raises(InvalidImageError, match=words):
        resolution(image)


def test_invalid_config_and_pixel_size():
    with pytest.raises(ValueError):
        ResolutionConfig(factor=0.5)
    with pytest.raises(InvalidImageError, match="pixel size"):
        resolution(np.random.default_rng(0).random((64, 64)), pixel_size=-1)


def test_factor_is_a_parameter():
    image = bandlimited((256, 256), 0.3, std=8)
    low = resolution(image, config=ResolutionConfig(factor=1.5)).cutoff
    high = resolution(image, config=ResolutionConfig(factor=3.0)).cutoff
    assert low >= high


def test_scan_artifact_lines_do_not_fake_a_cutoff():
    """Flyback (same in every line), line offsets and every-other-column gain put power on single
    lines of the spectrum; the readout leaves those out, so they do not move the cutoff."""
    clean = bandlimited((512, 512), 0.2, poisson=False)
    art = clean.copy()
    art[:, :6] += 40.0 * np.exp(-np.arange(6) / 2.0)  # flyback at every line start
    art += np.random.default_rng(3).normal(0, 10, (512, 1)).astype(np.float32)  # line offsets
    art[:, 1::2] *= 0.9  # every-other-column gain
    noise = np.random.default_rng(4).normal(0, 8, (512, 512)).astype(np.float32)
    a, b = resolution(clean + noise), resolution(art + noise)
    assert b.cutoff == pytest.approx(a.cutoff, rel=0.05)
    assert b.cutoff_x == pytest.approx(a.cutoff_x, rel=0.05)
    assert b.cutoff_y == pytest.approx(a.cutoff_y, rel=0.05)


# ---------------------------------------------------------------------------------- FFT mask
def test_mask_is_one_inside_zero_outside_with_cosine_edge():
    from napari_lowdose.core.spectrum import mask_profile

    r = np.array([0.0, 0.5, 0.62, 0.65, 0.68, 0.9])
    m = mask_profile(r, keep=0.65, edge=0.1)
    assert m[0] == 1 and m[1] == 1 and m[-1] == 0
    assert m[3] == pytest.approx(0.5)
    assert 0.5 < m[2] < 1 and 0 < m[4] < 0.5


def test_fft_mask_removes_frequencies_above_cutoff_and_keeps_below():
    shape = (256, 320)
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    low = np.cos(2 * np.pi * (32 / 320) * x)  # 0.1 cyc/px = 0.2 of Nyquist (32 whole periods)
    high = np.cos(2 * np.pi * (100 / 256) * y)  # 0.39 cyc/px = 0.78 of Nyquist (100 whole periods)
    out = fft_mask(low + high + 5.0, keep=0.65)
    np.testing.assert_allclose(out, low + 5.0, atol=1e-3)
    assert out.dtype == np.float32 and out.shape == shape


def test_notch_removes_every_other_column_lines_only():
    rng = np.random.default_rng(0)
    smooth = ndimage.gaussian_filter(rng.standard_normal((128, 128)), 4).astype(np.float32)
    lines = np.zeros_like(smooth)
    lines[:, 1::2] = -0.5  # every-other-column artifact
    out = fft_mask(smooth + lines, keep=1.5, notch=True)  # no low-pass, notch only
    np.testing.assert_allclose(out, smooth - 0.25, atol=0.02)  # the lines' mean stays, the pattern goes
    assert np.abs(fft_mask(smooth + lines, keep=1.5) - (smooth + lines)).max() < 1e-4  # keep >= sqrt(2): identity


def test_masked_filter_reuses_the_fft_and_odd_sizes_work():
    image = np.random.default_rng(1).random((101, 67)).astype(np.float32)
    f = MaskedFilter(image)
    a, b = f.apply(0.3), f.apply(0.3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (101, 67)
    assert abs(float(a.mean()) - float(image.mean())) < 1e-4  # the mean (DC) is kept
    assert f.log_power().shape[0] <= 256


def test_lowpass_mask_shape_and_monotonic_in_keep():
    m1, m2 = lowpass_mask((64, 64), 0.3), lowpass_mask((64, 64), 0.6)
    assert m1.shape == (64, 33)
    assert np.all(m2 >= m1) and m2.sum() > m1.sum()


def test_frc_of_identical_halves_is_one():
    image = bandlimited((128, 128), 0.2, poisson=False)
    curve = frc_curve(image)
    assert np.nanmin(curve.values[2:10]) > 0.95


def test_public_api():
    import napari_lowdose

    image = bandlimited((128, 128), 0.2)
    report = napari_lowdose.resolution(image, pixel_size=1.5)
    assert report.pixel_size == 1.5 and report.cutoff is not None
    out = napari_lowdose.fft_mask(image, keep=0.5, notch=True)
    assert out.shape == image.shape and out.dtype == np.float32


def _jittered(k0, jitter_px, seed=0, shape=(512, 512)):
    """Band-limited counts whose scan lines are shifted along x by random amounts (line-to-line jitter
    of ``jitter_px`` rms): the content smeared along ky into streaks, as on real STEM images."""
    clean = bandlimited(shape, k0, mean=100, std=40, poisson=False, seed=seed)
    rng = np.random.default_rng(seed + 1)
    kx = np.fft.rfftfreq(shape[1])
    shifts = rng.normal(0, jitter_px, shape[0])[:, None]
    moved = np.fft.irfft(np.fft.rfft(clean, axis=1) * np.exp(-2j * np.pi * kx[None, :] * shifts), n=shape[1], axis=1)
    return rng.poisson(np.clip(moved, 0, None)).astype(np.uint16)


@pytest.mark.parametrize("k0", [0.1, 0.2])
@pytest.mark.parametrize("jitter", [1.0, 2.0])
def test_scan_line_jitter_is_not_resolution(k0, jitter):
    """Without the column floor the cutoff and the binomial FRC read Nyquist here (0.499 cycles/pixel,
    measured before this test was written); the jitter's streaks must not count as signal."""
    report = resolution(_jittered(k0, jitter))
    assert report.streak_kx is not None and report.streak_kx <= 1.1 * k0
    assert report.cutoff == pytest.approx(k0, rel=0.05)
    assert report.cutoff_y <= 1.08 * k0  # the wedges read 0.106 at k0 = 0.1 without jitter too
    assert report.frc_split == "checkerboard"  # a binomial split gives both halves the same jitter
    assert report.frc_cutoff == pytest.approx(k0, rel=0.08)
    assert "noise floor varies with kx" in report.summary()


def test_real_sto_image_cutoff_agrees_with_its_frc(real_data):
    """16_STOimage_1.ser: line jitter smears the lattice along ky; before the column floor the cutoff
    read 0.301 cycles/pixel (0.33 Å) against an FRC of 0.065."""
    from napari_lowdose.io import read_image

    (image,) = read_image(real_data / "16_STOimage_1.ser")
    report = resolution(image.data, pixel_size=image.pixel_size)
    assert report.streak_kx is not None
    assert report.frc_cutoff == pytest.approx(0.065, abs=0.005)
    assert report.cutoff == pytest.approx(report.frc_cutoff, rel=0.15)
    assert report.cutoff_x <= 1.1 * report.frc_cutoff
