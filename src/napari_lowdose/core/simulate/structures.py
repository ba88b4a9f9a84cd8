"""Crystal structures by name (built with ASE), oriented along a zone axis and cut to a specimen box.

A :class:`Crystal` is a conventional cell (three lattice vectors in Å, as rows) with its atoms. The
beam runs along +z of the specimen frame; :func:`orient` gives the rotation that puts a zone axis
``[u v w]`` (in the conventional cell's lattice vectors: hexagonal cells use three indices, so
[0001] is [0 0 1], [11-20] is [1 1 0] and [2-1-10] is [1 0 0]) along z, turns the crystal in the
plane and tilts it by a small angle. :func:`fill_box` returns every atom of the oriented crystal inside
a box ``[0, Ly) x [0, Lx) x [0, thickness)`` (Å).

Names: fcc metals Au Pt Pd Ag Cu; perovskites SrTiO3 BaTiO3; fluorite CeO2; rock salt MgO NaCl;
wurtzite GaN ZnO; diamond Si Ge; 2-D sheets MoS2 (2H), graphene (AB), hBN (AA'); any file that
``ase.io.read`` reads (CIF, XYZ, POSCAR, ...) through :func:`crystal_from_file`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import LowdoseError


@dataclass(frozen=True)
class Crystal:
    """A conventional cell: ``cell`` (3, 3) lattice vectors in Å as rows, ``symbols`` (n,) and
    ``fractional`` (n, 3) positions of its atoms; ``layered`` for 2-D sheets (c = one layer)."""

    name: str
    cell: np.ndarray
    symbols: tuple[str, ...]
    fractional: np.ndarray
    layered: bool = False

    @property
    def volume_density(self) -> float:
        """Atoms per Å³."""
        return len(self.symbols) / abs(float(np.linalg.det(self.cell)))


def _from_ase(name: str, atoms, layered: bool = False) -> Crystal:
    return Crystal(name, np.asarray(atoms.cell.array, float), tuple(atoms.get_chemical_symbols()), np.asarray(atoms.get_scaled_positions(wrap=True)), layered)


def _sheet(name: str, a: float, spacing: float, layer: list[tuple[str, float, float, float]], stacking: str) -> Crystal:
    """A hexagonal sheet with two layers per cell (c = 2 x spacing) so that the stacking repeats:
    ``layer`` holds (symbol, fractional a, fractional b, z in Å); the second layer is shifted ("AB") or
    inverted through the axis ("AA'", 2H)."""
    cell = np.array([[a, 0, 0], [-a / 2, a * 3**0.5 / 2, 0], [0, 0, 2 * spacing]])
    sym, frac = [], []
    for n in (0, 1):
        for s, fa, fb, z in layer:
            if n and stacking == "AB":
                fa, fb = fa + 1 / 3, fb + 2 / 3
            elif n:
                fa, fb = -fa, -fb
            sym.append(s)
            frac.append(((fa) % 1.0, (fb) % 1.0, (z + n * spacing) / (2 * spacing) + 0.25))
    return Crystal(name, cell, tuple(sym), np.array(frac), layered=True)


def _builders() -> dict:
    from ase.build import bulk
    from ase.spacegroup import crystal

    def perovskite(a_site: str, b_site: str, a: float):
        return lambda: _from_ase(
            f"{a_site}{b_site}O3",
            crystal([a_site, b_site, "O"], basis=[(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0)], spacegroup=221, cellpar=[a, a, a, 90, 90, 90]),
        )

    fcc = {el: (lambda el=el: _from_ase(el, bulk(el, "fcc", cubic=True))) for el in ("Au", "Pt", "Pd", "Ag", "Cu", "Al", "Ni")}
    return {
        **fcc,
        "SrTiO3": perovskite("Sr", "Ti", 3.905),
        "BaTiO3": perovskite("Ba", "Ti", 4.000),
        "CeO2": lambda: _from_ase("CeO2", crystal(["Ce", "O"], basis=[(0, 0, 0), (0.25, 0.25, 0.25)], spacegroup=225, cellpar=[5.411] * 3 + [90] * 3)),
        "MgO": lambda: _from_ase("MgO", bulk("MgO", "rocksalt", a=4.212, cubic=True)),
        "NaCl": lambda: _from_ase("NaCl", bulk("NaCl", "rocksalt", a=5.640, cubic=True)),
        "GaN": lambda: _from_ase("GaN", bulk("GaN", "wurtzite", a=3.189, c=5.185)),
        "ZnO": lambda: _from_ase("ZnO", bulk("ZnO", "wurtzite", a=3.250, c=5.207)),
        "Si": lambda: _from_ase("Si", bulk("Si", "diamond", a=5.431, cubic=True)),
        "Ge": lambda: _from_ase("Ge", bulk("Ge", "diamond", a=5.658, cubic=True)),
        "MoS2": lambda: _sheet("MoS2", 3.16, 6.15, [("Mo", 0, 0, 0.0), ("S", 2 / 3, 1 / 3, 1.59), ("S", 2 / 3, 1 / 3, -1.59)], "AA'"),
        "graphene": lambda: _sheet("graphene", 2.46, 3.35, [("C", 0, 0, 0.0), ("C", 2 / 3, 1 / 3, 0.0)], "AB"),
        "hBN": lambda: _sheet("hBN", 2.504, 3.33, [("B", 0, 0, 0.0), ("N", 2 / 3, 1 / 3, 0.0)], "AA'"),
    }


STRUCTURES = ("Au", "Pt", "Pd", "Ag", "Cu", "Al", "Ni", "SrTiO3", "BaTiO3", "CeO2", "MgO", "NaCl", "GaN", "ZnO", "Si", "Ge", "MoS2", "graphene", "hBN")


def crystal(name: str) -> Crystal:
    """The conventional cell of a named structure (see :data:`STRUCTURES`; case-insensitive)."""
    lookup = {s.lower(): s for s in STRUCTURES}
    key = lookup.get(str(name).lower())
    if key is None:
        raise LowdoseError(f"unknown structure {name!r}: give one of {', '.join(STRUCTURES)} or a structure file (CIF, XYZ, POSCAR)")
    return _named_crystal(key)


@lru_cache(maxsize=None)
def _named_crystal(key: str) -> Crystal:
    """Built once per name (ASE takes milliseconds); its arrays are read-only, as it is shared."""
    cr = _builders()[key]()
    cr.cell.setflags(write=False)
    cr.fractional.setflags(write=False)
    return cr


def crystal_from_file(path: str | Path) -> Crystal:
    """A structure file that ASE reads; it must have a 3-D periodic cell (a crystal)."""
    import ase.io

    path = Path(path)
    try:
        atoms = ase.io.read(str(path))
    except Exception as exc:  # ASE raises many kinds for unreadable files
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LowdoseError(f"{path.name}: ASE cannot read this structure file ({detail})") from None
    if len(atoms) == 0:
        raise LowdoseError(f"{path.name}: the structure file holds no atoms")
    if abs(float(np.linalg.det(atoms.cell.array))) < 1e-6:
        raise LowdoseError(f"{path.name}: the structure has no 3-D cell (a crystal needs its lattice vectors)")
    return _from_ase(path.stem, atoms)


def resolve(structure: str | Path) -> Crystal:
    """A name from :data:`STRUCTURES` or the path of a structure file."""
    if str(structure).lower() in {s.lower() for s in STRUCTURES}:
        return crystal(str(structure))
    p = Path(structure)
    if p.suffix and p.exists():
        return crystal_from_file(p)
    if p.suffix:
        raise LowdoseError(f"{p}: no such structure file")
    return crystal(str(structure))


def _rotation_to_z(d: np.ndarray) -> np.ndarray:
    """The rotation matrix that turns the unit vector ``d`` onto +z (Rodrigues)."""
    d = d / np.linalg.norm(d)
    z = np.array([0.0, 0.0, 1.0])
    v = np.cross(d, z)
    s, c = np.linalg.norm(v), float(d @ z)
    if s < 1e-12:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx * ((1 - c) / s**2)


def axis_rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation by ``angle`` (rad) about ``axis``."""
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    vx = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * vx + (1 - np.cos(angle)) * vx @ vx


