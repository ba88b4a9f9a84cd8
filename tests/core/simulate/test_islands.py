import numpy as np
import pytest

from napari_lowdose.core import Acquisition, ScanArtifacts, SceneConfig, simulate_pair, simulate_scene
from napari_lowdose.core.errors import LowdoseError

SMALL = SceneConfig(shape=(128, 160), pixel_size=5.0, island_size=120.0)


def test_deterministic_from_seed():
    a, b = simulate_pair(SMALL, seed=3), simulate_pair(SMALL, seed=3)
    assert np.array_equal(a.low, b.low) and np.array_equal(a.high, b.high) and np.array_equal(a.truth, b.truth)
    c = simulate_pair(SMALL, seed=4)
    assert not np.array_equal(a.truth, c.truth)


def test_pair_shapes_types_and_independent_noise():
    p = simulate_pair(SMALL, seed=1)
    assert p.low.shape == p.high.shape == p.truth.shape == (128, 160)
    assert p.low.dtype == p.high.dtype == np.uint16 and p.truth.dtype == np.float32
    # both images see the same scene: each correlates with the truth
    for img in (p.low, p.high):
        assert np.corrcoef(img.ravel().astype(float), p.truth.ravel())[0, 1] > 0.3
    assert p.metadata()["pixel_size_A"] == 5.0


def test_scene_has_gold_islands_brighter_than_carbon():
    truth = simulate_scene(SceneConfig(shape=(256, 256), island_coverage=0.3), seed=0)
    top, bottom = np.quantile(truth, 0.9), np.quantile(truth, 0.3)
    assert top > 3 * bottom  # Z-contrast: gold scatters far more than the carbon film


def test_counts_scale_with_dose():
    scene = simulate_scene(SMALL, seed=0)
    from napari_lowdose.core.simulate import acquire

    clean = dict(artifacts=ScanArtifacts.none(), detector_offset=0.0, read_noise=0.0, detector_gain=1.0)
    low = acquire(scene, SMALL.pixel_size, Acquisition(dose=0.5, **clean), seed=0).astype(float)
    high = acquire(scene, SMALL.pixel_size, Acquisition(dose=5.0, **clean), seed=0).astype(float)
    expected = scene.mean() * SMALL.pixel_size**2
    assert low.mean() == pytest.approx(0.5 * expected, rel=0.05)
    assert high.mean() == pytest.approx(5.0 * expected, rel=0.05)


def test_every_other_column_and_flyback_artifacts_show_and_switch_off():
    scene = SceneConfig(shape=(256, 256), island_coverage=0.0)
    on = simulate_pair(scene, Acquisition(dose=5.0), seed=2).low.astype(float)
    off = simulate_pair(scene, Acquisition(dose=5.0, artifacts=ScanArtifacts.none()), seed=2).low.astype(float)
    signal_on, signal_off = on - 200.0, off - 200.0  # detector offset
    ratio_on = signal_on[:, 20::2].mean() / signal_on[:, 21::2].mean()
    ratio_off = signal_off[:, 20::2].mean() / signal_off[:, 21::2].mean()
    assert ratio_on > 1.15  # odd columns lose gain
    assert abs(ratio_off - 1) < 0.05
    assert signal_on[:, :2].mean() > 1.3 * signal_on[:, 40:].mean()  # flyback at line start
    assert abs(signal_off[:, :2].mean() / signal_off[:, 40:].mean() - 1) < 0.1


def test_artifacts_weaker_at_long_dwell():
    art = ScanArtifacts()
    assert art.at_dwell(4.0).column_gain < art.column_gain < art.at_dwell(0.2).column_gain


def test_bad_configs_are_refused():
    with pytest.raises(LowdoseError):
        SceneConfig(shape=(4, 4))
    with pytest.raises(LowdoseError):
        Acquisition(dose=0)


