"""One atomic-resolution scene from a few numbers: :class:`AtomicScene` says what the specimen is and
how it is imaged; :func:`simulate_atomic` returns the noise-free image (HAADF: fraction of probe
electrons on the detector; HRTEM: intensity relative to the beam), which :func:`~.detector.acquire`
turns into detector counts at any dose. :func:`random_atomic_scene` draws scenes for training.
Lengths in Å, angles in mrad unless named otherwise, images (y, x) float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import LowdoseError
from . import specimen as spm
from . import structures as st
from .atomic import HAADFDetector, Multislice, Specimen, oversampling, render_haadf, render_hrtem
from .optics import HRTEMOptics, STEMProbe

KINDS = ("crystal", "particles", "boundary", "twin")
MARGIN = 6.0  #: Å simulated at least beyond each edge, so the field has no seam (see :func:`padding`)


@dataclass(frozen=True)
class AtomicScene:
    """What is imaged and how. ``structure``: a name of :data:`~.structures.STRUCTURES` or a structure
    file; ``kind``: "crystal" (a slab in a zone axis), "particles" (nanoparticles of ``structure``, an
    fcc metal, on an amorphous ``support``), "boundary" / "twin" (two grains); ``zone`` in the
    conventional cell's lattice vectors; ``thickness`` of the slab (Å; particles set their own)."""

    structure: str = "SrTiO3"
    kind: str = "crystal"
    modality: str = "haadf"
    shape: tuple[int, int] = (256, 256)
    pixel_size: float = 0.2  #: Å per pixel
    zone: tuple[float, float, float] = (0, 0, 1)
    in_plane_deg: float = 0.0
    tilt_mrad: float = 0.0
    thickness: float = 50.0  #: Å
    particles: int = 1
    particle_diameter: tuple[float, float] = (20.0, 40.0)  #: Å
    particles_in_zone: bool = False
    support: str = "C"  #: "C" or "SiN"
    support_thickness: float = 30.0  #: Å (0: no support)
    defects: spm.Defects = field(default_factory=spm.Defects)
    probe: STEMProbe = field(default_factory=STEMProbe)
    detector: HAADFDetector = field(default_factory=HAADFDetector)
    optics: HRTEMOptics = field(default_factory=lambda: HRTEMOptics(voltage_kv=300.0, defocus=-80.0, cs_mm=0.005, aperture=1.0, convergence_mrad=0.1, focal_spread=20.0))
    multislice: Multislice = field(default_factory=Multislice)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise LowdoseError(f"unknown scene kind {self.kind!r}: one of {KINDS}")
        if self.modality not in ("haadf", "hrtem"):
            raise LowdoseError(f"modality must be 'haadf' or 'hrtem', got {self.modality!r}")
        px = self.pixel_size
        if not (isinstance(px, (int, float)) and math.isfinite(px) and px > 0):
            raise LowdoseError(f"the pixel size must be a positive number of Å, got {px}")
        if len(self.shape) != 2 or min(self.shape) < 8 or max(self.shape) > 4096:
            raise LowdoseError(f"the image shape must be two sizes from 8 to 4096 pixels, got {self.shape}")
        if not (math.isfinite(self.thickness) and self.thickness > 0):
            raise LowdoseError(f"the thickness must be positive, got {self.thickness} Å")
        z = np.asarray(self.zone, float)
        if z.shape != (3,) or not np.all(np.isfinite(z)) or not np.any(z):
            raise LowdoseError(f"the zone axis must be three indices, not all zero, got {self.zone}")

    @property
    def field(self) -> tuple[float, float]:
        return (self.shape[0] * self.pixel_size, self.shape[1] * self.pixel_size)


def fast_size(n: int) -> bool:
    """Whether ``n`` has no prime factor above 7 (an FFT of such a length is fast: a side with a large
    prime factor, 2 x 223 or 8 x 71, costs 3-6 times as much)."""
    for p in (2, 3, 5, 7):
        while n % p == 0:
            n //= p
    return n == 1


def padding(scene: AtomicScene, margin: float = MARGIN) -> int:
    """Pixels simulated beyond each edge of the field: at least ``margin`` Å, widened (by up to 64) until
    the sides of the internal grid are fast FFT lengths (:func:`fast_size`) at the same internal sampling."""
    pad0 = max(0, math.ceil(margin / scene.pixel_size - 1e-6))

    def factor(pad: int) -> int:
        big = (scene.shape[0] + 2 * pad, scene.shape[1] + 2 * pad)
        return oversampling(scene.modality, scene.pixel_size, big, scene.probe, scene.optics)

    n0 = factor(pad0)
    for pad in range(pad0, pad0 + 65):
        n = factor(pad)
        if n == n0 and all(fast_size(side + 2 * pad) and fast_size((side + 2 * pad) * n) for side in scene.shape):
            return pad
    return pad0


