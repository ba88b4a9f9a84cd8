"""The simulator's speed-ups change no result: random training scenes give the images (and specimens)
that the implementation before them gave, to float tolerance.

``data/atomic_reference.json`` holds fingerprints (atom counts, a digest of the symbols, position sums,
image sums and 8 x 8 block means). They were recorded at commit ecbe472 (before the first speed-ups) and
recorded again, deliberately, when the images changed on purpose (2026-11-28, issue 16: the internal
grid widened to an FFT-friendly size with the specimen filling it, the HRTEM multislice and the HAADF
convolution in single precision; docs/benchmarks.md shows the fidelity against abTEM unchanged; and again
2026-11-28, issue 16: HRTEM of strong columns with frozen phonons on a finer grid, which changed 2 of the
14 HRTEM scenes, hrtem-8-64 and hrtem-0-160, the others bit for bit the same). Write it again only from code
whose images are meant to change, saying why in the commit:
``PYTHONPATH=src python tests/core/simulate/test_same_results.py --write``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from napari_lowdose.core.simulate import structures as st
from napari_lowdose.core.simulate.atomic import Multislice, Specimen
from napari_lowdose.core.simulate.clusters import CLUSTER_SHAPES, nanoparticle
from napari_lowdose.core.simulate.optics import HRTEMOptics, STEMProbe, clear_caches, electron_wavelength
from napari_lowdose.core.simulate.potential import frequencies, projected_potential_ft
from napari_lowdose.core.simulate.scene import build_specimen, render
from napari_lowdose.core.train import SimDistribution

REFERENCE = Path(__file__).parent / "data" / "atomic_reference.json"
CASES = [(m, s, 64) for m in ("haadf", "hrtem") for s in range(12)] + [("haadf", 0, 160), ("hrtem", 0, 160), ("haadf", 9, 160), ("hrtem", 9, 160)]


def _scene(modality: str, seed: int, size: int):
    dist = SimDistribution(atomic_fraction=1.0, atomic_particles=0.65)
    return dist._sample_atomic(np.random.default_rng(seed), size, modality)[0]


def fingerprint(modality: str, seed: int, size: int) -> dict:
    scene = _scene(modality, seed, size)
    spec = build_specimen(scene, np.random.default_rng([seed, 1601]))
    image = render(spec, scene).astype(np.float64)
    b = size // 8
    blocks = image.reshape(8, b, 8, b).mean(axis=(1, 3))
    return {
        "kind": scene.kind,
        "atoms": len(spec.symbols),
        "symbols_md5": hashlib.md5("".join(spec.symbols.tolist()).encode()).hexdigest(),
        "position_sum": spec.positions.sum(0).tolist(),
        "image_sum": float(image.sum()),
        "image_sum2": float((image**2).sum()),
        "blocks": blocks.ravel().tolist(),
        "corner": image[:3, :3].ravel().tolist(),
    }


def potential_fingerprint() -> list[float]:
    rng = np.random.default_rng(5)
    sym = rng.choice(["C", "Si", "Au", "O"], 300)
    yx = rng.uniform(0, 40, (300, 2))
    v = np.fft.irfft2(projected_potential_ft(sym, yx, (90, 96), 40 / 90, 0.07), s=(90, 96))
    return [float(v.sum()), float((v**2).sum())] + v[::15, ::16].ravel().tolist()


def _reference() -> dict:
    return json.loads(REFERENCE.read_text())


@pytest.mark.parametrize("modality, seed, size", CASES)
def test_random_training_scene_is_unchanged(modality, seed, size):
    ref = _reference()["scenes"][f"{modality}-{seed}-{size}"]
    got = fingerprint(modality, seed, size)
    assert got["kind"] == ref["kind"] and got["atoms"] == ref["atoms"] and got["symbols_md5"] == ref["symbols_md5"]
    np.testing.assert_allclose(got["position_sum"], ref["position_sum"], rtol=1e-12, atol=1e-9)
    scale = max(abs(v) for v in ref["blocks"]) + 1e-12
    # both run in single precision, whose last bits may differ between CPUs (SIMD sin/cos, FFT paths)
    rtol = 2e-5 if modality == "hrtem" else 5e-6
    np.testing.assert_allclose(got["blocks"], ref["blocks"], rtol=rtol, atol=0.1 * rtol * scale)
    np.testing.assert_allclose(got["corner"], ref["corner"], rtol=rtol, atol=0.1 * rtol * scale)
    np.testing.assert_allclose([got["image_sum"], got["image_sum2"]], [ref["image_sum"], ref["image_sum2"]], rtol=0.1 * rtol)


def test_projected_potential_is_unchanged():
    ref = _reference()["potential"]
    got = potential_fingerprint()
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9 * max(abs(v) for v in ref))


def _ase_nanoparticle(rng: np.random.Generator, element: str, diameter: float, shape: str) -> tuple[np.ndarray, np.ndarray]:
    """The particle as the code before the speed-ups built it, with ASE's own cluster builders."""
    from ase.cluster import Decahedron, Icosahedron, Octahedron, wulff_construction

    a = float(np.linalg.norm(st.crystal(element).cell[0]))
    nn = a / 2**0.5
    if shape == "octahedron":
        length = max(3, int(round(diameter / nn)) + 1)
        atoms = Octahedron(element, length=length, cutoff=int(rng.integers(0, max(1, length // 3) + 1)), latticeconstant=a)
    elif shape == "decahedron":
        p = max(2, int(round(diameter / (1.3 * nn))))
        atoms = Decahedron(element, p=p, q=int(rng.integers(1, 3)), r=int(rng.integers(0, 2)), latticeconstant=a)
    elif shape == "icosahedron":
        atoms = Icosahedron(element, noshells=max(2, int(round(diameter / (1.36 * nn)))), latticeconstant=a)
    else:
        n_atoms = max(13, int(np.pi / 6 * diameter**3 * 4 / a**3))
        e100, e110 = float(rng.uniform(1.0, 1.3)), float(rng.uniform(1.05, 1.4))
        atoms = wulff_construction(element, [(1, 0, 0), (1, 1, 0), (1, 1, 1)], [e100, e110, 1.0], n_atoms, "fcc", rounding="closest", latticeconstant=a)
    pos = atoms.get_positions()
    return np.array(atoms.get_chemical_symbols()), pos - pos.mean(0)


@pytest.mark.parametrize("shape", CLUSTER_SHAPES)
def test_nanoparticles_are_ases_atom_for_atom(shape):
    for seed, element, diameter in [(0, "Au", 9.0), (1, "Cu", 17.0), (2, "Pt", 26.0), (3, "Ag", 34.0), (1, "Cu", 17.0)]:  # the last: from the cache
        mine, theirs = np.random.default_rng(seed), np.random.default_rng(seed)
        sym, pos = nanoparticle(mine, element, diameter, shape)
        sym0, pos0 = _ase_nanoparticle(theirs, element, diameter, shape)
        assert sym.dtype == sym0.dtype and np.array_equal(sym, sym0) and np.array_equal(pos, pos0)
        assert mine.random() == theirs.random()  # the same draws, so the rest of the scene follows
        pos += 1.0  # the caller owns its copy: the cached particle stays as it was
        assert np.array_equal(nanoparticle(np.random.default_rng(seed), element, diameter, shape)[1], pos0)


def _fill_box_whole_block(cr, rotation, box, origin):
    """fill_box as before the speed-up: every cell of the bounding block, then the atoms inside."""
    ly, lx, lz = box
    corners = np.array([[x, y, z] for x in (0, lx) for y in (0, ly) for z in (0, lz)]) - origin
    frac = corners @ rotation @ np.linalg.inv(cr.cell)
    lo, hi = np.floor(frac.min(0)).astype(int) - 1, np.ceil(frac.max(0)).astype(int) + 1
    grid = np.stack(np.meshgrid(*(np.arange(a, b) for a, b in zip(lo, hi)), indexing="ij"), -1).reshape(-1, 3)
    m = cr.cell @ rotation.T
    cart = ((grid @ m)[:, None, :] + (cr.fractional @ m)[None] + origin).reshape(-1, 3)
    keep = np.flatnonzero((cart >= 0).all(1) & (cart[:, 0] < lx) & (cart[:, 1] < ly) & (cart[:, 2] < lz))
    return np.asarray(cr.symbols)[keep % len(cr.symbols)], cart[keep]


def test_fill_box_generates_only_columns_but_the_same_atoms():
    rng = np.random.default_rng(3)
    for i, name in enumerate(("Au", "SrTiO3", "CeO2", "GaN", "MoS2", "Si", "graphene")):
        cr = st.crystal(name)
        zone = [(0, 0, 1), (1, 1, 0), (2, 1, 0), (1, 2, 3)][i % 4]
        for rot in (st.orient(cr, zone, float(rng.uniform(0, 360)), float(rng.uniform(0, 20)), 40.0), np.eye(3)):
            box, origin = (float(rng.uniform(5, 40)), float(rng.uniform(5, 40)), float(rng.uniform(3, 120))), np.append(rng.uniform(0, 5, 2), 0.0)
            sym, pos = st.fill_box(cr, rot, box, origin)
            sym0, pos0 = _fill_box_whole_block(cr, rot, box, origin)
            assert len(sym) > 0 and np.array_equal(sym, sym0) and np.array_equal(pos, pos0)


def test_atomic_numbers_match_the_per_atom_lookup():
    from ase.data import atomic_numbers

    sym = np.random.default_rng(0).choice(["C", "Au", "Si", "N", "O"], 5000)
    spec = Specimen(sym, np.zeros((len(sym), 3)), (1.0, 1.0))
    assert np.array_equal(spec.numbers(), [atomic_numbers[s] for s in sym]) and spec.numbers().dtype == np.int64
    assert Specimen(np.array([], str), np.zeros((0, 3)), (1.0, 1.0)).numbers().shape == (0,)


def test_named_crystals_are_shared_read_only():
    cr = st.crystal("SrTiO3")
    assert st.crystal("srtio3") is cr
    with pytest.raises(ValueError):
        cr.fractional[0, 0] = 0.5


def test_ctf_matches_the_full_grid_formula():
    o = HRTEMOptics(voltage_kv=300.0, defocus=-80.0, cs_mm=0.005, aperture=1.0, convergence_mrad=0.3, focal_spread=25.0)
    clear_caches()
    for shape, px in [((96, 80), 0.21), ((64, 64), 0.6)]:
        ctf = o.ctf(shape, px)
        lam, cs = electron_wavelength(o.voltage_kv), o.cs_mm * 1e7  # the formula before the speed-up, on every point
        ky, kx = np.fft.fftfreq(shape[0], d=px)[:, None], np.fft.fftfreq(shape[1], d=px)[None, :]
        q = np.sqrt(ky**2 + kx**2)
        chi = np.pi * lam * o.defocus * q**2 + 0.5 * np.pi * cs * lam**3 * q**4
        e_s = np.exp(-((np.pi * o.convergence_mrad * 1e-3 / lam) ** 2) * (cs * lam**3 * q**3 + o.defocus * lam * q) ** 2)
        e_t = np.exp(-0.5 * np.pi**2 * lam**2 * o.focal_spread**2 * q**4)
        np.testing.assert_array_equal(ctf, (q <= o.aperture) * e_s * e_t * np.exp(-1j * chi))
        assert o.ctf(shape, px) is ctf and not ctf.flags.writeable  # remembered, and nobody may change it


@pytest.mark.parametrize("ny, nx, n", [(40, 36, 2), (29, 31, 3), (16, 20, 4)])
def test_subsampled_inverse_fft_is_the_full_one_subsampled(ny, nx, n):
    from napari_lowdose.core.simulate.atomic import irfft2_every

    rng = np.random.default_rng(n)
    grid = (ny * n, nx * n)
    spectrum = np.fft.rfft2(rng.standard_normal(grid)) * (1 + 0.3j * rng.standard_normal((grid[0], grid[1] // 2 + 1)))
    np.testing.assert_allclose(irfft2_every(spectrum, grid, n), np.fft.irfft2(spectrum, s=grid)[::n, ::n], rtol=0, atol=1e-13)


def test_probe_transfer_on_a_grid_matches_pointwise_interpolation():
    probe = STEMProbe(voltage_kv=80.0, convergence_mrad=21.0, defocus=12.0, cs_mm=0.002, astigmatism=9.0, astigmatism_angle=30.0, coma=120.0, coma_angle=200.0)
    ky, kx = frequencies((90, 120), 0.11)
    grid = probe.transfer(ky, kx)  # separable path
    points = probe.transfer(*np.broadcast_arrays(ky, kx))  # pointwise path (the implementation before)
    assert grid.shape == points.shape == (90, 61)
    np.testing.assert_allclose(grid, points, rtol=0, atol=1e-14)
    assert abs(grid[0, 0] - 1.0) < 1e-9 and np.abs(grid.imag).max() > 1e-4  # coma: asymmetric probe


def _hrtem_double(specimen: Specimen, pixel_size: float, shape: tuple[int, int], optics: HRTEMOptics, ms: Multislice) -> np.ndarray:
    """render_hrtem as it was before single precision: complex128 throughout, a complex exponential."""
    from napari_lowdose.core.simulate.atomic import oversampling
    from napari_lowdose.core.simulate.optics import interaction_parameter

    n = oversampling("hrtem", pixel_size, shape, None, optics)
    s, grid = pixel_size / n, (shape[0] * n, shape[1] * n)
    lam, sigma = electron_wavelength(optics.voltage_kv), interaction_parameter(optics.voltage_kv)
    ky, kx = np.fft.fftfreq(grid[0], d=s)[:, None], np.fft.fftfreq(grid[1], d=s)[None, :]
    band = ky**2 + kx**2 < (2.0 / 3.0 * 0.5 / s) ** 2
    z = specimen.positions[:, 2]
    nslices = max(1, int(np.ceil((specimen.thickness + 1e-6) / ms.slice_thickness)))
    dz = max(specimen.thickness, 1e-6) / nslices
    index = np.minimum(((z - z.min()) / dz).astype(int), nslices - 1)
    propagator = np.exp(-1j * np.pi * lam * dz * (ky**2 + kx**2)) * band
    wave, yx = np.ones(grid, np.complex128), specimen.positions[:, [1, 0]]
    for i in range(nslices):
        sel = index == i
        if sel.any():
            v = np.fft.irfft2(projected_potential_ft(specimen.symbols[sel], yx[sel], grid, s, ms.thermal_sigma), s=grid)
            wave = wave * np.exp((1j - ms.absorption) * sigma * v)
        wave = np.fft.fft2(wave) * (band if i == nslices - 1 else propagator)
        if i < nslices - 1:
            wave = np.fft.ifft2(wave)
    image = np.abs(np.fft.ifft2(wave * optics.ctf(grid, s))) ** 2
    return image.reshape(shape[0], n, shape[1], n).mean(axis=(1, 3))


@pytest.mark.parametrize("structure, pixel_size, absorption", [("SrTiO3", 0.3, 0.05), ("Au", 0.45, 0.0)])
def test_single_precision_multislice_matches_double(structure, pixel_size, absorption):
    from napari_lowdose.core.simulate.atomic import render_hrtem
    from napari_lowdose.core.simulate.scene import AtomicScene

    scene = AtomicScene(structure=structure, modality="hrtem", shape=(40, 48), pixel_size=pixel_size, thickness=45.0, zone=(1, 1, 0), tilt_mrad=5.0)
    spec = build_specimen(scene, np.random.default_rng(2), margin=0.0)
    # the static, damped model both ways (gold's 45 Å [110] columns would otherwise get frozen phonons)
    ms = Multislice(slice_thickness=10.0, absorption=absorption, thermal_sigma=0.08, strong_column=np.inf)
    single, double = render_hrtem(spec, pixel_size, scene.shape, scene.optics, ms), _hrtem_double(spec, pixel_size, scene.shape, scene.optics, ms)
    assert single.dtype == np.float32 and double.std() > 0.05  # a contrasty image
    assert np.abs(single - double).max() < 1e-4 * double.std()


def test_padding_gives_fast_grids_at_the_same_sampling_filled_by_the_specimen():
    from napari_lowdose.core.simulate.atomic import oversampling
    from napari_lowdose.core.simulate.scene import MARGIN, fast_size, padding

    assert [n for n in range(1, 60) if fast_size(n)] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 15, 16, 18, 20, 21, 24, 25, 27, 28, 30, 32, 35, 36, 40, 42, 45, 48, 49, 50, 54, 56]
    for modality in ("haadf", "hrtem"):
        rng = np.random.default_rng(4)
        for _ in range(40):
            scene = SimDistribution(atomic_fraction=1.0)._sample_atomic(rng, 256, modality)[0]
            px, pad = scene.pixel_size, padding(scene)
            pad0 = int(np.ceil(MARGIN / px - 1e-6))
            big = (256 + 2 * pad, 256 + 2 * pad)
            n = oversampling(modality, px, big, scene.probe, scene.optics)
            assert pad0 <= pad <= pad0 + 64 and n == oversampling(modality, px, (256 + 2 * pad0,) * 2, scene.probe, scene.optics)
            assert fast_size(big[0]) and fast_size(big[0] * n)
            assert padding(scene, pad * px) == pad  # a specimen built with the default margin is rendered with it
    spec = build_specimen(scene, np.random.default_rng(0))
    assert spec.field == pytest.approx((big[0] * px, big[1] * px))  # no vacuum between the specimen and its copies


def test_support_from_turned_blocks_is_the_per_block_rotation():
    from napari_lowdose.core.simulate.specimen import BLOCK, CUBE_OPS, amorphous_block, support

    def before(rng, field, thickness, kind, margin):  # support as it was: each block rotated when placed
        ly, lx = field
        sym0, pos0 = amorphous_block(kind, int(rng.integers(4)))
        syms, poss = [], []
        for iz in range(int(np.ceil(thickness / BLOCK))):
            for iy in range(int(np.floor(-margin / BLOCK)), int(np.ceil((ly + margin) / BLOCK))):
                for ix in range(int(np.floor(-margin / BLOCK)), int(np.ceil((lx + margin) / BLOCK))):
                    op = CUBE_OPS[rng.integers(len(CUBE_OPS))]
                    q = ((pos0 - BLOCK / 2) @ op.T + BLOCK / 2 + rng.uniform(0, BLOCK, 3)) % BLOCK + np.array([ix, iy, iz]) * BLOCK
                    keep = (q[:, 2] < thickness) & (q[:, 0] >= -margin) & (q[:, 0] < lx + margin) & (q[:, 1] >= -margin) & (q[:, 1] < ly + margin)
                    syms.append(sym0[keep])
                    poss.append(q[keep])
        return np.concatenate(syms), np.concatenate(poss)

    for k, args in enumerate([((50.0, 70.0), 30.0, "C", 6.0), ((60.0, 45.0), 55.0, "SiN", 9.3)]):
        (sym, pos), (sym0, pos0) = support(np.random.default_rng(k), *args), before(np.random.default_rng(k), *args)
        assert len(sym) > 1000 and np.array_equal(sym, sym0) and np.array_equal(pos, pos0)


if __name__ == "__main__" and "--write" in sys.argv:
    out = {"scenes": {f"{m}-{s}-{n}": fingerprint(m, s, n) for m, s, n in CASES}, "potential": potential_fingerprint()}
    REFERENCE.parent.mkdir(exist_ok=True)
    REFERENCE.write_text(json.dumps(out, indent=1))
    print(f"wrote {REFERENCE}")
