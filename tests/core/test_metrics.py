import numpy as np
import pytest
from scipy import ndimage


def test_metrics_match_scikit_image():
    skm = pytest.importorskip("skimage.metrics")
    from napari_lowdose.core.metrics import affine_match, psnr, ssim

    rng = np.random.default_rng(0)
    truth = ndimage.gaussian_filter(rng.random((96, 80)), 2) * 100
    x = truth + rng.normal(0, 2, truth.shape)
    r = float(truth.max() - truth.min())
    assert psnr(x, truth) == pytest.approx(skm.peak_signal_noise_ratio(truth, x, data_range=r), abs=1e-9)
    ref = skm.structural_similarity(truth, x, data_range=r, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert ssim(x, truth) == pytest.approx(ref, abs=2e-3)
    # the affine match undoes a gain and an offset exactly
    assert np.allclose(affine_match(3 * truth + 7, truth), truth)
