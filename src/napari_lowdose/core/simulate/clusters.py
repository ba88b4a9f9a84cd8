"""Nanoparticles of fcc metals from ``ase.cluster`` (octahedra / cuboctahedra, Ino and Marks decahedra,
icosahedra, Wulff shapes), built faster but atom for atom as ASE builds them.

Building clusters was most of the time of a random training scene: ASE fills the block that holds a
cluster one unit cell at a time in Python and finds each facet's layer distance again for every cut.
Here the fcc block is filled with array operations (the same positions, bit for bit: the cubic cell's
basis is diagonal, so no sum is rounded differently), layer distances are remembered, and finished
clusters are kept (shared, read-only) for the shapes that recur. ``tests/core/simulate`` compares them
with ASE's own. Lengths in Å.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import LowdoseError
from . import structures as st

CLUSTER_SHAPES = ("octahedron", "decahedron", "icosahedron", "wulff")


def nanoparticle(rng: np.random.Generator, element: str, diameter: float, shape: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A free nanoparticle of an fcc metal about ``diameter`` Å across, centred on the origin:
    (symbols (n,), positions (n, 3) as (x, y, z) in Å)."""
    from ase.cluster import wulff_construction

    cr = st.crystal(element)
    a = float(np.linalg.norm(cr.cell[0]))
    nn = a / 2**0.5  # nearest-neighbour distance
    shape = shape or str(rng.choice(CLUSTER_SHAPES))
    if shape == "octahedron":
        length = max(3, int(round(diameter / nn)) + 1)
        sym, pos = _cluster(element, a, shape, (length, int(rng.integers(0, max(1, length // 3) + 1))))
    elif shape == "decahedron":
        p = max(2, int(round(diameter / (1.3 * nn))))
        q = int(rng.integers(1, 3))
        sym, pos = _cluster(element, a, shape, (p, q, int(rng.integers(0, 2))))
    elif shape == "icosahedron":
        sym, pos = _cluster(element, a, shape, (max(2, int(round(diameter / (1.36 * nn)))),))
    elif shape == "wulff":
        n_atoms = max(13, int(np.pi / 6 * diameter**3 * 4 / a**3))
        e100, e110 = float(rng.uniform(1.0, 1.3)), float(rng.uniform(1.05, 1.4))
        atoms = wulff_construction(element, [(1, 0, 0), (1, 1, 0), (1, 1, 1)], [e100, e110, 1.0], n_atoms, fcc_cluster, rounding="closest", latticeconstant=a)
        sym, pos = _symbols(atoms), atoms.get_positions()
        return sym, pos - pos.mean(0)
    else:
        raise LowdoseError(f"unknown particle shape {shape!r}: one of {CLUSTER_SHAPES}")
    return sym.copy(), pos.copy()


def _symbols(atoms) -> np.ndarray:
    """``np.array(atoms.get_chemical_symbols())`` without a Python loop over the atoms."""
    from ase.data import chemical_symbols

    return np.array(np.asarray(chemical_symbols)[atoms.numbers].tolist())


@lru_cache(maxsize=128)  # the largest, an 80 Å Cu icosahedron, is 37 995 atoms, 1.2 MB
def _cluster(element: str, a: float, shape: str, args: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """An octahedron (length, cutoff), decahedron (p, q, r) or icosahedron (shells) of lattice constant
    ``a``, centred: (symbols, positions), read-only (shared: the same shapes recur in a training run)."""
    if shape == "octahedron":
        atoms = _octahedron(element, args[0], args[1], a)
        sym, pos = _symbols(atoms), atoms.get_positions()
    elif shape == "decahedron":
        pos = _decahedron(*args, a)
        sym = np.full(len(pos), element)
    else:
        atoms = _icosahedron(element, args[0], a)
        sym, pos = _symbols(atoms), atoms.get_positions()
    pos = pos - pos.mean(0)
    sym.setflags(write=False)
    pos.setflags(write=False)
    return sym, pos


def _octahedron(element: str, length: int, cutoff: int, a: float):
    """``ase.cluster.Octahedron(element, length, cutoff, a)`` (no alloy), through the fast fcc factory."""
    if length < 1 or cutoff < 0 or length < 2 * cutoff + 1:
        raise LowdoseError(f"octahedron: length >= 1 and 0 <= cutoff <= (length - 1) / 2, got {length}, {cutoff}")
    if length % 2 == 0:
        center, layers = np.array([0.5, 0.5, 0.5]), [length / 2, length - 1 - cutoff]
    else:
        center, layers = np.array([0.0, 0.0, 0.0]), [(length - 1) / 2, length - 1 - cutoff]
    return _fcc()(element, [(1, 1, 1), (1, 0, 0)], layers, a, center)


def _decahedron(p: int, q: int, r: int, a: float) -> np.ndarray:
    """The positions of ``ase.cluster.Decahedron(element, p, q, r, a)``, in its order and with its
    arithmetic (so the same bits), a column of atoms at a time instead of one atom at a time."""
    if p < 1 or q < 1 or r < 0:
        raise LowdoseError(f"decahedron: p >= 1, q >= 1 and r >= 0, got {p}, {q}, {r}")
    t = 2.0 * np.pi / 5.0
    b = a / np.sqrt(2.0)
    v = b * np.sqrt(3.0) / 2.0 * np.array([[np.cos(t * k + np.pi / 2.0), np.sin(t * k + np.pi / 2.0), 0.0] for k in range(5)])
    h = p + q + 2 * r - 1
    g = h - q + 1
    j = np.arange(h)
    axis = np.column_stack([np.zeros(h), np.zeros(h), j * b - (h - 1) * b / 2.0])  # the five-fold axis
    nmi = np.array([(n, m, i) for n in range(1, g) for m in range(5) for i in range(n) if n - i < g - r and i < g - r], dtype=np.int64).reshape(-1, 3)
    n, m, i = nmi[:, 0], nmi[:, 1], nmi[:, 2]
    rows = (n - i)[:, None] * v[m - 1] + i[:, None] * v[m]  # each row of atoms: ASE's (n - i) v1 + i v2 ...
    count = h - n
    start = np.cumsum(count) - count
    jj = np.arange(int(count.sum())) - np.repeat(start, count)  # ... plus [0, 0, z_j] for j < h - n
    nn = np.repeat(n, count)
    z = jj * b - (h - nn - 1) * b / 2.0
    parts = [axis, np.repeat(rows, count, axis=0) + np.column_stack([np.zeros(len(z)), np.zeros(len(z)), z])]
    return np.concatenate(parts)


_ICO_FACES = ((8, 9), (10, 11), (8, 9), (10, 11), (0, 1), (2, 3), (0, 1), (2, 3), (4, 5), (6, 7), (4, 5), (6, 7))
_ICO_FILL = ((9, 6, 8, 4), (11, 6, 10, 4), (9, 7, 8, 5), (11, 7, 10, 5))


def _icosahedron(element: str, noshells: int, a: float):
    """``ase.cluster.Icosahedron(element, noshells, a)``: the same Mackay shells in the same order, each
    row of atoms computed at once instead of one atom at a time."""
    from ase import Atoms
    from ase.data import atomic_numbers

    if noshells < 1:
        raise LowdoseError(f"an icosahedron needs at least one shell, got {noshells}")
    t = 0.5 + np.sqrt(5) / 2.0
    v = np.array([[t, 0.0, 1.0], [t, 0.0, -1.0], [-t, 0.0, 1.0], [-t, 0.0, -1.0], [1.0, t, 0.0], [-1.0, t, 0.0],
                  [1.0, -t, 0.0], [-1.0, -t, 0.0], [0.0, 1.0, t], [0.0, -1.0, t], [0.0, 1.0, -t], [0.0, -1.0, -t]])
    parts = [np.zeros((1, 3))]
    for n in range(1, noshells):
        i = np.arange(n + 1)[:, None]
        parts += [i * v[k] + (n - i) * v[k + 1] for k in range(0, 12, 2)]  # the edges
        if n > 1:  # the triangular faces
            ij = np.array([(i, j) for i in range(n) for j in range(n - i) if i or j])
            ii, jj = ij[:, :1], ij[:, 1:]
            for k in range(12):
                parts.append(n * v[k] + ii * (v[_ICO_FACES[k][0]] - v[k]) + jj * (v[_ICO_FACES[k][1]] - v[k]))
        if n > 2:  # the faces left, two atoms per (i, j), interleaved
            ij = np.array([(i, j) for i in range(1, n) for j in range(1, n - i)])
            if len(ij):
                ii, jj = ij[:, :1], ij[:, 1:]
                for k in range(4):
                    d = [v[m] - v[k] for m in _ICO_FILL[k]]
                    pair = np.stack([n * v[k] + ii * d[0] + jj * d[1], n * v[k] + ii * d[2] + jj * d[3]], axis=1)
                    parts.append(pair.reshape(-1, 3))
    positions = np.concatenate(parts) * (a / np.sqrt(2 * (1 + t**2)))
    atoms = Atoms(numbers=np.full(len(positions), atomic_numbers[element]), positions=positions)
    atoms.center(about=(0, 0, 0))
    atoms.cell[:] = 0
    return atoms


def fcc_cluster(symbol, surfaces, layers, latticeconstant=None):
    """``ase.cluster.FaceCenteredCubic(symbol, surfaces, layers, latticeconstant)``, the same atoms, fast
    and remembered: the Wulff construction tries several layer counts per particle, and they recur."""
    key = (symbol, tuple(tuple(int(i) for i in s) for s in surfaces), tuple(int(n) for n in layers), latticeconstant)
    return _fcc_cached(*key)


@lru_cache(maxsize=48)
def _fcc_cached(symbol: str, surfaces: tuple, layers: tuple, latticeconstant: float | None):
    atoms = _fcc()(symbol, [list(s) for s in surfaces], list(layers), latticeconstant=latticeconstant)
    atoms.positions.setflags(write=False)  # shared between calls: nothing may move its atoms
    return atoms


@lru_cache(maxsize=1)
def _fcc():
    """An ``ase.cluster`` fcc factory whose block filling is vectorised and whose layer spacings are
    found once per direction (ASE searches the lattice for them at every call; ASE is imported only when a
    particle is built)."""
    from ase.cluster.base import ClusterBase
    from ase.cluster.cubic import FaceCenteredCubicFactory

    distances: dict = {}
    expanded: dict = {}  # (surfaces, layers) -> with their symmetry-equivalent surfaces
    steps: dict = {}  # (miller, tol, bases) -> the one layer spacing, or None where the layers are not equidistant

    class FastFCC(FaceCenteredCubicFactory):
        def get_layer_distance(self, miller, layers=1, tol=1e-9, new=True):
            miller = tuple(int(m) for m in miller)
            bases = self.lattice_basis.tobytes() + self.atomic_basis.tobytes()
            if new and (miller, tol, bases) not in steps:
                steps[(miller, tol, bases)] = self._uniform_step(miller, tol)
            step = steps.get((miller, tol, bases)) if new else None
            if step is not None:
                # ASE's sum for a pattern of one spacing: floor(layers) spacings summed, plus the fraction
                # of one (the same numpy sum, so the same bits); negative layers: the negated pattern
                step, count = (step, layers) if layers >= 0 else (-step, -layers)
                return np.full(int(count - count % 1), step).sum() + count % 1 * step
            key = (miller, float(layers), tol, new, bases)
            if key not in distances:
                if len(distances) > 100_000:
                    distances.clear()
                distances[key] = ClusterBase.get_layer_distance(self, miller, layers, tol, new)
            return distances[key]

        def set_surfaces_layers(self, surfaces, layers):
            # the symmetry-equivalent surfaces (a space group built per call in ASE), remembered
            key = (np.asarray(surfaces).tobytes(), np.asarray(surfaces).shape, np.asarray(layers).tobytes(), np.asarray(layers).dtype.str)
            if key not in expanded:
                super().set_surfaces_layers(surfaces, layers)
                expanded[key] = (self.surfaces.copy(), self.layers.copy())
            self.surfaces, self.layers = (a.copy() for a in expanded[key])

        def _uniform_step(self, miller, tol):
            """The spacing of equidistant layers along ``miller`` as ASE finds it (its pattern of one
            spacing), or None if ASE's sums for 1-7 layers and for -1 show any other pattern."""
            step = ClusterBase.get_layer_distance(self, miller, 1, tol, True)
            for k in range(2, 8):
                if ClusterBase.get_layer_distance(self, miller, k, tol, True) != np.full(k, step).sum():
                    return None
            return step if ClusterBase.get_layer_distance(self, miller, -1, tol, True) == -step else None

        def make_cluster(self, vacuum):
            basis = self.lattice_basis
            if np.count_nonzero(basis - np.diag(np.diag(basis))):
                return super().make_cluster(vacuum)  # only a diagonal basis is summed exactly as ASE sums it
            hkl = np.indices(tuple(int(s) for s in self.size)).reshape(3, -1).T.astype(float)  # h slowest, as ASE
            translations = hkl[:, :1] * basis[0] + hkl[:, 1:2] * basis[1] + hkl[:, 2:] * basis[2]
            atomic_basis = np.dot(self.atomic_basis, basis)
            positions = (atomic_basis[None] + translations[:, None]).reshape(-1, 3)
            numbers = np.tile(np.asarray(self.atomic_numbers, int), len(translations))
            # keep the atoms inside every surface: all cuts at once (no atom lies near a cut, which is
            # a tenth of a layer beyond the last layer kept, so rounding cannot move one across)
            normals = np.array([self.miller_to_direction(s) for s in self.surfaces])
            rmax = np.array([self.get_layer_distance(s, l + 0.1) for s, l in zip(self.surfaces, self.layers)])
            inside = np.ones(len(positions), bool)
            for lo in range(0, len(positions), 65536):  # in blocks: (atoms x surfaces) stays small
                rel = positions[lo : lo + 65536] - self.center
                inside[lo : lo + 65536] = ((rel @ normals.T) < rmax).all(axis=1)
            positions, numbers = positions[inside], numbers[inside]
            atoms = self.Cluster(numbers=numbers, positions=positions)
            atoms.cell = (1, 1, 1)  # centre about zero, as ASE does
            atoms.center(about=(0, 0, 0))
            atoms.cell[:] = 0
            return atoms

    return FastFCC()
