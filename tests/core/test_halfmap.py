"""Half-data FRC of a denoised result (core.halfmap): no resolution invented, counts or a reason."""

import numpy as np
import pytest
from scipy import ndimage

from napari_lowdose.core.halfmap import NOT_MEASURABLE, estimate_counts, half_data_frc
from napari_lowdose.core.simulate import bandlimited_image
from napari_lowdose.core.spectrum import resolution


def gaussian(sigma):
    return lambda image: ndimage.gaussian_filter(image, sigma)


@pytest.mark.parametrize("k0", [0.15, 0.25, 0.35])
@pytest.mark.parametrize("sigma", [0.0, 0.7, 1.5])
def test_half_data_frc_of_a_denoised_result_never_exceeds_the_band_limit(k0, sigma):
    raw = bandlimited_image((512, 512), k0, seed=int(k0 * 100))
    result = half_data_frc(raw, gaussian(sigma) if sigma else (lambda x: x), pixel_size=2.0)
    assert result.counts_source == "integer counts" and result.reason == ""
    assert result.cutoff is not None and result.cutoff <= 1.05 * k0
    assert result.cutoff >= 0.85 * k0  # a linear filter does not change the FRC: the band limit is found
    assert result.resolution == pytest.approx(2.0 / result.cutoff)
    # the curve put to the full dose is 2 F / (1 + F) of the half-data curve
    f = result.frc.values[5]
    assert result.frc_full.values[5] == pytest.approx(2 * f / (1 + f))


def test_the_readout_on_a_denoised_output_reports_no_cutoff_only_a_note():
    raw = bandlimited_image((256, 256), 0.2)
    denoised = ndimage.gaussian_filter(raw.astype(np.float32), 1.0)
    plain = resolution(denoised)  # what the readout did before: the smoothed floor reads near Nyquist
    assert plain.cutoff > 0.4
    report = resolution(denoised, processed="denoised with a Gaussian")
    assert report.cutoff is None and report.cutoff_x is None and report.cutoff_y is None and report.frc_cutoff is None
    assert NOT_MEASURABLE in report.note and "half-data FRC" in report.note
    d = report.to_dict()
    assert d["cutoff"] is None and NOT_MEASURABLE in d["note"]
    assert report.summary() == "cutoff, FRC: not measurable on a processed image (denoised with a Gaussian)"


def _structured_counts(seed=0, shape=(512, 512)):
    rng = np.random.default_rng(seed)
    smooth = ndimage.gaussian_filter(rng.random(shape), 24)
    truth = np.where(smooth > np.median(smooth), 40.0, 3.0)  # particles on a thin support, as HAADF shows them
    return rng.poisson(ndimage.gaussian_filter(truth, 2.0))


def test_gain_and_offset_are_estimated_from_noise_against_mean():
    counts = _structured_counts()
    image = (counts * 7.5 + 300).astype(np.float32)
    est = estimate_counts(image)
    assert est.source == "estimated" and est.reason == ""
    assert est.gain == pytest.approx(7.5, rel=0.1)
    assert est.offset == pytest.approx(300, abs=0.1 * 7.5 * counts.mean())
    given = estimate_counts(image, gain=7.5, offset=300)
    assert given.source == "given" and np.array_equal(given.counts, counts)


def test_correlated_noise_is_not_measurable_with_the_reason():
    counts = _structured_counts(1).astype(np.float32)
    smeared = ndimage.uniform_filter1d(counts, 3, axis=1)  # detector afterglow along x
    result = half_data_frc(smeared, gaussian(1.0))
    assert result.cutoff is None
    assert "not independent" in result.reason and ("along x" in result.reason or "varies with kx" in result.reason)


def test_constant_and_small_images():
    flat = np.full((64, 64), 5, dtype=np.uint16)
    assert half_data_frc(flat, gaussian(1.0)).cutoff is None
    from napari_lowdose.core.errors import InvalidImageError

    with pytest.raises(InvalidImageError, match="too small"):
        half_data_frc(np.ones((8, 8), dtype=np.uint16), gaussian(1.0))


def test_the_bundled_unet_invents_no_resolution():
    from napari_lowdose.core.tiling import denoise

    k0 = 0.25
    raw = bandlimited_image((256, 256), k0, mean=20, std=8, seed=4)
    result = half_data_frc(raw, lambda image: denoise(image, "haadf", device="cpu"))
    assert result.cutoff is not None and result.cutoff <= 1.05 * k0
    # the network's output correlates beyond k0 in both halves (harmonics of the signal): consistency,
    # not resolution; the raw halves' own FRC caps the reported value
    assert result.denoised_cutoff > 1.05 * k0 and result.limited_by == "raw data"


def test_scan_line_jitter_is_shared_by_a_split_so_not_measurable():
    from tests.core.test_spectrum import _jittered

    result = half_data_frc(_jittered(0.15, 1.0), gaussian(1.0))
    assert result.cutoff is None and "not independent" in result.reason and "kx" in result.reason


def test_the_split_tests_its_independence_and_puts_an_estimated_gain_right():
    """Where only noise can be, halves split with gain g instead of g0 correlate (g0 - g) / (g0 + g)."""
    image = (_structured_counts(2) * 7.5 + 300).astype(np.float32)
    wrong = half_data_frc(image, gaussian(1.0), gain=10.0, offset=300.0)  # given, and 33 % off: refused
    assert wrong.cutoff is None and "not independent" in wrong.reason and "correlate -0.1" in wrong.reason
    right = half_data_frc(image, gaussian(1.0), gain=7.5, offset=300.0)
    assert right.cutoff is not None and right.reason == ""
    estimated = half_data_frc(image, gaussian(1.0))
    assert estimated.counts_source == "estimated" and estimated.gain == pytest.approx(7.5, rel=0.08)
    assert estimated.cutoff == pytest.approx(right.cutoff, rel=0.1)
