"""Classical DPC / iDPC: integration, rotation by minimum curl, bad input (issue 19)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import lsqr

from napari_lowdose.core.errors import LowdoseError
from napari_lowdose.core.segmented import DetectorGeometry, check_segments, detector_differences, find_rotation, integrate_gradient, rotate_field
from napari_lowdose.core.segmented.reconstruct import PhaseConfig, parse_rotation, reconstruct_phase


def bumps(shape=(96, 112), seed=0, n=25, width=2.5):
    """A phase of positive Gaussian bumps (rad) and its analytic gradient (per pixel), away from the edges."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[0], : shape[1]].astype(float)
    phi = np.zeros(shape)
    gx = np.zeros(shape)
    gy = np.zeros(shape)
    for cy, cx, a in zip(rng.uniform(12, shape[0] - 12, n), rng.uniform(12, shape[1] - 12, n), rng.uniform(0.2, 1.0, n)):
        g = a * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * width**2))
        phi += g
        gx += -g * (x - cx) / width**2
        gy += -g * (y - cy) / width**2
    return phi, gx, gy


def r(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def test_idpc_of_a_known_periodic_gradient_returns_the_phase():
    ny, nx = 64, 80
    y, x = np.mgrid[:ny, :nx].astype(float)
    phi = 0.7 * np.sin(2 * np.pi * 3 * x / nx) + 0.4 * np.cos(2 * np.pi * 2 * y / ny) * np.sin(2 * np.pi * x / nx)
    gx = 0.7 * 2 * np.pi * 3 / nx * np.cos(2 * np.pi * 3 * x / nx) + 0.4 * np.cos(2 * np.pi * 2 * y / ny) * 2 * np.pi / nx * np.cos(2 * np.pi * x / nx)
    gy = -0.4 * 2 * np.pi * 2 / ny * np.sin(2 * np.pi * 2 * y / ny) * np.sin(2 * np.pi * x / nx)
    out = integrate_gradient(gx, gy, mirror=False)
    assert np.max(np.abs(out - (phi - phi.mean()))) < 1e-9


def test_idpc_of_a_non_periodic_phase_with_pixel_size():
    phi, gx, gy = bumps()
    px = 0.2  # Å: gradient per Å is per pixel / px
    out = integrate_gradient(gx / px, gy / px, pixel_size=px)
    err = out - (phi - phi.mean())
    assert np.sqrt(np.mean(err**2)) < 0.01 * np.ptp(phi)


def lsq_integrate(gx, gy):
    """Independent textbook integration (Southwell-type least squares on forward differences, sparse)."""
    ny, nx = gx.shape
    idx = np.arange(ny * nx).reshape(ny, nx)
    rows, cols, vals, rhs = [], [], [], []
    k = 0
    for (a, b, g) in ((idx[:, :-1], idx[:, 1:], 0.5 * (gx[:, :-1] + gx[:, 1:])), (idx[:-1, :], idx[1:, :], 0.5 * (gy[:-1, :] + gy[1:, :]))):
        a, b, g = a.ravel(), b.ravel(), g.ravel()
        m = np.arange(k, k + len(a))
        rows += [m, m]
        cols += [b, a]
        vals += [np.ones(len(a)), -np.ones(len(a))]
        rhs.append(g)
        k += len(a)
    rows.append(np.full(ny * nx, k))  # mean zero
    cols.append(idx.ravel())
    vals.append(np.ones(ny * nx))
    rhs.append([0.0])
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(k + 1, ny * nx))
    return lsqr(A, np.concatenate(rhs), atol=1e-12, btol=1e-12, iter_lim=20000)[0].reshape(ny, nx)


def test_idpc_matches_an_independent_least_squares_integration():
    phi, gx, gy = bumps((64, 72), seed=3)
    ours = integrate_gradient(gx, gy)
    ref = lsq_integrate(gx, gy)
    assert r(ours, ref) > 0.999
    assert np.sqrt(np.mean((ours - ref) ** 2)) < 0.02 * np.ptp(ref)


def segments_from_gradient(gx, gy, rotation_deg, flip=False, level=100.0):
    """Segments whose (A-C, B-D) are the gradient's components along A's and B's directions."""
    t = np.deg2rad(rotation_deg)
    a = np.array([np.cos(t), np.sin(t)])
    b = np.array([-np.sin(t), np.cos(t)]) * (-1 if flip else 1)
    da = gx * a[0] + gy * a[1]
    db = gx * b[0] + gy * b[1]
    return np.stack([level + da / 2, level + db / 2, level - da / 2, level - db / 2])


