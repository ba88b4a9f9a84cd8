"""``napari-lowdose simulate``: an atomic-resolution image of a crystal (or nanoparticles on a support)
from the project's simulator, noise-free or at a dose, written with its pixel size. For planning a
dose, and for the checks."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from .core.errors import LowdoseError


def number(text: str) -> float:
    """argparse type: a float, or one line saying the text is not a number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    return value


def add_parser(sub) -> None:
    sim = sub.add_parser(
        "simulate",
        help="simulate an atomic-resolution HAADF-STEM or HRTEM image of a structure (noise-free, or at a dose) and write it as TIFF",
        description="Simulate an image of a crystal in a zone axis (or nanoparticles on amorphous carbon) with the project's simulator. "
        "Without --dose the image is noise-free (HAADF: fraction of probe electrons on the detector; HRTEM: intensity relative to the beam). "
        "With --dose it holds detected electrons (Poisson counts, no detector gain or offset).",
    )
    sim.add_argument("--structure", required=True, metavar="NAME|FILE",
                     help="Au, Pt, Pd, Ag, Cu, Al, Ni, SrTiO3, BaTiO3, CeO2, MgO, NaCl, GaN, ZnO, Si, Ge, MoS2, graphene, hBN, or a structure file ASE reads (CIF, XYZ, POSCAR)")
    sim.add_argument("--zone", nargs=3, type=number, default=[0, 0, 1], metavar=("H", "K", "L"),
                     help="zone axis in the conventional cell's lattice vectors (hexagonal: [1 1 0] is [11-20]); default 0 0 1")
    sim.add_argument("--thickness", type=number, default=50.0, metavar="Å", help="specimen thickness in Å (default 50)")
    sim.add_argument("--modality", default="haadf", choices=["haadf", "hrtem"], help="HAADF-STEM (incoherent, Z-contrast) or HRTEM (multislice + CTF)")
    sim.add_argument("--kind", default="crystal", choices=["crystal", "particles", "twin", "boundary"],
                     help="a slab of the crystal, nanoparticles of the (fcc metal) structure on amorphous carbon, or two grains")
    sim.add_argument("--pixel-size", type=number, default=0.2, metavar="Å", help="pixel size in Å (default 0.2)")
    sim.add_argument("--shape", nargs=2, type=int, default=[256, 256], metavar=("NY", "NX"), help="image size in pixels (default 256 256)")
    sim.add_argument("--dose", type=number, default=None, metavar="e/Å²", help="electron dose in e⁻/Å²; without it the image is noise-free")
    sim.add_argument("--voltage", type=number, default=None, metavar="kV", help="accelerating voltage in kV (default 200 for HAADF, 300 for HRTEM)")
    sim.add_argument("--convergence", type=number, default=25.0, metavar="MRAD", help="HAADF probe semi-angle in mrad (default 25)")
    sim.add_argument("--defocus", type=number, default=None, metavar="Å", help="defocus in Å, negative = underfocus (default 0 for HAADF, -80 for HRTEM)")
    sim.add_argument("--cs", type=number, default=None, metavar="MM", help="spherical aberration in mm (default 0 for HAADF, 0.005 for HRTEM)")
    sim.add_argument("--seed", type=int, default=0, help="random seed: the same seed gives the same image")
    sim.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.tif", help="output TIFF (float32 noise-free, or uint16 counts with --dose)")
    sim.add_argument("--truth", type=Path, default=None, metavar="TRUTH.tif", help="also write the noise-free image here (with --dose)")
    sim.set_defaults(func=run)


def scene_from_args(args: argparse.Namespace):
    from dataclasses import replace

    from .core.simulate.scene import AtomicScene

    for name in ("thickness", "pixel_size", "convergence"):
        value = getattr(args, name)
        if not (math.isfinite(value) and value > 0):
            raise LowdoseError(f"--{name.replace('_', '-')} must be a positive number, got {value}")
    if args.dose is not None and not (math.isfinite(args.dose) and args.dose > 0):
        raise LowdoseError(f"--dose must be a positive number of e-/Å², got {args.dose}")
    scene = AtomicScene(structure=args.structure, kind=args.kind, modality=args.modality, shape=tuple(args.shape), pixel_size=args.pixel_size,
                        zone=tuple(args.zone), thickness=args.thickness, particles_in_zone=True)
    if args.modality == "haadf":
        probe = replace(scene.probe, voltage_kv=args.voltage or 200.0, convergence_mrad=args.convergence,
                        defocus=0.0 if args.defocus is None else args.defocus, cs_mm=0.0 if args.cs is None else args.cs)
        return replace(scene, probe=probe)
    optics = scene.optics
    optics = replace(optics, voltage_kv=args.voltage or optics.voltage_kv, defocus=optics.defocus if args.defocus is None else args.defocus,
                     cs_mm=optics.cs_mm if args.cs is None else args.cs)
    return replace(scene, optics=optics)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from .core.simulate import Acquisition, ScanArtifacts, acquire
    from .core.simulate.scene import simulate_atomic
    from .io import write_image

    scene = scene_from_args(args)
    truth = simulate_atomic(scene, seed=args.seed)
    if args.dose is None:
        write_image(args.output, truth, pixel_size=scene.pixel_size)
        print(f"{args.output}: noise-free {scene.modality} image of {args.structure}, {truth.shape[0]} x {truth.shape[1]} at {scene.pixel_size:g} Å/px")
        return 0
    acq = Acquisition(dose=args.dose, artifacts=ScanArtifacts.none(), detector_gain=1.0, detector_offset=0.0, read_noise=0.0)
    counts = acquire(truth, scene.pixel_size, acq, seed=args.seed + 1)
    write_image(args.output, counts, pixel_size=scene.pixel_size)
    if args.truth is not None:
        write_image(args.truth, truth, pixel_size=scene.pixel_size)
    e = acq.electrons_per_pixel(scene.pixel_size)
    print(f"{args.output}: {scene.modality} image of {args.structure} at {args.dose:g} e-/Å² ({e:.3g} e- per pixel), mean {float(np.mean(counts)):.3g} counts per pixel")
    return 0
