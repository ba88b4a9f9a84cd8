"""core/trust with known answers: flat maps on pure noise, a removed lattice at its spacing, ΔL's sign,
the gain and offset of simulated detectors, and one clear message for bad input."""

import json

import numpy as np
import pytest

from napari_lowdose.core.errors import LowdoseError
from napari_lowdose.core.trust import check, estimate_gain, warning
from napari_lowdose.core.trust.likelihood import atom_likelihood

GAIN, OFFSET, READ = 12.0, 150.0, 2.0


def _detector(lam, seed=0, gain=GAIN, offset=OFFSET, read=READ):
    rng = np.random.default_rng(seed)
    return offset + gain * rng.poisson(lam) + rng.normal(0, read, lam.shape)


def _atoms(shape=(128, 128), spacing=16, sigma=2.0, amp=6.0, bg=0.5, skip=()):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    lam = np.full(shape, bg)
    centres = [(y, x) for y in range(8, shape[0], spacing) for x in range(8, shape[1], spacing)]
    for c in centres:
        if c not in skip:
            lam += amp * np.exp(-((yy - c[0]) ** 2 + (xx - c[1]) ** 2) / (2 * sigma**2))
    return lam, centres


def test_poisson_noise_alone_gives_a_flat_map():
    lam, _ = _atoms()
    noisy = _detector(lam, seed=1)
    rep = check(noisy, OFFSET + GAIN * lam, pixel_size=0.2, gain=GAIN, offset=OFFSET, null_draws=4)
    a = rep.maps["agreement"]
    assert abs(float(a.mean())) < 0.2 and 0.8 < float(a.std()) < 1.2
    assert abs(float(rep.maps["residual_z"].mean())) < 0.1 and 0.85 < float(rep.maps["residual_z"].std()) < 1.15
    assert rep.ok and not rep.flags
    assert warning(rep) == "the denoised image agrees with the data within the noise"


def test_removed_lattice_is_found_at_its_spacing():
    yy, xx = np.mgrid[:128, :128]
    lam = 3.0 + 2.0 * np.cos(2 * np.pi * xx / 8.0) * np.cos(2 * np.pi * yy / 8.0)  # 8 px = 2.0 Å at 0.25 Å/px
    noisy = _detector(lam, seed=2)
    rep = check(noisy, np.full(lam.shape, OFFSET + GAIN * 3.0), pixel_size=0.25, gain=GAIN, offset=OFFSET, null_draws=2)
    lat = [f for f in rep.flags if f.kind == "removed_lattice"]
    assert lat and not rep.ok
    # cos(x)cos(y) with period 8 px has reflections at (±1/8, ±1/8) cycles/px: spacing 8 / sqrt(2) px
    best = max(lat, key=lambda f: f.score)
    assert best.spacing == pytest.approx(0.25 * 8 / np.sqrt(2), rel=0.05)
    assert "periodic structure at 1.4 Å" in warning(rep)


def test_delta_l_is_negative_for_an_invented_blob_and_positive_for_a_real_one():
    lam, centres = _atoms(amp=4.0)
    rng = np.random.default_rng(3)
    counts = rng.poisson(lam).astype(float)
    yy, xx = np.mgrid[:128, :128]
    fake = (56, 64)  # between the columns
    den = lam + 4.0 * np.exp(-((yy - fake[0]) ** 2 + (xx - fake[1]) ** 2) / (2 * 2.0**2))
    blobs, lmap = atom_likelihood(counts, den, den + 1e-6, sigma=2.0)

    def near(p):
        return min(blobs, key=lambda b: np.hypot(b.y - p[0], b.x - p[1]))

    assert near(fake).delta_l < 0 and near(fake).z < -2
    real = [near(c) for c in centres if 16 <= c[0] < 112 and 16 <= c[1] < 112]
    assert all(b.delta_l > 0 for b in real)
    assert lmap[fake] < 0 and lmap[centres[10]] > 0