def test_hrtem_scene_is_phase_contrast_around_one_and_resolves_the_lattice():
    from napari_lowdose.core.simulate import HRTEMOptics

    cfg = SceneConfig(shape=(256, 256), pixel_size=0.5, island_size=60.0, island_coverage=0.4, modality="hrtem",
                      optics=HRTEMOptics(defocus=-400.0, aperture=0.8, convergence_mrad=0.1))
    t = simulate_scene(cfg, seed=0).astype(float)
    assert 0.7 < t.mean() < 1.1 and t.std() > 0.05  # intensity relative to the beam, visible contrast
    # the gold {111}/{200} reflections (0.42-0.49 1/Å) show as a ring of power in the particles' spectrum
    power = np.abs(np.fft.fftshift(np.fft.fft2(t - t.mean()))) ** 2
    ky, kx = np.meshgrid(*(np.fft.fftshift(np.fft.fftfreq(256, d=0.5)),) * 2, indexing="ij")
    q = np.hypot(ky, kx)
    ring = power[(q > 0.40) & (q < 0.51)].mean()
    beside = power[(q > 0.55) & (q < 0.65)].mean()
    assert ring > 3 * beside


def test_hrtem_ctf_has_the_scherzer_passband():
    from napari_lowdose.core.simulate import HRTEMOptics, electron_wavelength

    assert electron_wavelength(200.0) == pytest.approx(0.02508, rel=1e-3)
    o = HRTEMOptics(defocus=-660.0, cs_mm=1.2, aperture=10.0, convergence_mrad=0.0, focal_spread=0.0)
    ctf = o.ctf((512, 512), 0.25)
    q = np.hypot(*np.meshgrid(np.fft.fftfreq(512, 0.25), np.fft.fftfreq(512, 0.25), indexing="ij"))
    sin_chi = -ctf.imag  # exp(-i chi): the phase-contrast transfer is sin(chi)
    band = (q > 0.15) & (q < 0.38)
    assert np.all(sin_chi[band] < -0.3) or np.all(sin_chi[band] > 0.3)  # one sign: a broad passband
    assert np.allclose(np.abs(ctf), 1.0)  # no envelopes, aperture open


def test_platinum_and_atomic_columns_change_the_lattice():
    base = dict(shape=(128, 128), pixel_size=0.5, island_size=40.0, island_coverage=0.6, lattice_contrast=0.6, probe_sigma=0.3)
    au = simulate_scene(SceneConfig(**base), seed=1)
    pt = simulate_scene(SceneConfig(**base, element="Pt"), seed=1)
    cols = simulate_scene(SceneConfig(**base, column_sharpness=5.0), seed=1)
    assert not np.allclose(au, pt)
    # peaked columns: a more skewed intensity distribution than sinusoidal fringes
    def skew(a):
        a = a.astype(float).ravel()
        return float(((a - a.mean()) ** 3).mean() / a.std() ** 3)
    inner = (slice(40, 88), slice(40, 88))
    assert skew(cols[inner]) > skew(au[inner]) + 0.3
    with pytest.raises(LowdoseError):
        SceneConfig(element="Fe")
    with pytest.raises(LowdoseError):
        SceneConfig(modality="sem")


def test_dose_from_beam_current_and_dwell():
    # 10 pA for 1 µs is 62.4 electrons per probe position; at 1 Å pixels that is 62.4 e-/Å²
    acq = Acquisition.from_beam(current_pA=10.0, dwell_us=1.0, pixel_size=1.0)
    assert acq.electrons_per_pixel(1.0) == pytest.approx(62.415, rel=1e-4)
    assert Acquisition.from_beam(10.0, 1.0, 2.0).dose == pytest.approx(62.415 / 4, rel=1e-4)
    with pytest.raises(LowdoseError):
        Acquisition.from_beam(0.0, 1.0, 1.0)


