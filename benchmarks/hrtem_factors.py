"""What makes a fidelity HRTEM scene part from abTEM: one multislice factor at a time.

    python benchmarks/hrtem_factors.py [--scene fid_au_001_hrtem_05nm] [--seeds 3] [--json out.json]

A stand-alone plane-wave multislice built from the simulator's own pieces (Lobato potentials of
``core/simulate/potential.py``, the CTF of ``HRTEMOptics``), with every choice a knob: internal sampling,
slice thickness (slices centred on the atomic planes of the crystal, or the simulator's own slicing),
Debye-Waller damping or frozen phonons of our own, where the exit plane is (the last slice's entrance,
as the simulator, or the cell's end, as abTEM), absorption. Each variant's image is Fourier-resampled to
the scene grid (as abTEM's) and compared with the abTEM image by Pearson r after the rigid registration
of ``fidelity_abtem.py``. No abTEM is needed (its images are committed in ``benchmarks/abtem/data``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import scipy.fft as sfft

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fidelity_abtem import ROOT, find_reference, load_scene, register  # noqa: E402

from napari_lowdose.core.simulate.optics import HRTEMOptics, electron_wavelength, interaction_parameter  # noqa: E402
from napari_lowdose.core.simulate.potential import projected_potential_ft  # noqa: E402


@dataclass(frozen=True)
class Variant:
    name: str
    oversample: int = 1  #: internal grid points per scene pixel (per axis)
    slice_thickness: float = 4.0  #: Å (target; the simulator's slicing divides the thickness evenly)
    planes: bool = False  #: slices of exactly slice_thickness starting half a slice before the first atoms (not the simulator's)
    thermal_sigma: float | None = None  #: Debye-Waller rms (Å); None: the scene's
    frozen_phonons: int = 0  #: configurations (rms displacements of the scene's thermal_sigma along x, y, z); 0: static
    exit_at_cell_end: bool = False  #: propagate from the last slice to the end of the cell (abTEM's exit plane)
    absorption: float = 0.0
    pixel_average: bool = False  #: average the intensity over each pixel (the simulator) instead of Fourier resampling
    band_limit: float | None = None  #: Å⁻¹, the multislice's band limit if below 2/3 of Nyquist
    grid_points: int | None = None  #: internal grid side (square scenes), instead of oversample x the scene's


def fourier_resample(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Periodic Fourier resampling to ``shape`` (the image is band-limited below both Nyquist frequencies)."""
    from scipy.signal import resample

    return resample(resample(img, shape[0], axis=0), shape[1], axis=1)


def exit_wave_ft(symbols, positions, cell_z: float, grid, s: float, kv: float, v: Variant, thermal: float) -> np.ndarray:
    lam = electron_wavelength(kv)
    sigma = np.float32(interaction_parameter(kv))
    ky = np.fft.fftfreq(grid[0], d=s)[:, None]
    kx = np.fft.fftfreq(grid[1], d=s)[None, :]
    band = (ky**2 + kx**2) < min(2.0 / 3.0 * 0.5 / s, v.band_limit or np.inf) ** 2
    z = positions[:, 2]
    if v.planes:
        dz = v.slice_thickness
        start = z.min() - 0.5 * dz
        index = np.floor((z - start) / dz).astype(int)
        nslices = int(index.max()) + 1
    else:
        thickness = float(np.ptp(z))
        nslices = max(1, math.ceil((thickness + 1e-6) / v.slice_thickness))
        dz = max(thickness, 1e-6) / nslices
        index = np.minimum(((z - z.min()) / dz).astype(int), nslices - 1)
    propagator = (np.exp(-1j * np.pi * lam * dz * (ky**2 + kx**2)) * band).astype(np.complex64)
    wave = np.ones(grid, np.complex64)
    yx = positions[:, [1, 0]]
    memo: dict = {}
    for i in range(nslices):
        sel = index == i
        if sel.any():
            phase = sfft.irfft2(projected_potential_ft(symbols[sel], yx[sel], grid, s, thermal, memo, np.float32), s=grid) * sigma
            wave *= (np.exp(-v.absorption * phase) * np.exp(1j * phase)).astype(np.complex64)
        wave = sfft.fft2(wave)
        wave *= band if i == nslices - 1 else propagator
        if i < nslices - 1:
            wave = sfft.ifft2(wave)
    if v.exit_at_cell_end:
        # the wave is at the last slice's entrance (no propagation after it); abTEM's is at the cell's end
        last = (start if v.planes else z.min()) + (nslices - 1) * dz
        wave *= np.exp(-1j * np.pi * lam * (cell_z - last) * (ky**2 + kx**2)).astype(np.complex64)
    return wave


