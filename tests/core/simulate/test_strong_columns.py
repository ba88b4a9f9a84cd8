"""Strong atomic columns (heavy, dense, thick) are imaged with frozen phonons on a finer grid: found by
their summed atomic number, deterministic, bounded in cost, and agreeing with multislice (abTEM)."""

import json
from pathlib import Path

import numpy as np
import pytest

from napari_lowdose.core.errors import LowdoseError
from napari_lowdose.core.simulate.atomic import MAX_GRID, Multislice, Specimen, render_hrtem, strong_oversampling, strongest_column
from napari_lowdose.core.simulate.optics import HRTEMOptics

ABTEM = Path(__file__).resolve().parents[3] / "benchmarks" / "abtem" / "data"


def _au_001(thickness: float, repeats: int = 4) -> Specimen:
    """Au [001]: a square lattice of columns 2.04 Å apart, each with an atom every 4.08 Å."""
    a = 4.078
    cell = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    layers = int(round(thickness / a))
    grid = np.array([[i, j, k] for i in range(repeats) for j in range(repeats) for k in range(layers)], float)
    pos = ((grid[:, None, :] + cell[None]) * a).reshape(-1, 3)
    return Specimen(np.array(["Au"] * len(pos)), pos, (repeats * a, repeats * a))


def test_strongest_column_sums_the_atomic_numbers_of_a_column():
    assert strongest_column(_au_001(4.078 * 12)) == pytest.approx(12 * 79)  # the fidelity scene's 4.9 nm
    assert strongest_column(_au_001(4.078 * 5)) == pytest.approx(5 * 79)
    # a column off the bins' corners counts whole, and an amorphous film of light atoms is weak
    shifted = _au_001(4.078 * 6)
    shifted = Specimen(shifted.symbols, shifted.positions + np.array([0.13, 0.29, 0.0]), shifted.field)
    assert strongest_column(shifted) == pytest.approx(6 * 79)
    rng = np.random.default_rng(0)
    film = Specimen(np.array(["C"] * 2000), rng.uniform(0, 1, (2000, 3)) * np.array([30, 30, 40]), (30.0, 30.0))
    assert strongest_column(film) < 100
    assert strongest_column(Specimen(np.array([], str), np.zeros((0, 3)), (10.0, 10.0))) == 0.0


def test_strong_oversampling_is_fine_enough_fast_and_bounded():
    ms = Multislice()
    assert strong_oversampling(0.25, (65, 65), 1, ms) == 2  # 0.125 Å <= 0.2 Å
    assert strong_oversampling(0.1, (256, 256), 1, ms) == 1  # fine already
    for px in np.linspace(0.05, 1.2, 60):
        for side in (64, 200, 300, 512):
            n = strong_oversampling(float(px), (side, side), 1, ms)
            assert all(p in (2, 3, 5, 7) for p in _factors(n))
            assert n * side <= max(side, min(ms.strong_grid, MAX_GRID))  # bounded cost
            fine = next(m for m in range(int(np.ceil(px / ms.strong_sampling - 1e-9)), 99) if all(p in (2, 3, 5, 7) for p in _factors(m)))
            if fine * side <= ms.strong_grid:
                assert n == fine and px / n <= ms.strong_sampling + 1e-9

def _factors(n: int) -> list[int]:
    out, p = [], 2
    while n > 1:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out


def test_weak_specimens_are_imaged_as_before_and_strong_ones_with_frozen_phonons():
    optics = HRTEMOptics(voltage_kv=200, defocus=-60, cs_mm=0.01, aperture=0.8, convergence_mrad=0.2, focal_spread=20)
    thin, thick = _au_001(4.078 * 5), _au_001(4.078 * 12)
    ms, never = Multislice(slice_thickness=4.0, absorption=0.0), Multislice(slice_thickness=4.0, absorption=0.0, strong_column=np.inf)
    px, shape = thin.field[0] / 65, (65, 65)
    assert np.array_equal(render_hrtem(thin, px, shape, optics, ms), render_hrtem(thin, px, shape, optics, never))
    strong = render_hrtem(thick, px, shape, optics, ms)
    assert np.array_equal(strong, render_hrtem(thick, px, shape, optics, ms))  # deterministic (the seed)
    assert not np.allclose(strong, render_hrtem(thick, px, shape, optics, never), atol=0.05)
    other = render_hrtem(thick, px, shape, optics, Multislice(slice_thickness=4.0, absorption=0.0, seed=1))
    # other phonons: the same crystal, up to the two configurations' thermal diffuse speckle (measured r 0.92)
    assert not np.array_equal(strong, other) and np.corrcoef(strong.ravel(), other.ravel())[0, 1] > 0.85
    # intensity relative to the incident beam: what the columns scatter beyond the aperture is lost
    assert strong.dtype == np.float32 and 0.5 < strong.mean() < 1.0


@pytest.mark.skipif(not (ABTEM / "fid_au_001_hrtem_05nm.npz").exists(), reason="the abTEM reference images are not here")
def test_gold_001_at_5_nm_agrees_with_abtem():
    """The fidelity scene that parted (r = 0.52 with a static, Debye-Waller-damped potential)."""
    from ase.io import read

    meta = json.loads((ABTEM / "scenes" / "fid_au_001_hrtem_05nm.json").read_text())
    atoms = read(str(ABTEM / "scenes" / "fid_au_001_hrtem_05nm.extxyz"))
    ref = np.load(ABTEM / "fid_au_001_hrtem_05nm.npz")["image"].astype(np.float64)
    px, shape, o = meta["pixel_size"], tuple(meta["shape"]), meta["optics"]
    spec = Specimen(np.array(atoms.get_chemical_symbols()), atoms.get_positions(), (shape[0] * px, shape[1] * px))
    optics = HRTEMOptics(voltage_kv=o["voltage_kv"], defocus=o["defocus"], cs_mm=o["cs_mm"], aperture=o["aperture"],
                         convergence_mrad=o["convergence_mrad"], focal_spread=o["focal_spread"])
    image = render_hrtem(spec, px, shape, optics, Multislice(slice_thickness=4.0, absorption=0.0, thermal_sigma=meta["thermal_sigma"])).astype(np.float64)
    # best circular integer shift (periodic cell), then Pearson r
    a, b = ref - ref.mean(), image - image.mean()
    xc = np.fft.ifft2(np.fft.fft2(a) * np.conj(np.fft.fft2(b))).real
    dy, dx = np.unravel_index(np.argmax(xc), xc.shape)
    r = np.corrcoef(np.roll(image, (dy, dx), axis=(0, 1)).ravel(), ref.ravel())[0, 1]
    assert r >= 0.9


@pytest.mark.parametrize("kwargs", [dict(frozen_phonons=0), dict(strong_column=0.0), dict(strong_sampling=-0.1), dict(strong_grid=4)])
def test_bad_multislice_settings_get_one_sentence(kwargs):
    with pytest.raises(LowdoseError, match="multislice"):
        Multislice(**kwargs)