@pytest.mark.parametrize("angle", [0.0, 37.0, -121.0, 172.0])
def test_rotation_finder_recovers_a_known_angle(angle):
    phi, gx, gy = bumps(seed=1)
    segs = segments_from_gradient(gx * 20, gy * 20, angle)
    segs += np.random.default_rng(2).normal(0, 0.2, segs.shape)  # a little noise
    dx, dy, _ = detector_differences(segs)
    found = find_rotation(dx, dy)
    assert abs((found - angle + 180) % 360 - 180) < 2.0


def test_rotation_finder_with_a_flipped_detector():
    phi, gx, gy = bumps(seed=4)
    segs = segments_from_gradient(gx * 20, gy * 20, 65.0, flip=True)
    dx, dy, _ = detector_differences(segs)
    assert abs((find_rotation(dx, dy, flip=True) - 65.0 + 180) % 360 - 180) < 2.0
    res = reconstruct_phase(segs, PhaseConfig(rotation_deg=None, flip=True, pixel_size=1.0))
    assert r(res.phase, phi) > 0.99


def test_rotate_field_undoes_the_detector_rotation():
    phi, gx, gy = bumps(seed=5)
    segs = segments_from_gradient(gx, gy, 30.0)
    dx, dy = segs[0] - segs[2], segs[1] - segs[3]
    fx, fy = rotate_field(dx, dy, 30.0)
    assert np.allclose(fx, gx) and np.allclose(fy, gy)


def test_reconstruct_gives_phase_and_potential_in_physical_units():
    phi, gx, gy = bumps(seed=6)
    geo = DetectorGeometry(voltage_kv=300.0, convergence_mrad=20.0, inner_mrad=0.0)
    px = 0.3
    # segments normalised so that (A - C) / mean(A+B+C+D) = gradient (rad/Å) / gradient_per_unit
    level = 1000.0
    scale = 4 * level / geo.gradient_per_unit
    segs = segments_from_gradient(gx / px * scale, gy / px * scale, 0.0, level=level)
    res = reconstruct_phase(segs, PhaseConfig(rotation_deg=0.0, pixel_size=px, geometry=geo))
    truth = phi - phi.mean()
    assert np.sqrt(np.mean((res.phase - truth) ** 2)) < 0.01 * np.ptp(phi)
    assert np.allclose(res.potential, res.phase / geo.sigma, rtol=1e-4, atol=1e-3)
    assert res.potential.dtype == np.float32 and res.potential.shape == phi.shape and not res.rotation_found


def one_sentence(exc) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and msg.count(". ") == 0
    return msg


def test_three_segments_are_refused():
    with pytest.raises(LowdoseError) as exc:
        check_segments([np.ones((16, 16))] * 3)
    assert "four images" in one_sentence(exc) and "got 3" in str(exc.value)


def test_segments_of_different_shapes_are_refused():
    with pytest.raises(LowdoseError) as exc:
        check_segments([np.ones((16, 16))] * 3 + [np.ones((16, 17))])
    assert "same shape" in one_sentence(exc)


def test_nan_in_a_segment_is_refused():
    segs = np.ones((4, 16, 16))
    segs[2, 3, 3] = np.nan
    with pytest.raises(LowdoseError) as exc:
        reconstruct_phase(segs, PhaseConfig(rotation_deg=0.0))
    assert "segment C" in one_sentence(exc) and "NaN" in str(exc.value)


@pytest.mark.parametrize("bad", ["abc", "nan", [1, 2]])
def test_a_rotation_that_is_not_a_number_is_refused(bad):
    with pytest.raises(LowdoseError) as exc:
        parse_rotation(bad)
    assert "rotation must be" in one_sentence(exc)
    with pytest.raises(LowdoseError):
        PhaseConfig(rotation_deg=bad)


def test_auto_rotation_is_parsed():
    assert parse_rotation("auto") is None and parse_rotation(" 12.5 ") == 12.5


def test_flat_segments_cannot_give_a_rotation():
    with pytest.raises(LowdoseError) as exc:
        reconstruct_phase(np.ones((4, 32, 32)), PhaseConfig(rotation_deg=None))
    assert "rotation" in one_sentence(exc)