def image(meta: dict, atoms, v: Variant, seed: int = 0) -> np.ndarray:
    shape = tuple(meta["shape"])
    px = float(meta["pixel_size"])
    o = meta["optics"]
    optics = HRTEMOptics(voltage_kv=o["voltage_kv"], defocus=o["defocus"], cs_mm=o["cs_mm"], aperture=o["aperture"],
                         convergence_mrad=o["convergence_mrad"], focal_spread=o["focal_spread"])
    n = v.oversample
    s = px / n
    grid = (shape[0] * n, shape[1] * n)
    if v.grid_points:
        n, s = 0, px * shape[0] / v.grid_points  # along x the nearest whole number of points at this sampling
        grid = (v.grid_points, int(round(v.grid_points * shape[1] / shape[0])))
        if abs(grid[1] * s - shape[1] * px) > 1e-6 * shape[1] * px:
            raise SystemExit(f"grid {v.grid_points}: no whole number of points along x at {s:.4f} Å; choose another")
    symbols = np.array(atoms.get_chemical_symbols())
    pos0 = atoms.get_positions()
    cell_z = float(atoms.cell.lengths()[2])
    sig = meta["thermal_sigma"]
    ctf = optics.ctf(grid, s, np.complex64)
    configs = max(1, v.frozen_phonons)
    rng = np.random.default_rng(seed)
    total = np.zeros(grid)
    for _ in range(configs):
        pos = pos0 + rng.normal(0, sig, pos0.shape) if v.frozen_phonons else pos0
        thermal = (sig if v.thermal_sigma is None else v.thermal_sigma) if not v.frozen_phonons else 0.0
        w = sfft.ifft2(exit_wave_ft(symbols, pos, cell_z, grid, s, o["voltage_kv"], v, thermal) * ctf)
        total += w.real**2 + w.imag**2
    total /= configs
    if n == 1:
        return total
    if n == 0:
        return fourier_resample(total, shape)
    if v.pixel_average:
        return total.reshape(shape[0], n, shape[1], n).mean(axis=(1, 3))
    return fourier_resample(total, shape)