def build_specimen(scene: AtomicScene, rng: np.random.Generator, margin: float | None = None) -> Specimen:
    """The atoms of ``scene`` over its field plus ``margin`` on each side (positions shifted by +margin).
    ``margin`` None: the whole internal grid of :func:`render` (:func:`padding` pixels; at least
    :data:`MARGIN` Å), so no vacuum separates the specimen from its periodic copies."""
    margin = padding(scene) * scene.pixel_size if margin is None else margin
    field_ = scene.field
    if scene.kind == "particles":
        sym, pos = spm.particles_on_support(
            rng, field_, scene.structure, scene.particle_diameter, scene.particles, scene.support, scene.support_thickness, margin, scene.particles_in_zone
        )
    else:
        cr = st.resolve(scene.structure)
        rot = st.orient(cr, scene.zone, scene.in_plane_deg, scene.tilt_mrad, float(rng.uniform(0, 360)))
        origin = np.append(rng.uniform(0, 5, 2), 0.0)
        if scene.kind == "crystal":
            sym, pos = spm.crystal_slab(cr, rot, field_, scene.thickness, margin, origin)
        else:
            sym, pos = spm.grain_boundary(rng, cr, rot, field_, scene.thickness, margin, twin=scene.kind == "twin")
    sym, pos = spm.apply_defects(rng, sym, pos, scene.defects)
    pos = pos + np.array([margin, margin, 0.0])
    return spm.to_specimen(sym, pos, (field_[0] + 2 * margin, field_[1] + 2 * margin))


def render(specimen: Specimen, scene: AtomicScene, margin: float | None = None, pad: int | None = None) -> np.ndarray:
    """Image ``specimen`` (built with ``margin``; None: :func:`build_specimen`'s default) as ``scene``
    says and crop the field. The internal grid reaches ``pad`` pixels beyond the field (None:
    :func:`padding`)."""
    margin = padding(scene) * scene.pixel_size if margin is None else margin
    pad = padding(scene, margin) if pad is None else pad
    shift = pad * scene.pixel_size - margin  # the field starts exactly at pixel ``pad``
    moved = Specimen(specimen.symbols, specimen.positions + np.array([shift, shift, 0.0]), specimen.field)
    big = (scene.shape[0] + 2 * pad, scene.shape[1] + 2 * pad)
    if scene.modality == "haadf":
        image = render_haadf(moved, scene.pixel_size, big, scene.probe, scene.detector)
    else:
        image = render_hrtem(moved, scene.pixel_size, big, scene.optics, scene.multislice)
    return np.ascontiguousarray(image[pad : pad + scene.shape[0], pad : pad + scene.shape[1]])


