"""Specimens from atoms: crystals cut to a field, nanoparticles on amorphous supports, 2-D sheets,
defects. Everything is deterministic from a ``numpy.random.Generator``; lengths in Å, positions
(x, y, z) with the beam along +z and the field ``[0, Ly) x [0, Lx)``.

* **Amorphous supports** are made by random packing, not white noise: atoms at the material's density
  pushed apart until no two are closer than its minimum distance (carbon 1.35 Å at 2.0 g/cm³; a
  Si₃N₄-like film 1.6 Å at 3.1 g/cm³), in a periodic 24 Å block; the film is built from copies of the
  block, each turned by one of the cube's 48 symmetries and shifted at random, so it has no period.
* **Nanoparticles** come from ``ase.cluster`` (octahedra / cuboctahedra, Ino and Marks decahedra,
  icosahedra, Wulff shapes; built by :mod:`.clusters`), in a random orientation or in a zone axis,
  resting on the support.
* **Defects**: vacancies, substitutions, adatoms, surface steps, and grain or twin boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.spatial import cKDTree

from ..errors import LowdoseError
from . import structures as st
from .atomic import Specimen
from .clusters import CLUSTER_SHAPES, nanoparticle  # noqa: F401  (CLUSTER_SHAPES: part of this module's interface)

SUPPORTS = {  # symbols with their fractions, atoms per Å³, minimum distance Å
    "C": ((("C", 1.0),), 0.100, 1.35),
    "SiN": ((("Si", 3 / 7), ("N", 4 / 7)), 0.093, 1.60),
}
BLOCK = 24.0  #: Å, edge of the periodic amorphous block


@lru_cache(maxsize=8)
def amorphous_block(kind: str = "C", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A periodic cube of edge :data:`BLOCK` Å of amorphous ``kind`` ("C" or "SiN"): (symbols, (n, 3))."""
    if kind not in SUPPORTS:
        raise LowdoseError(f"unknown support {kind!r}: one of {sorted(SUPPORTS)}")
    mix, density, dmin = SUPPORTS[kind]
    rng = np.random.default_rng([seed, 4242])
    n = int(round(density * BLOCK**3))
    pos = rng.uniform(0, BLOCK, (n, 3))
    for _ in range(60):  # push overlapping pairs apart (periodic), until none is closer than dmin
        tree = cKDTree(pos, boxsize=BLOCK)
        pairs = tree.query_pairs(dmin * 0.999, output_type="ndarray")
        if len(pairs) == 0:
            break
        d = pos[pairs[:, 1]] - pos[pairs[:, 0]]
        d -= BLOCK * np.round(d / BLOCK)
        dist = np.linalg.norm(d, axis=1, keepdims=True)
        push = d / np.maximum(dist, 1e-6) * (dmin - dist) * 0.55
        np.add.at(pos, pairs[:, 1], push)
        np.add.at(pos, pairs[:, 0], -push)
        pos %= BLOCK
    symbols = rng.choice([m[0] for m in mix], size=n, p=[m[1] for m in mix])
    return symbols, pos


def _cube_symmetries() -> np.ndarray:
    import itertools

    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((-1, 1), repeat=3):
            m = np.zeros((3, 3))
            for i, (p, s) in enumerate(zip(perm, signs)):
                m[i, p] = s
            out.append(m)
    return np.array(out)


CUBE_OPS = _cube_symmetries()


