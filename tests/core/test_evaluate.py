import json
from dataclasses import asdict

import numpy as np
import pytest
from scipy import ndimage

from napari_lowdose.core.evaluate import (
    EvalSetting,
    best_gaussian,
    distribution_from_card,
    evaluate,
    evaluate_distribution,
    markdown_table,
    oracle_wiener,
    out_of_distribution_settings,
    score,
    standard_settings,
)
from napari_lowdose.core.train import SimDistribution


def test_oracle_gaussian_finds_the_best_sigma():
    rng = np.random.default_rng(0)
    truth = ndimage.gaussian_filter(rng.standard_normal((128, 128)), 4.0) * 50 + 100
    noisy = truth + rng.normal(0, 2.0, truth.shape)
    out, sigma = best_gaussian(noisy, truth)
    assert 1.0 < sigma < 6.0
    assert score(out, truth)[0] > score(noisy, truth)[0] + 5
    # no sigma on the grid does better
    for s in (0.5, 8.0):
        assert score(ndimage.gaussian_filter(noisy, s), truth)[0] <= score(out, truth)[0] + 1e-9


def test_oracle_wiener_is_the_best_linear_filter_for_a_known_spectrum():
    rng = np.random.default_rng(2)
    truth = ndimage.gaussian_filter(rng.standard_normal((128, 128)), 3.0, mode="wrap") * 40 + 100
    noisy = truth + rng.normal(0, 2.0, truth.shape)
    wiener = oracle_wiener(noisy, truth)
    gauss, _ = best_gaussian(noisy, truth)
    assert score(wiener, truth)[0] > score(noisy, truth)[0] + 3
    assert score(wiener, truth)[0] >= score(gauss, truth)[0] - 0.1  # no linear filter does clearly better
    assert np.allclose(oracle_wiener(truth, truth), truth, atol=1e-6 * truth.max())  # nothing to remove


def test_scores_ignore_gain_and_offset():
    truth = np.linspace(0, 1, 64 * 64).reshape(64, 64)
    p, s = score(3 * truth + 5, truth)
    assert p > 100 and s == pytest.approx(1.0)


def test_evaluate_rows_and_table_on_a_tiny_setting():
    settings = [EvalSetting("tiny", "haadf", 4.0, d, size=64) for d in (0.1, 10.0)]
    rows = evaluate(settings, denoiser=lambda x: ndimage.gaussian_filter(x.astype(float), 1.0), images=2)
    assert [r["dose_e_per_A2"] for r in rows] == [0.1, 10.0]
    for r in rows:
        assert r["gaussian_psnr"] >= r["noisy_psnr"]  # the oracle includes near-identity sigmas
        assert r["wiener_psnr"] > r["noisy_psnr"]
        assert len(r["model_psnr_each"]) == 2
    assert rows[1]["noisy_psnr"] > rows[0]["noisy_psnr"]  # same scenes, more dose
    table = markdown_table(rows)
    assert table.count("\n") == 3 and "tiny" in table


def test_out_of_distribution_settings_are_outside_the_training_ranges():
    d = SimDistribution()
    for s in out_of_distribution_settings():
        lo, hi = d.haadf_pixel_size if s.modality == "haadf" else d.hrtem_pixel_size
        e_lo, e_hi = d.haadf_electrons if s.modality == "haadf" else d.hrtem_electrons
        outside = (
            not lo <= s.pixel_size <= hi
            or not e_lo <= s.electrons_per_pixel <= e_hi
            or s.artifact_scale > d.artifact_scale[1]
            or (s.modality == "hrtem" and (s.optics.voltage_kv not in d.voltages_kv or s.optics.defocus > d.defocus[1]))
        )
        assert outside, s.name
    for s in standard_settings():
        lo, hi = d.haadf_pixel_size if s.modality == "haadf" else d.hrtem_pixel_size
        e_lo, e_hi = d.haadf_electrons if s.modality == "haadf" else d.hrtem_electrons
        assert lo <= s.pixel_size <= hi and e_lo <= s.electrons_per_pixel <= e_hi, s


def test_carbon_only_settings_are_the_lowest_doses_without_particles():
    from dataclasses import replace

    from napari_lowdose.core.evaluate import carbon_only_settings

    hrtem = [s for s in standard_settings() if s.modality == "hrtem"]
    carbon = carbon_only_settings()
    assert [(s.name, s.dose) for s in carbon] == [(s.name, s.dose) for s in standard_settings() if s.dose in (0.05, 0.2, 2.0, 8.0, 3.0, 10.0)]
    carbon = carbon[-2:]
    assert [s.dose for s in carbon] == [s.dose for s in hrtem[:2]]
    assert all(s.coverage == (0.0, 0.0) and "coverage 0-0" in s.label for s in carbon)
    # the same scenes otherwise (same random draws), and the standard label is the plain name
    a, b = hrtem[0].draw(np.random.default_rng(1)), carbon[0].draw(np.random.default_rng(1))
    assert a[0].island_coverage > 0 and b[0].island_coverage == 0
    assert replace(a[0], island_coverage=0.0) == b[0] and a[1] == b[1]
    assert hrtem[0].label == hrtem[0].name


def test_camera_settings_are_the_hrtem_lowest_doses_through_a_point_spread():
    from napari_lowdose.core.evaluate import camera_settings

    hrtem = sorted((s for s in standard_settings() if s.modality == "hrtem"), key=lambda s: s.dose)[:2]
    cams = camera_settings((0.5, 0.8))
    assert [(s.name, s.dose, s.camera_psf_px) for s in cams] == [(h.name, h.dose, p) for p in (0.5, 0.8) for h in hrtem]
    assert cams[0].label == "HRTEM 1 Å, camera PSF 0.5 px"
    scene_a, acq_a = hrtem[0].draw(np.random.default_rng(2))
    scene_b, acq_b = cams[0].draw(np.random.default_rng(2))
    assert scene_a == scene_b and acq_a.camera_psf_px == 0 and acq_b.camera_psf_px == 0.5


def test_evaluate_distribution_draws_from_the_distribution_and_scores_every_output():
    dist = SimDistribution(modalities=("hrtem",), hrtem_camera_psf=(0.3, 0.6), hrtem_counting=0.5)
    blur = lambda x: {"same": x, "blur": ndimage.gaussian_filter(x.astype(float), 1.0)}  # noqa: E731
    recs = evaluate_distribution(dist, blur, images=6, size=64)
    assert len(recs) == 6 and {r["modality"] for r in recs} == {"hrtem"}
    for r in recs:
        assert set(r["psnr"]) == {"noisy", "gaussian", "same", "blur"}
        assert r["psnr"]["same"] == r["psnr"]["noisy"]
        assert 0.4 <= r["pixel_size_A"] <= 2.0 and 0.3 <= r["electrons_per_pixel"] <= 100.0
        assert r["camera_psf_px"] == 0 or 0.3 <= r["camera_psf_px"] <= 0.6
    assert any(r["camera_psf_px"] == 0 for r in recs) and any(r["camera_psf_px"] > 0 for r in recs)
    assert recs == evaluate_distribution(dist, blur, images=6, size=64)  # deterministic from the held-out seed
    assert recs != evaluate_distribution(dist, blur, images=6, size=64, seed=1)


def test_distribution_from_card_round_trips_through_json_lists():
    dist = SimDistribution(modalities=("haadf",), haadf_pixel_size=(1.0, 2.0), dwell_us=(1.0, 2.0))
    card = json.loads(json.dumps({"distribution": asdict(dist)}))  # as a card stores it: tuples become lists
    assert distribution_from_card(card) == dist
    assert distribution_from_card({}) == SimDistribution()