def simulate_atomic(scene: AtomicScene, seed: int = 0) -> np.ndarray:
    """The noise-free image of ``scene``, float32 (ny, nx); the same seed gives the same image."""
    rng = np.random.default_rng([seed, 1601])
    return render(build_specimen(scene, rng), scene)


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A draw whose logarithm is uniform between ``lo`` and ``hi`` (both > 0): for scale-like values."""
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


CRYSTALS = ("Au", "Pt", "Pd", "Ag", "Cu", "SrTiO3", "BaTiO3", "CeO2", "MgO", "NaCl", "GaN", "ZnO", "Si", "Ge", "MoS2", "graphene", "hBN")
METALS = ("Au", "Pt", "Pd", "Ag", "Cu")


def random_atomic_scene(rng: np.random.Generator, modality: str, size: int, pixel_size: tuple[float, float] = (0.08, 1.0),
                        particles: float = 0.45, corrected: float = 0.8) -> AtomicScene:
    """A random scene of ``size`` x ``size`` pixels: a crystal slab (zone axis or a random
    orientation, defects, sometimes a grain or twin boundary) or nanoparticles on a support, imaged with
    random optics. Pixel sizes log-uniform in ``pixel_size`` Å; ``particles``: the fraction of particle
    scenes (the rest: crystals 78 %, twins 11 %, grain boundaries 11 %); ``corrected``: the fraction of
    HAADF scenes with an aberration-corrected probe (18-35 mrad, small Cs), the rest uncorrected (8-14 mrad)."""
    px = log_uniform(rng, *pixel_size)
    field_ = size * px
    u = rng.random()
    rest = 1.0 - particles
    kind = "particles" if u < particles else ("crystal" if u < particles + rest * 0.43 / 0.55 else ("twin" if u < particles + rest * 0.49 / 0.55 else "boundary"))
    if kind == "particles":
        structure = str(rng.choice(METALS))
        dmax = max(12.0, min(80.0, 0.8 * field_))
        n = int(rng.integers(1, 4)) if field_ > 60 else 1
        extra = dict(particles=n, particle_diameter=(0.4 * dmax, dmax), particles_in_zone=bool(rng.random() < 0.6))
    else:
        structure = str(rng.choice(CRYSTALS if kind == "crystal" else METALS[:3]))
        extra = {}
    cr_hex = structure in ("GaN", "ZnO", "MoS2", "graphene", "hBN")
    sheet = structure in ("MoS2", "graphene", "hBN")
    if sheet:
        zone = (0, 0, 1)
        thickness = float(rng.integers(1, 5)) * {"MoS2": 6.15, "graphene": 3.35, "hBN": 3.33}[structure]
    else:
        zones = ((0, 0, 1), (1, 0, 0), (1, 1, 0), (2, 1, 0)) if cr_hex else spm.ZONES_CUBIC
        zone = zones[int(rng.integers(len(zones)))] if rng.random() < 0.85 else tuple(rng.integers(-3, 4, 3).tolist() or [1, 2, 3])
        if not any(zone):
            zone = (1, 2, 3)
        thickness = log_uniform(rng, 15.0, 300.0 if modality == "haadf" else 80.0)
    defects = spm.Defects(
        vacancies=float(rng.choice([0.0, rng.uniform(0.0, 0.08)])),
        substitutions=float(rng.choice([0.0, 0.0, rng.uniform(0.0, 0.05)])),
        substitute=str(rng.choice(["Pt", "Pd", "Sr", "Si", "La"])),
        adatoms=int(rng.choice([0, 0, rng.integers(1, 30)])),
        adatom=str(rng.choice(METALS)),
        step=bool(rng.random() < 0.2),
    )
    if modality == "haadf":
        voltage = float(rng.choice([60.0, 80.0, 200.0, 300.0]))
        aberration_corrected = rng.random() < corrected
        probe = STEMProbe(
            voltage_kv=voltage,
            convergence_mrad=float(rng.uniform(18, 35) if aberration_corrected else rng.uniform(8, 14)),
            defocus=float(rng.normal(0, 30 if aberration_corrected else 60)),
            cs_mm=float(rng.uniform(-0.005, 0.005) if aberration_corrected else rng.uniform(0.5, 1.2)),
            astigmatism=float(abs(rng.normal(0, 15))),
            astigmatism_angle=float(rng.uniform(0, 180)),
            coma=float(abs(rng.normal(0, 150))),
            coma_angle=float(rng.uniform(0, 360)),
            source_size=float(rng.uniform(0.2, 0.7)),
        )
        detector = HAADFDetector(gold_cross_section=log_uniform(rng, 0.004, 0.02), gamma=float(rng.uniform(1.5, 2.0)), thermal_sigma=float(rng.uniform(0.05, 0.12)))
        return AtomicScene(structure, kind, "haadf", (size, size), px, zone, float(rng.uniform(0, 360)), float(rng.uniform(0, 20)), thickness,
                           support=str(rng.choice(["C", "C", "SiN"])), support_thickness=float(rng.uniform(0, 60)), defects=defects, probe=probe, detector=detector, **extra)
    corrected = rng.random() < 0.5
    optics = HRTEMOptics(
        voltage_kv=float(rng.choice([80.0, 200.0, 300.0])),
        defocus=float(rng.uniform(-150, 50) if corrected else rng.uniform(-900, -200)),
        cs_mm=float(rng.uniform(-0.03, 0.03) if corrected else rng.uniform(0.5, 1.4)),
        aperture=float(rng.uniform(0.4, 1.2)),
        convergence_mrad=float(rng.uniform(0.05, 0.4)),
        focal_spread=float(rng.uniform(15, 50)),
    )
    # strong columns: one frozen-phonon configuration on a grid of at most 768 points (cost as the static model's)
    ms = Multislice(slice_thickness=10.0, absorption=float(rng.uniform(0.02, 0.1)), thermal_sigma=float(rng.uniform(0.05, 0.12)), frozen_phonons=1, strong_grid=768)
    return AtomicScene(structure, kind, "hrtem", (size, size), px, zone, float(rng.uniform(0, 360)), float(rng.uniform(0, 20)), thickness,
                       support=str(rng.choice(["C", "C", "SiN"])), support_thickness=float(rng.uniform(0, 40)), defects=defects, optics=optics, multislice=ms, **extra)