def support(rng: np.random.Generator, field: tuple[float, float], thickness: float, kind: str = "C", margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """An amorphous film over ``field`` (plus ``margin`` on each side) from z = 0 to ``thickness`` Å."""
    ly, lx = field
    seed = int(rng.integers(4))
    sym0, turned = amorphous_block(kind, seed)[0], _turned_blocks(kind, seed)
    syms, poss = [], []
    for iz in range(int(np.ceil(thickness / BLOCK))):
        for iy in range(int(np.floor(-margin / BLOCK)), int(np.ceil((ly + margin) / BLOCK))):
            for ix in range(int(np.floor(-margin / BLOCK)), int(np.ceil((lx + margin) / BLOCK))):
                # a block at a time (its arrays stay in cache): one of its turned copies, shifted periodically
                p = turned[rng.integers(len(CUBE_OPS))] + rng.uniform(0, BLOCK, 3)
                p %= BLOCK
                p += np.array([ix, iy, iz]) * BLOCK
                keep = (p[:, 2] < thickness) & (p[:, 0] >= -margin) & (p[:, 0] < lx + margin) & (p[:, 1] >= -margin) & (p[:, 1] < ly + margin)
                syms.append(sym0[keep])
                poss.append(p[keep])
    return np.concatenate(syms), np.concatenate(poss)


@lru_cache(maxsize=8)
def _turned_blocks(kind: str, seed: int) -> np.ndarray:
    """The block of :func:`amorphous_block` turned by each of the cube's 48 symmetries about its centre:
    (48, n, 3), read-only (2.6 MB for carbon)."""
    pos0 = amorphous_block(kind, seed)[1]
    out = np.einsum("nj,bij->bni", pos0 - BLOCK / 2, CUBE_OPS) + BLOCK / 2
    out.setflags(write=False)
    return out


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.standard_normal(4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


ZONES_CUBIC = ((0, 0, 1), (0, 1, 1), (1, 1, 1), (1, 1, 2))


def zone_rotation(rng: np.random.Generator, cr: st.Crystal, tilt_mrad: float = 10.0) -> np.ndarray:
    """A low-index zone axis of ``cr`` (random), random in-plane angle, random tilt up to ``tilt_mrad``."""
    zones = ((0, 0, 1), (1, 0, 0), (1, 1, 0), (2, 1, 0)) if abs(cr.cell[1, 0]) > 1e-6 else ZONES_CUBIC
    zone = zones[int(rng.integers(len(zones)))]
    return st.orient(cr, zone, float(rng.uniform(0, 360)), float(rng.uniform(0, tilt_mrad)), float(rng.uniform(0, 360)))


@dataclass(frozen=True)
class Defects:
    """Point and planar defects, as fractions of the atoms or counts."""

    vacancies: float = 0.0  #: fraction of atoms removed
    substitutions: float = 0.0  #: fraction of atoms replaced by ``substitute``
    substitute: str = "Pt"
    adatoms: int = 0  #: atoms of ``adatom`` added on the top surface
    adatom: str = "Au"
    step: bool = False  #: remove the top half of the crystal on one side of a random line


def apply_defects(rng: np.random.Generator, symbols: np.ndarray, pos: np.ndarray, d: Defects) -> tuple[np.ndarray, np.ndarray]:
    keep = rng.random(len(symbols)) >= d.vacancies
    symbols, pos = symbols[keep].copy(), pos[keep]
    if d.substitutions > 0:
        sub = rng.random(len(symbols)) < d.substitutions
        symbols = np.where(sub, np.asarray(d.substitute), symbols)  # the string type widens to fit
    if d.step and len(pos):
        ang = rng.uniform(0, 2 * np.pi)
        c = pos.mean(0)
        side = (pos[:, 0] - c[0]) * np.cos(ang) + (pos[:, 1] - c[1]) * np.sin(ang) > 0
        top = pos[:, 2] > np.quantile(pos[:, 2], rng.uniform(0.3, 0.7))
        keep = ~(side & top)
        symbols, pos = symbols[keep], pos[keep]
    if d.adatoms and len(pos):
        lo, hi = pos.min(0), pos.max(0)
        xy = rng.uniform(lo[:2], hi[:2], (d.adatoms, 2))
        add = np.column_stack([xy, np.full(d.adatoms, hi[2] + 2.0)])
        symbols = np.concatenate([symbols, np.full(d.adatoms, d.adatom)])
        pos = np.concatenate([pos, add])
    return symbols, pos


def crystal_slab(
    cr: st.Crystal, rotation: np.ndarray, field: tuple[float, float], thickness: float, margin: float = 0.0, origin: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The oriented crystal filling the field (plus ``margin``) from z = 0 to ``thickness``."""
    ly, lx = field
    sym, pos = st.fill_box(cr, rotation, (ly + 2 * margin, lx + 2 * margin, thickness), origin)
    return sym, pos - np.array([margin, margin, 0.0])


def grain_boundary(
    rng: np.random.Generator, cr: st.Crystal, rotation: np.ndarray, field: tuple[float, float], thickness: float, margin: float = 0.0, twin: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Two grains meeting along a random line through the field: the second is the first turned about
    the beam (a tilt grain boundary) or, with ``twin``, its mirror image across the boundary plane."""
    ly, lx = field
    ang = rng.uniform(0, np.pi)
    normal = np.array([np.cos(ang), np.sin(ang), 0.0])
    centre = np.array([lx / 2, ly / 2, 0.0]) + rng.uniform(-0.2, 0.2, 3) * np.array([lx, ly, 0])
    if twin:
        mirror = np.eye(3) - 2 * np.outer(normal, normal)
        rot2 = mirror @ rotation
    else:
        rot2 = st.axis_rotation([0, 0, 1], rng.uniform(np.deg2rad(5), np.deg2rad(40))) @ rotation
    s1, p1 = crystal_slab(cr, rotation, field, thickness, margin)
    s2, p2 = crystal_slab(cr, rot2, field, thickness, margin)
    a = (p1 - centre) @ normal < 0
    b = (p2 - centre) @ normal >= 0.3  # a thin gap avoids overlapping atoms
    return np.concatenate([s1[a], s2[b]]), np.concatenate([p1[a], p2[b]])


def particles_on_support(
    rng: np.random.Generator,
    field: tuple[float, float],
    element: str = "Au",
    diameters: tuple[float, float] = (15.0, 50.0),
    count: int = 1,
    support_kind: str = "C",
    support_thickness: float = 30.0,
    margin: float = 0.0,
    zone_axis: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` nanoparticles resting on an amorphous film; in random orientations, or in low-index
    zone axes (with a small tilt) with ``zone_axis``."""
    ly, lx = field
    syms, poss = [], []
    if support_thickness > 0:
        s, p = support(rng, field, support_thickness, support_kind, margin)
        syms.append(s)
        poss.append(p)
    cr = st.crystal(element)
    for _ in range(count):
        s, p = nanoparticle(rng, element, float(rng.uniform(*diameters)))
        rot = zone_rotation(rng, cr) if zone_axis else random_rotation(rng)
        p = p @ rot.T
        p[:, 2] += support_thickness - p[:, 2].min() + 1.0
        p[:, :2] += rng.uniform([0.15 * lx, 0.15 * ly], [0.85 * lx, 0.85 * ly])  # mostly inside the field
        syms.append(s)
        poss.append(p)
    return np.concatenate(syms), np.concatenate(poss)


def to_specimen(symbols: np.ndarray, positions: np.ndarray, field: tuple[float, float]) -> Specimen:
    return Specimen(np.asarray(symbols).astype(str), np.asarray(positions, float), (float(field[0]), float(field[1])))
