"""Benchmark scenes for the abTEM reference images (pure ASE + numpy).

Runs in the abTEM venv (benchmarks/abtem/.venv) and in the project venv; it never
imports abTEM.  Each scene is written as ``<name>.extxyz`` (orthogonal cell, beam
along +z entering at z = 0, lateral cell exactly ``shape * pixel_size``) and
``<name>.json`` (every imaging parameter; field names shared with the project's
own simulator).

Conventions (also written into every JSON under "conventions"):

* image axis order (y, x); pixel (i, j) is the probe position / image point at
  y = i * pixel_size, x = j * pixel_size (Å) in the cell frame; x = cell a axis,
  y = cell b axis.  The image is periodic over the cell.
* lengths in Å, angles in mrad, voltage in kV, Cs in mm.
* defocus: negative = underfocus (C10 = defocus), measured from the entrance
  surface z = 0 of the cell.
* thermal_sigma: rms displacement per Cartesian axis (Å), used by frozen phonons.

Two sets: ``fidelity`` (small periodic zone-axis crystals) and ``validation``
(images for scoring denoisers; never train on them).

    python benchmarks/abtem/scenes.py --out benchmarks/abtem/data/scenes
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk, mx2
from ase.cluster import Decahedron, Icosahedron, Octahedron
from ase.io import write
from ase.spacegroup import crystal

CONVENTIONS = {
    "axes": "image axis order (y, x); pixel (i, j) is at y = i*pixel_size, x = j*pixel_size (Å); x = cell a, y = cell b",
    "beam": "along +z, entering the cell at z = 0; the lateral cell is exactly shape*pixel_size and periodic",
    "defocus": "Å, negative = underfocus (C10 = defocus), relative to the entrance surface z = 0",
    "cs_mm": "third-order spherical aberration C30 in mm",
    "thermal_sigma": "Å rms displacement per Cartesian axis (x, y and z), frozen phonons",
    "haadf.image": "fraction of the incident electrons that reach the annular detector (inner_mrad..outer_mrad)",
    "haadf.source_size": "Å rms of a Gaussian (per axis) that blurs the final image (incoherent source size)",
    "hrtem.image": "intensity relative to the incident plane wave (vacuum = 1)",
    "hrtem.aperture": "objective aperture cutoff as a spatial frequency, Å^-1 (angle = aperture * wavelength)",
    "hrtem.convergence_mrad": "semi-angle alpha_s of illumination in the quasi-coherent spatial envelope "
    "exp(-(pi*alpha_s/lambda)^2 * |grad_k chi/(2*pi)|^2) with chi in rad and k in 1/Å, i.e. "
    "exp(-(alpha_s/2)^2 |grad_theta chi|^2) (Kirkland 2010 ch. 3; abTEM CTF angular_spread)",
    "hrtem.focal_spread": "Å rms (standard deviation) of the Gaussian defocus distribution; temporal "
    "envelope exp(-0.5*(pi*lambda*focal_spread*k^2)^2)",
    "lateral_repeats": "optional [ry, rx]: the structure before thermal displacement is periodic with "
    "period cell_b/ry, cell_a/rx (a simulator may compute one period and tile it)",
    "group": "scenes with the same group differ only in thickness (their structures are the "
    "first layers of the thickest one's)",
}

# ---------------------------------------------------------------- imaging defaults
HAADF_PROBE = {"voltage_kv": 200.0, "convergence_mrad": 20.0, "defocus": 0.0, "cs_mm": 0.0,
               "source_size": 0.3}
HAADF_DETECTOR = {"inner_mrad": 70.0, "outer_mrad": 160.0}
HRTEM_OPTICS = {"voltage_kv": 200.0, "defocus": -60.0, "cs_mm": 0.01, "aperture": 0.8,
                "convergence_mrad": 0.2, "focal_spread": 20.0}


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _ortho(atoms: Atoms) -> Atoms:
    """Orthogonal cell check: the cell must be diagonal."""
    cell = np.asarray(atoms.cell)
    if np.abs(cell - np.diag(np.diag(cell))).max() > 1e-6:
        raise ValueError("cell is not orthogonal")
    atoms.pbc = True
    return atoms


def _rotate_to_z(atoms: Atoms, a_vec, b_vec) -> Atoms:
    """Orthogonal cell with lateral axes along the given lattice directions of a cubic-like cell.

    ``a_vec``/``b_vec`` index the rows of the (orthogonal) input cell expressed as the new
    x and y axes; the third axis becomes z.
    """
    order = [a_vec, b_vec, 3 - a_vec - b_vec]
    cell = np.diag(atoms.cell.lengths()[order])
    pos = atoms.positions[:, order]
    out = Atoms(atoms.get_chemical_symbols(), positions=pos, cell=cell, pbc=True)
    out.wrap()
    return out


# ------------------------------------------------------------------ zone-axis units
def unit_srtio3_001() -> Atoms:
    return _ortho(crystal(["Sr", "Ti", "O"], basis=[(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0)],
                          spacegroup=221, cellpar=[3.905, 3.905, 3.905, 90, 90, 90]))


def unit_ceo2_001() -> Atoms:
    return _ortho(crystal(["Ce", "O"], basis=[(0, 0, 0), (0.25, 0.25, 0.25)], spacegroup=225,
                          cellpar=[5.411, 5.411, 5.411, 90, 90, 90]))


def _cubic_110(atoms: Atoms) -> Atoms:
    """Orthogonal cell of a cubic crystal with the beam along [110]: x=[1-10]/√2 a, y=[001] a, z=[110]/√2 a."""
    a = atoms.cell.lengths()[0]
    # Build a 2x2x1 block and re-express in the rotated frame (45° about z).
    big = atoms.repeat((2, 2, 1))
    r = np.array([[1, -1, 0], [0, 0, 1], [1, 1, 0]], float)
    r /= np.linalg.norm(r, axis=1)[:, None]
    pos = big.positions @ r.T
    cell = np.array([a / math.sqrt(2), a, a / math.sqrt(2)])
    pos = np.mod(pos, cell)
    # remove duplicates produced by the oversampled block
    key = np.round(pos / 0.01).astype(np.int64)
    key = np.mod(key, np.round(cell / 0.01).astype(np.int64))
    _, idx = np.unique(key, axis=0, return_index=True)
    out = Atoms([big.get_chemical_symbols()[i] for i in sorted(idx)], positions=pos[sorted(idx)],
                cell=np.diag(cell), pbc=True)
    n_expected = len(atoms) // 2
    if len(out) != n_expected:
        raise RuntimeError(f"[110] cell has {len(out)} atoms, expected {n_expected}")
    return out


def unit_si_110() -> Atoms:
    return _cubic_110(bulk("Si", "diamond", a=5.431, cubic=True))


def unit_au_001() -> Atoms:
    return _ortho(bulk("Au", "fcc", a=4.078, cubic=True))


def unit_gan_11m20() -> Atoms:
    """Wurtzite GaN with the beam along [11-20]: x = [1-100] (a√3), y = c, z = a."""
    gan = bulk("GaN", "wurtzite", a=3.189, c=5.185, orthorhombic=True)
    # orthorhombic=True gives x = a, y = a√3, z = c; put a along the beam.
    return _rotate_to_z(gan, 1, 2)


def unit_mos2() -> Atoms:
    """MoS2 monolayer (2H), orthogonal cell x = a, y = a√3, 12 Å along z."""
    m = mx2("MoS2", kind="2H", a=3.18, thickness=3.19, vacuum=None)
    a = 3.18
    m = m.repeat((1, 2, 1))
    cell = np.array([a, a * math.sqrt(3), 12.0])
    pos = m.positions.copy()
    pos[:, 2] += 6.0 - pos[:, 2].mean()
    # hexagonal -> orthogonal: the 1x2 hexagonal block holds the rectangular cell's atoms
    pos[:, :2] = np.mod(pos[:, :2], cell[:2])
    key = np.round(pos / 0.01).astype(np.int64)
    _, idx = np.unique(key, axis=0, return_index=True)
    out = Atoms([m.get_chemical_symbols()[i] for i in sorted(idx)], positions=pos[sorted(idx)],
                cell=np.diag(cell), pbc=True)
    if len(out) != 6:
        raise RuntimeError(f"MoS2 rectangular cell has {len(out)} atoms, expected 6")
    return out


UNITS = {"srtio3_001": unit_srtio3_001, "si_110": unit_si_110, "gan_11-20": unit_gan_11m20,
         "au_001": unit_au_001, "mos2_001": unit_mos2, "ceo2_001": unit_ceo2_001}


# -------------------------------------------------------------------- builders
def slab(unit: Atoms, reps_xy: tuple[int, int], thickness: float) -> tuple[Atoms, int]:
    """Repeat ``unit`` laterally (rx, ry) and along z to the nearest whole period at ``thickness``."""
    cz = unit.cell.lengths()[2]
    nz = max(1, int(round(thickness / cz)))
    atoms = unit.repeat((reps_xy[0], reps_xy[1], nz))
    return atoms, nz


def amorphous_carbon(lx: float, ly: float, lz: float, rng: np.random.Generator,
                     density: float = 2.0, dmin: float = 1.4) -> Atoms:
    """Random packing of C atoms at ``density`` g/cm^3 with a minimum C-C distance ``dmin`` Å.

    Laterally periodic (x, y); z in [0, lz).  Random sequential addition in batches with a
    cell-list conflict check (numpy only).
    """
    n_target = int(round(density / 12.011 * 6.02214076e23 * 1e-24 * lx * ly * lz))
    box = np.array([lx, ly, lz])
    ncell = np.maximum(1, np.floor(box / dmin).astype(int))
    csize = box / ncell
    pts = np.zeros((0, 3))
    grid: dict[tuple[int, int, int], list[int]] = {}
    offsets = [(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)]
    tries = 0
    while len(pts) < n_target:
        tries += 1
        if tries > 200:
            raise RuntimeError("amorphous carbon packing did not converge")
        cand = rng.random((max(64, (n_target - len(pts)) * 2), 3)) * box
        accepted = []
        for p in cand:
            c = tuple(np.floor(p / csize).astype(int) % ncell)
            ok = True
            for o in offsets:
                cz = c[2] + o[2]
                if cz < 0 or cz >= ncell[2]:
                    continue
                key = ((c[0] + o[0]) % ncell[0], (c[1] + o[1]) % ncell[1], cz)
                for idx in grid.get(key, ()):
                    d = p - (pts[idx] if idx < len(pts) else accepted[idx - len(pts)])
                    d[:2] -= box[:2] * np.round(d[:2] / box[:2])
                    if d @ d < dmin * dmin:
                        ok = False
                        break
                if not ok:
                    break
            if ok:
                grid.setdefault(c, []).append(len(pts) + len(accepted))
                accepted.append(p)
                if len(pts) + len(accepted) >= n_target:
                    break
        if accepted:
            pts = np.vstack([pts, np.array(accepted)])
    return Atoms(["C"] * len(pts), positions=pts, cell=np.diag(box), pbc=[True, True, False])


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    a, b, c, d = q
    return np.array([[a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
                     [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
                     [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d]])


def particle(kind: str, element: str, size: int, rng: np.random.Generator) -> Atoms:
    if kind == "octahedron":
        p = Octahedron(element, length=size, cutoff=max(1, (size - 1) // 4))
    elif kind == "decahedron":
        p = Decahedron(element, p=size, q=2, r=1)
    elif kind == "icosahedron":
        p = Icosahedron(element, noshells=size)
    elif kind == "cuboctahedron":
        p = Octahedron(element, length=size, cutoff=(size - 1) // 2)
    else:
        raise ValueError(f"unknown particle kind {kind}")
    pos = p.positions - p.positions.mean(axis=0)
    pos = pos @ random_rotation(rng).T
    return Atoms(p.get_chemical_symbols(), positions=pos)


def particles_on_carbon(lx: float, ly: float, specs: list[tuple[str, str, int, float, float]],
                        carbon_thickness: float, rng: np.random.Generator,
                        margin: float = 1.0) -> Atoms:
    """Particles (kind, element, size, x, y) above an amorphous carbon film (beam enters the particles first)."""
    parts = []
    zmax = 0.0
    for kind, el, size, x, y in specs:
        p = particle(kind, el, size, rng)
        p.positions[:, 0] += x
        p.positions[:, 1] += y
        p.positions[:, 2] -= p.positions[:, 2].min()
        zmax = max(zmax, p.positions[:, 2].max())
        parts.append(p)
    z_carbon = margin + zmax + 2.0
    lz = z_carbon + carbon_thickness + margin
    carbon = amorphous_carbon(lx, ly, carbon_thickness, rng)
    carbon.positions[:, 2] += z_carbon
    atoms = Atoms(cell=np.diag([lx, ly, lz]), pbc=True)
    for p in parts:
        p.positions[:, 2] += margin
        atoms += p
    atoms += carbon
    atoms.wrap()
    return atoms


def shear_tilt(atoms: Atoms, tilt_mrad: tuple[float, float]) -> Atoms:
    """Small crystal tilt as a shear x += z*tan(tx), y += z*tan(ty): keeps the lateral periodicity."""
    atoms = atoms.copy()
    atoms.positions[:, 0] += atoms.positions[:, 2] * math.tan(tilt_mrad[0] * 1e-3)
    atoms.positions[:, 1] += atoms.positions[:, 2] * math.tan(tilt_mrad[1] * 1e-3)
    atoms.wrap()
    return atoms


def vacancies(atoms: Atoms, element: str, fraction: float, rng: np.random.Generator) -> Atoms:
    idx = np.flatnonzero(np.array(atoms.get_chemical_symbols()) == element)
    drop = rng.choice(idx, size=int(round(fraction * len(idx))), replace=False)
    keep = np.setdiff1d(np.arange(len(atoms)), drop)
    return atoms[keep]


# ------------------------------------------------------------------- scene lists
def _scene(name, modality, atoms, shape, description, seed, thermal_sigma=0.08, frozen_phonons=4,
           optics=None, **extra):
    lx, ly, lz = atoms.cell.lengths()
    ny, nx = shape
    px = lx / nx
    if abs(ly / ny - px) > 1e-9 * px:
        raise ValueError(f"{name}: pixel sizes differ in x and y ({px} vs {ly / ny})")
    meta = {"name": name, "modality": modality, "pixel_size": px, "shape": [ny, nx],
            "thickness": float(lz), "description": description, "seed": seed,
            "thermal_sigma": thermal_sigma, "frozen_phonons": frozen_phonons}
    if modality == "haadf":
        meta["probe"] = dict(HAADF_PROBE, **(optics or {}))
        meta["detector"] = dict(HAADF_DETECTOR)
    else:
        meta["optics"] = dict(HRTEM_OPTICS, **(optics or {}))
    meta.update(extra)
    meta["n_atoms"] = len(atoms)
    meta["conventions"] = CONVENTIONS
    return meta, atoms


# fidelity: the lateral supercell and pixel counts per crystal (equal pixel size in x and y)
FIDELITY = {
    # key: (lateral repeats (rx, ry), HAADF thicknesses nm, HRTEM thicknesses nm)
    "srtio3_001": ((4, 4), (2, 5, 10), (2, 5)),
    "si_110": ((4, 3), (2, 5), (2, 5)),
    "gan_11-20": ((3, 3), (2, 5), (2, 5)),
    "au_001": ((4, 4), (2, 5), (2, 5)),
    "mos2_001": ((5, 3), (None,), (None,)),
}


def _fid_shape(unit: Atoms, reps) -> tuple[int, int]:
    """Pixel counts (ny, nx): equal x/y pixel size within 0.3 % (after a tiny y strain), nearest 0.25 Å."""
    lx = unit.cell.lengths()[0] * reps[0]
    ly = unit.cell.lengths()[1] * reps[1]
    best = None
    for nx in range(40, 100):
        px = lx / nx
        ny = round(ly / px)
        err = abs(ly / ny - px) / px
        if 0.2 <= px <= 0.3 and err < 0.003:
            score = abs(px - 0.25)
            if best is None or score < best[0]:
                best = (score, ny, nx)
    if best is None:
        raise ValueError("no commensurate pixel size near 0.25 Å")
    return best[1], best[2]


def _make_commensurate(atoms: Atoms, shape) -> Atoms:
    """Scale the lateral cell (and positions) so that pixel_size is exactly equal in x and y.

    The strain applied is stored by the caller; it is below 0.3 % by construction.
    """
    ny, nx = shape
    lx, ly, lz = atoms.cell.lengths()
    px = lx / nx
    s = px * ny / ly
    atoms = atoms.copy()
    atoms.set_cell(np.diag([lx, ly * s, lz]), scale_atoms=True)
    return atoms


def fidelity_scenes(seed: int = 1):
    out = []
    for key, (reps, t_haadf, t_hrtem) in FIDELITY.items():
        unit = UNITS[key]()
        shape = _fid_shape(unit, reps)
        period = unit.cell.lengths()[2]
        for modality, thicknesses in (("haadf", t_haadf), ("hrtem", t_hrtem)):
            for t_nm in thicknesses:
                if t_nm is None:  # monolayer
                    atoms = unit.repeat((reps[0], reps[1], 1))
                    tag = "1L"
                else:
                    atoms, nz = slab(unit, reps, t_nm * 10.0)
                    tag = f"{t_nm:02d}nm"
                raw_ly = atoms.cell.lengths()[1]
                atoms = _make_commensurate(atoms, shape)
                strain = atoms.cell.lengths()[1] / raw_ly - 1.0
                name = f"fid_{key}_{modality}_{tag}"
                desc = (f"{key.replace('_', ' [')}] zone axis, {reps[0]}x{reps[1]} lateral repeats, "
                        f"{atoms.cell.lengths()[2] / 10:.2f} nm thick")
                meta, atoms = _scene(name, modality, atoms, shape, desc, seed,
                                     frozen_phonons=2 if modality == "haadf" else 8,
                                     lateral_repeats=[reps[1], reps[0]], z_period=float(period),
                                     group=f"fid_{key}_{modality}", y_strain=float(strain),
                                     set="fidelity")
                out.append((meta, atoms))
    return out


def validation_scenes(seed: int = 1000):
    out = []
    # (i) atomic-resolution HAADF: nanoparticles on amorphous carbon
    np_specs = [("octahedron", "Au", 7), ("decahedron", "Pt", 3), ("icosahedron", "Pd", 4),
                ("cuboctahedron", "Au", 8)]
    for k, (kind, el, size) in enumerate(np_specs):
        s = seed + k
        rng = _rng(s)
        n = 128
        px = 0.22
        L = n * px
        atoms = particles_on_carbon(L, L, [(kind, el, size, L / 2 + rng.uniform(-2, 2),
                                            L / 2 + rng.uniform(-2, 2))], 25.0, rng)
        defocus = float(rng.choice([0.0, -20.0, 20.0]))
        meta, atoms = _scene(f"val_haadf_np{k}_{el.lower()}_{kind}", "haadf", atoms, (n, n),
                             f"{el} {kind} (size {size}, random orientation) on 2.5 nm amorphous C "
                             f"(2.0 g/cm^3, C-C >= 1.4 Å)", s, frozen_phonons=1,
                             optics={"defocus": defocus, "cs_mm": 0.001}, set="validation")
        out.append((meta, atoms))
    # (ii) atomic-resolution HAADF: crystals with tilt and vacancies
    xt = [("srtio3_001", (7, 7), "Sr", 0.05, (2.0, -1.0)),
          ("ceo2_001", (5, 5), "Ce", 0.04, (-1.5, 1.0)),
          ("si_110", (7, 5), "Si", 0.03, (1.0, 2.0)),
          ("gan_11-20", (5, 5), "Ga", 0.04, (0.0, 2.0))]
    for k, (key, reps, vac_el, frac, tilt) in enumerate(xt):
        s = seed + 10 + k
        rng = _rng(s)
        unit = UNITS[key]()
        atoms, _ = slab(unit, reps, 40.0)
        shape = (128, 128)
        atoms = _make_commensurate(atoms, (round(128 * atoms.cell.lengths()[1] / atoms.cell.lengths()[0]), 128))
        shape = (round(128 * atoms.cell.lengths()[1] / atoms.cell.lengths()[0]), 128)
        atoms = vacancies(atoms, vac_el, frac, rng)
        atoms = shear_tilt(atoms, tilt)
        meta, atoms = _scene(f"val_haadf_xtal{k}_{key}", "haadf", atoms, shape,
                             f"{key} zone axis, {frac * 100:.0f} % {vac_el} vacancies, tilt "
                             f"({tilt[0]}, {tilt[1]}) mrad about (y, x) as a shear", s,
                             frozen_phonons=1, optics={"defocus": float(rng.choice([0.0, -20.0])),
                                                       "cs_mm": 0.001}, set="validation")
        out.append((meta, atoms))
    # (iii) particle-scale HAADF: several small particles on carbon, coarse pixels
    # (a 1.0 Å/px, 128x128 scene was dropped: ~600 s of abTEM on this machine did not fit)
    for k, (px, n_part) in enumerate([(0.75, 4)]):
        s = seed + 20 + k
        rng = _rng(s)
        n = 128
        L = n * px
        specs = []
        kinds = [("octahedron", "Au", 9), ("icosahedron", "Pt", 5), ("decahedron", "Pd", 4),
                 ("cuboctahedron", "Au", 10), ("icosahedron", "Au", 4)]
        placed = []
        while len(specs) < n_part:
            x, y = rng.uniform(10, L - 10, size=2)
            if all(math.hypot(x - a, y - b) > 25 for a, b in placed):
                placed.append((x, y))
                specs.append(kinds[len(specs) % len(kinds)] + (x, y))
        atoms = particles_on_carbon(L, L, specs, 20.0, rng)
        meta, atoms = _scene(f"val_haadf_ps{k}_particles", "haadf", atoms, (n, n),
                             f"{n_part} small metal particles on 2 nm amorphous C, particle scale", s,
                             frozen_phonons=1, optics={"cs_mm": 0.001, "convergence_mrad": 10.0},
                             set="validation")
        out.append((meta, atoms))
    # (iv) HRTEM: particles on amorphous carbon
    hr = [("octahedron", "Au", 9, -60.0), ("decahedron", "Pt", 4, -100.0),
          ("icosahedron", "Pd", 6, -40.0), ("cuboctahedron", "Au", 11, 60.0)]
    for k, (kind, el, size, df) in enumerate(hr):
        s = seed + 30 + k
        rng = _rng(s)
        n = 256
        px = 0.16
        L = n * px
        atoms = particles_on_carbon(L, L, [(kind, el, size, L / 2 + rng.uniform(-3, 3),
                                            L / 2 + rng.uniform(-3, 3))], 30.0, rng)
        meta, atoms = _scene(f"val_hrtem_np{k}_{el.lower()}_{kind}", "hrtem", atoms, (n, n),
                             f"{el} {kind} (size {size}, random orientation) on 3 nm amorphous C", s,
                             frozen_phonons=8, optics={"defocus": df}, set="validation")
        out.append((meta, atoms))
    return out


def write_scene(meta: dict, atoms: Atoms, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write(out / f"{meta['name']}.extxyz", atoms)
    (out / f"{meta['name']}.json").write_text(json.dumps(meta, indent=1) + "\n")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "data" / "scenes")
    ap.add_argument("--set", choices=["fidelity", "validation", "all"], default="all")
    args = ap.parse_args(argv)
    scenes = []
    if args.set in ("fidelity", "all"):
        scenes += fidelity_scenes()
    if args.set in ("validation", "all"):
        scenes += validation_scenes()
    for meta, atoms in scenes:
        write_scene(meta, atoms, args.out)
        print(f"{meta['name']}: {meta['modality']} {meta['shape']} px {meta['pixel_size']:.4f} Å "
              f"t {meta['thickness']:.1f} Å, {len(atoms)} atoms")


if __name__ == "__main__":
    main()