def test_hrtem_pair_has_no_scan_artifacts_and_scales_with_dose():
    scene = SceneConfig(shape=(128, 128), pixel_size=1.0, modality="hrtem", island_coverage=0.0)
    p = simulate_pair(scene, seed=0)
    assert p.low_acquisition.artifacts == ScanArtifacts.none()
    low, high = p.low.astype(float) - 200.0, p.high.astype(float) - 200.0
    assert high.mean() / low.mean() == pytest.approx(10.0, rel=0.05)  # 50 vs 5 e-/Å²
    even, odd = low[:, 0::2].mean(), low[:, 1::2].mean()
    assert abs(even / odd - 1) < 0.03


def test_each_scan_artifact_switches_on_alone():
    scene = simulate_scene(SceneConfig(shape=(64, 64), island_coverage=0.2), seed=0)
    from napari_lowdose.core.simulate import acquire

    clean = acquire(scene, 5.0, Acquisition(dose=5.0, artifacts=ScanArtifacts.none(), read_noise=0.0), seed=3)
    from dataclasses import replace

    ref = ScanArtifacts()
    for name in ("flyback_gain", "stretch", "jitter_px", "streak_px", "column_gain", "line_offset", "median_drop"):
        art = replace(ScanArtifacts.none(), flyback_px=ref.flyback_px, **{name: getattr(ref, name)})
        img = acquire(scene, 5.0, Acquisition(dose=5.0, artifacts=art, read_noise=0.0), seed=3)
        assert not np.array_equal(img, clean), name
    # and scaled() multiplies every strength
    assert ref.scaled(2.0).column_gain == pytest.approx(2 * ref.column_gain)
    assert ref.scaled(2.0).line_offset_corr == ref.line_offset_corr


def test_scanned_truth_has_the_acquisitions_scan_geometry():
    from dataclasses import replace

    from napari_lowdose.core.simulate import acquire, scanned

    scene = simulate_scene(SceneConfig(shape=(96, 96), island_coverage=0.3, island_size=60.0), seed=2)
    geometry_only = replace(ScanArtifacts.none(), stretch=0.08, jitter_px=1.0)
    acq = Acquisition(dose=2000.0, artifacts=geometry_only, detector_gain=1.0, detector_offset=0.0, read_noise=0.0)
    img = acquire(scene, 5.0, acq, seed=7).astype(float) / acq.electrons_per_pixel(5.0)
    same = scanned(scene, acq, seed=7)
    other = scanned(scene, acq, seed=8)
    err = lambda a: float(np.abs(img - a).mean())  # noqa: E731
    assert err(same) < 0.5 * err(other) and err(same) < 0.5 * err(scene)
    assert np.array_equal(scanned(scene, Acquisition(artifacts=ScanArtifacts.none())), scene)


def test_camera_point_spread_correlates_the_noise_and_keeps_the_counts():
    from napari_lowdose.core.simulate import acquire, camera_blur

    flat = np.full((128, 128), 1.0)
    white = Acquisition(dose=50.0, artifacts=ScanArtifacts.none(), read_noise=0.0, detector_offset=0.0, detector_gain=1.0)
    spread = Acquisition(dose=50.0, artifacts=ScanArtifacts.none(), read_noise=0.0, detector_offset=0.0, detector_gain=1.0, camera_psf_px=1.0)
    a, b = acquire(flat, 1.0, white, seed=3).astype(float), acquire(flat, 1.0, spread, seed=3).astype(float)
    assert a.mean() == pytest.approx(50.0, rel=0.02) and b.mean() == pytest.approx(a.mean(), rel=0.01)  # the electrons are kept
    assert a.var() == pytest.approx(50.0, rel=0.1)  # Poisson: white, variance = mean
    assert b.var() < 0.2 * a.var()  # spread over ~ 4 pi sigma^2 pixels
    lag = lambda x: np.corrcoef(x[:, :-1].ravel(), x[:, 1:].ravel())[0, 1]  # noqa: E731
    assert abs(lag(a)) < 0.05 and lag(b) > 0.5
    assert camera_blur(flat, white) is flat
    with pytest.raises(LowdoseError, match="camera_psf_px"):
        Acquisition(camera_psf_px=-1.0)