def sweep(meta: dict, atoms, cuts: list[float]) -> None:
    from napari_lowdose.core.simulate.atomic import Specimen, strongest_column

    px, shape = float(meta["pixel_size"]), tuple(meta["shape"])
    for cut in cuts:
        part = atoms[atoms.positions[:, 2] < cut]
        spec = Specimen(np.array(part.get_chemical_symbols()), part.get_positions(), (shape[0] * px, shape[1] * px))
        accurate = image(meta, part, Variant("accurate", oversample=2, frozen_phonons=8))
        r = {}
        for name, v in (("static", Variant("static")), ("fp2", Variant("fp2", oversample=max(1, int(np.ceil(px / 0.204))), frozen_phonons=2))):
            img = image(meta, part, v, seed=5)
            r[name] = float(np.corrcoef(register(img, accurate).ravel(), accurate.ravel())[0, 1])
        print(f"atoms below z = {cut:5.1f} Å: thickness {np.ptp(part.positions[:, 2]):5.1f} Å, strongest column {strongest_column(spec):5.0f}: "
              f"r against 8 frozen phonons (half-pixel grid): static damped (pixel grid) {r['static']:.3f}, 2 frozen phonons (grid {px / max(1, int(np.ceil(px / 0.204))):.3f} Å) {r['fp2']:.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", default="fid_au_001_hrtem_05nm")
    parser.add_argument("--data", type=Path, default=ROOT)
    parser.add_argument("--only", default=None, help="variant names separated by semicolons")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--seeds", type=int, default=3, help="frozen-phonon variants: r averaged over this many seeds")
    parser.add_argument("--thickness-sweep", type=float, nargs="+", default=None, metavar="Z",
                        help="instead: keep the atoms below each Z (Å) and compare, with no abTEM image, the static damped model "
                             "and 2 frozen phonons (a grid of at most 0.204 Å: a whole number of points per pixel) against 8 frozen phonons on a 0.125 Å grid (the strong-column threshold)")
    args = parser.parse_args()
    path = next(p for p in args.data.rglob(f"{args.scene}.json"))
    meta, atoms = load_scene(path)
    ref = find_reference(meta, args.data)
    if args.thickness_sweep:
        sweep(meta, atoms, args.thickness_sweep)
        return
    base = Variant("simulator before issue 16's fix (0.251 Å, 4 Å slices, Debye-Waller)", slice_thickness=4.0)
    side = int(meta["shape"][0])
    field = side * float(meta["pixel_size"])
    variants = [
        base,
        replace(base, name="exit plane at the cell's end (abTEM's)", exit_at_cell_end=True),
        replace(base, name="slices 2.04 Å, one atomic plane each", slice_thickness=2.039, planes=True),
        replace(base, name="slices 1.02 Å", slice_thickness=2.039 / 2, planes=True),
        replace(base, name="slices 10 Å (training)", slice_thickness=10.0),
        replace(base, name="no Debye-Waller damping (static atoms)", thermal_sigma=0.0),
        replace(base, name="absorption 0.05 of the phase", absorption=0.05),
        replace(base, name="8 frozen phonons (no damping)", frozen_phonons=8),
    ]
    for g in (64, 72, 80, 96, 128, 130, 192, 256, 320):
        variants.append(replace(base, name=f"Debye-Waller, grid {g} ({field / g:.3f} Å)", grid_points=g))
    for g in (72, 80, 96, 130, 256, 320):
        variants.append(replace(base, name=f"2 frozen phonons, grid {g} ({field / g:.3f} Å)", grid_points=g, frozen_phonons=2))
    for k in (1, 2, 4, 8):
        variants.append(replace(base, name=f"{k} frozen phonons, grid 80 ({field / 80:.3f} Å)", grid_points=80, frozen_phonons=k))
    for st, planes in ((2.039, True), (10.0, False)):
        variants.append(replace(base, name=f"2 frozen phonons, grid 80, slices {st:g} Å", grid_points=80, frozen_phonons=2, slice_thickness=st, planes=planes))
    if args.only:
        keep = set(args.only.split(";"))
        variants = [v for v in variants if v.name in keep]
    rows = []
    for v in variants:
        t = time.process_time()
        seeds = range(args.seeds) if v.frozen_phonons else range(1)
        rs, stds = [], []
        for seed in seeds:
            img = image(meta, atoms, v, seed)
            rs.append(float(np.corrcoef(register(img, ref).ravel(), ref.ravel())[0, 1]))
            stds.append(float(img.std() / ref.std()))
        cpu = (time.process_time() - t) / len(seeds)
        r = float(np.mean(rs))
        rows.append({"variant": v.name, "pearson_r": round(r, 4), "r_min": round(min(rs), 4), "seeds": len(rs), "cpu_s": round(cpu, 2),
                     "contrast_ours_over_abtem": round(float(np.mean(stds)), 3)})
        print(f"{v.name:<62} r = {r:.3f} (min {min(rs):.3f} over {len(rs)})   std ours/abTEM = {np.mean(stds):.2f}   cpu {cpu:.2f} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