def orient(cr: Crystal, zone: tuple[float, float, float] = (0, 0, 1), in_plane_deg: float = 0.0, tilt_mrad: float = 0.0, tilt_azimuth_deg: float = 0.0) -> np.ndarray:
    """The (3, 3) rotation (applied as ``R @ r``) that puts ``zone`` (lattice-vector indices) along the
    beam (+z), then turns the crystal by ``in_plane_deg`` about the beam and tilts it by ``tilt_mrad``
    about the in-plane axis at ``tilt_azimuth_deg``."""
    zone = np.asarray(zone, float)
    if zone.shape != (3,) or not np.all(np.isfinite(zone)) or not np.any(zone):
        raise LowdoseError(f"the zone axis must be three numbers, not all zero, got {tuple(np.ravel(zone))}")
    d = zone @ cr.cell  # Cartesian direction of [u v w]
    r = _rotation_to_z(d)
    r = axis_rotation([0, 0, 1], np.deg2rad(in_plane_deg)) @ r
    if tilt_mrad:
        az = np.deg2rad(tilt_azimuth_deg)
        r = axis_rotation([np.cos(az), np.sin(az), 0.0], tilt_mrad * 1e-3) @ r
    return r


def fill_box(cr: Crystal, rotation: np.ndarray, box: tuple[float, float, float], origin: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every atom of the rotated crystal inside ``box`` = (Ly, Lx, thickness) Å: returns ``symbols`` (n,)
    and ``positions`` (n, 3) as (x, y, z) in Å. ``origin`` (Å, specimen frame) shifts the lattice."""
    ly, lx, lz = box
    if min(box) <= 0:
        raise LowdoseError(f"the specimen box must have positive size, got {box} Å")
    origin = np.zeros(3) if origin is None else np.asarray(origin, float)
    corners = np.array([[x, y, z] for x in (0, lx) for y in (0, ly) for z in (0, lz)]) - origin
    frac = corners @ rotation @ np.linalg.inv(cr.cell)  # r_crystal = R^T r, then fractional
    lo = np.floor(frac.min(0)).astype(int) - 1
    hi = np.ceil(frac.max(0)).astype(int) + 1
    n = np.prod(hi - lo) * len(cr.symbols)
    if n > 3e7:
        raise LowdoseError(f"the specimen box {box} Å would hold too many atoms ({n:.2g}); make it smaller")
    # cartesian = (cell origin + fractional offset of the basis atom) @ M + origin, M = cell R^T: the cell
    # origins and the basis are transformed apart and summed (float32 would round: float64 throughout)
    m = cr.cell @ rotation.T
    grid = _cell_origins(lo, hi, m, cr.fractional @ m, origin, (lx, ly, lz))
    cart = ((grid @ m)[:, None, :] + (cr.fractional @ m)[None] + origin).reshape(-1, 3)
    inside = (cart[:, 0] >= 0) & (cart[:, 0] < lx) & (cart[:, 1] >= 0) & (cart[:, 1] < ly) & (cart[:, 2] >= 0) & (cart[:, 2] < lz)
    keep = np.flatnonzero(inside)
    return np.asarray(cr.symbols)[keep % len(cr.symbols)], cart[keep]


def _cell_origins(lo: np.ndarray, hi: np.ndarray, m: np.ndarray, basis: np.ndarray, origin: np.ndarray, box: tuple[float, float, float]) -> np.ndarray:
    """The cells (i, j, k) (int, (n, 3), k fastest) of the block ``lo`` <= (i, j, k) < ``hi`` that can
    hold an atom inside the box [0, Lx) x [0, Ly) x [0, Lz): along each column (i, j) the range of k
    where some basis atom is inside each slab of the box, widened by one cell (a tilted box fills
    a fifth to a third of its bounding block: the rest is not generated)."""
    ij = np.stack(np.meshgrid(np.arange(lo[0], hi[0]), np.arange(lo[1], hi[1]), indexing="ij"), -1).reshape(-1, 2)
    base = ij @ m[:2] + origin  # where the column starts (k = 0), for the bounds only
    kmin, kmax = np.full(len(ij), float(lo[2])), np.full(len(ij), float(hi[2] - 1))
    for c, length in enumerate(box):
        step = m[2, c]
        if abs(step) < 1e-9 * float(np.abs(m[2]).max()):
            continue  # this slab does not bound k
        t0 = -(base[:, c][:, None] + basis[None, :, c]) / step  # k where each basis atom crosses 0 ...
        t1 = t0 + length / step  # ... and the slab's far side
        kmin = np.maximum(kmin, np.minimum(t0, t1).min(1))
        kmax = np.minimum(kmax, np.maximum(t0, t1).max(1))
    start = np.maximum(np.floor(kmin) - 1, lo[2]).astype(np.int64)
    count = np.maximum(np.minimum(np.ceil(kmax) + 1, hi[2] - 1).astype(np.int64) - start + 1, 0)
    rows = np.repeat(np.arange(len(ij)), count)
    k = np.repeat(start - np.cumsum(count) + count, count) + np.arange(int(count.sum()))
    return np.column_stack([ij[rows], k])


def plane_spacings(cr: Crystal, zone: tuple[float, float, float], max_index: int = 2) -> list[tuple[tuple[int, int, int], float]]:
    """The lattice planes (h k l) seen edge-on along ``zone`` (h u + k v + l w = 0) and their spacings
    d (Å), widest first: the spots a zone-axis image shows (before structure-factor extinctions)."""
    recip = np.linalg.inv(cr.cell).T  # rows: reciprocal vectors (no 2 pi)
    out = []
    r = range(-max_index, max_index + 1)
    for h in r:
        for k in r:
            for l in r:
                if (h, k, l) == (0, 0, 0) or h * zone[0] + k * zone[1] + l * zone[2] != 0:
                    continue
                g = np.array([h, k, l]) @ recip
                out.append(((h, k, l), 1.0 / float(np.linalg.norm(g))))
    return sorted(out, key=lambda t: -t[1])