@pytest.mark.parametrize("gain, offset, read", [(1.0, 0.0, 0.0), (5.0, 300.0, 3.0), (20.0, 500.0, 5.0), (50.0, 100.0, 1.0)])
def test_gain_and_offset_within_ten_percent_on_simulated_detectors(gain, offset, read):
    from napari_lowdose.core.simulate import Acquisition, ScanArtifacts, acquire
    from napari_lowdose.core.simulate.scene import AtomicScene, simulate_atomic

    truth = simulate_atomic(AtomicScene(structure="Pt", kind="particles", shape=(192, 192), pixel_size=0.25, particles=2), seed=5)
    acq = Acquisition(dose=10000, artifacts=ScanArtifacts.none(), detector_gain=gain, detector_offset=offset, read_noise=read)
    est = estimate_gain(acquire(truth, 0.25, acq, seed=6))
    assert est.gain == pytest.approx(gain, rel=0.1)
    assert abs(est.offset - offset) <= max(0.1 * offset, 0.5 * gain)  # 10 %, or half an electron near 0


def test_gain_error_is_reported_and_a_read_noise_dominated_image_asks_for_the_gain():
    from napari_lowdose.core.simulate import Acquisition, ScanArtifacts, acquire
    from napari_lowdose.core.simulate.scene import AtomicScene, simulate_atomic
    from napari_lowdose.core.trust import given

    # how well the gain is pinned down depends on the scene's range of intensities: at 50 000 e/Å² the
    # relative error is 0.02-0.08 over seeds 1-8 (before and after the simulator's grids changed, issue 16)
    truth = simulate_atomic(AtomicScene(structure="Pt", kind="particles", shape=(256, 256), pixel_size=0.25, particles=2), seed=3)

    def estimate(dose, gain, read):
        acq = Acquisition(dose=dose, artifacts=ScanArtifacts.none(), detector_gain=gain, detector_offset=200.0, read_noise=read)
        return estimate_gain(acquire(truth, 0.25, acq, seed=6))

    bright = estimate(50000, 20.0, 1.0)  # ~8 e/px, read noise 0.05 e: pinned down
    assert 0 < bright.gain_se <= 0.05 and bright.identifiable
    assert bright.gain == pytest.approx(20.0, rel=0.1)
    dim = estimate(2000, 1.0, 4.0)  # ~0.3 e/px under 4 e of read noise: the shot noise is a small part
    assert dim.gain_se > 2 * bright.gain_se and not dim.identifiable
    assert given(2.0, 200.0).identifiable  # a typed gain is trusted as it is
    # the check says so in its sentence and its JSON
    report = check(acquire(truth, 0.25, Acquisition(dose=2000, artifacts=ScanArtifacts.none(), detector_gain=1.0,
                                                    detector_offset=200.0, read_noise=4.0), seed=6).astype(float),
                   200.0 + 1.0 * 2000 * 0.25**2 * truth, 0.25)
    assert report.to_dict()["gain_identifiable"] is False and "give the gain" in report.message


def test_bad_input_gets_one_clear_message():
    lam, _ = _atoms()
    noisy = _detector(lam)
    with pytest.raises(LowdoseError, match="same shape"):
        check(noisy, noisy[:, :100])
    with pytest.raises(LowdoseError, match="negative counts"):
        check(noisy, noisy, gain=GAIN, offset=OFFSET + 50 * GAIN)
    with pytest.raises(LowdoseError, match="constant"):
        check(np.full((64, 64), 7.0), np.full((64, 64), 7.0))
    with pytest.raises(LowdoseError, match="constant"):
        estimate_gain(np.full((64, 64), 7.0))
    with pytest.raises(LowdoseError, match="both"):
        check(noisy, noisy, gain=GAIN)
    for exc_args in [(noisy, noisy[:, :100]), (np.full((64, 64), 7.0),) * 2]:
        with pytest.raises(LowdoseError) as info:
            check(*exc_args)
        assert "\n" not in str(info.value)


def test_report_to_dict_is_json():
    lam, _ = _atoms()
    rep = check(_detector(lam, seed=4), OFFSET + GAIN * lam, pixel_size=0.2, null_draws=2)
    d = json.loads(json.dumps(rep.to_dict()))
    assert set(d) >= {"ok", "gain", "offset", "flags", "message"}
    assert d["gain"] == pytest.approx(GAIN, rel=0.1)
