"""Reference images of the benchmark scenes with abTEM (runs in benchmarks/abtem/.venv only).

abTEM is GPL-3: it is used here as an independent benchmark, never imported by the package.

    benchmarks/abtem/.venv/bin/python benchmarks/abtem/simulate_abtem.py \
        --scenes benchmarks/abtem/data/scenes --out benchmarks/abtem/data [--only NAME_SUBSTRING]

HAADF: PRISM (abtem.SMatrix) multislice, frozen phonons (thermal_sigma, frozen_phonons of the
JSON), annular detector inner..outer mrad; the probe is normalised so the image is the fraction
of the incident electrons that reach the detector.  Scenes of one ``group`` (same structure,
different thickness) share one plane-wave run with exit planes in HRTEM; HAADF runs each
thickness on its own (abTEM 1.0.11's SMatrix fails with exit planes).  The scan is at <= 0.28 Å steps (the
HAADF image is band-limited to 2*alpha/lambda, 1.59 Å^-1 at 200 kV / 20 mrad) and Fourier-resampled
to the scene's pixel grid; periodic crystals with ``lateral_repeats`` are scanned over one
period and tiled.  The source size is applied last as a periodic Gaussian blur.

HRTEM: plane-wave multislice, the CTF with partial coherence as quasi-coherent envelopes
(abTEM CTF: focal_spread = sqrt(2)*rms, angular_spread = convergence_mrad), intensity relative
to the incident wave averaged over the frozen phonons, Fourier-resampled to the scene grid.

Writes ``<name>.npz`` with ``image`` (float32, (ny, nx)), ``scene`` (the JSON as a string),
``abtem`` (the settings used, JSON string) and ``wall_time_s`` (the group's wall time).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
import warnings
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

MAX_SAMPLING = 0.05  # Å, potential sampling: 2/3 antialias keeps 167 mrad at 200 kV (> 160 mrad)
SCAN_STEP = 0.28  # Å, below the 0.314 Å Nyquist step of a 20 mrad / 200 kV HAADF image
SLICE = 2.0  # Å, target slice thickness


def wavelength(kv: float) -> float:
    """Relativistic electron wavelength (Å) at ``kv`` kV."""
    e = kv * 1e3
    return 12.2642584 / math.sqrt(e * (1 + 0.978475e-6 * e))


def good_size(n: int, multiple: int = 1) -> int:
    """Smallest m >= n, divisible by ``multiple``, with m/multiple a product of 2, 3, 5, 7."""
    k = max(1, math.ceil(n / multiple))
    while True:
        r = k
        for p in (2, 3, 5, 7):
            while r % p == 0:
                r //= p
        if r == 1:
            return k * multiple
        k += 1


def fourier_resample(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Band-limited periodic resampling of a real 2-D image to ``shape`` (values preserved)."""
    out = np.fft.fft2(img)
    for axis, n_new in enumerate(shape):
        n = out.shape[axis]
        if n == n_new:
            continue
        m = min(n, n_new)
        pos = (m + 1) // 2  # 0 .. pos-1 kept
        neg = m // 2  # -neg .. -1 kept (for even m this includes the Nyquist bin)
        new_shape = list(out.shape)
        new_shape[axis] = n_new
        res = np.zeros(new_shape, complex)
        src = np.moveaxis(out, axis, 0)
        dst = np.moveaxis(res, axis, 0)
        dst[:pos] = src[:pos]
        dst[n_new - neg:] = src[n - neg:]
        if m % 2 == 0:  # Nyquist bin: fold (down) or split (up) to keep the image real
            if n > n_new:
                dst[n_new - neg] = src[n - neg] + src[neg]
            else:
                dst[n_new - neg] = 0.5 * src[n - neg]
                dst[neg] = 0.5 * src[n - neg]
        out = res
    scale = (shape[0] * shape[1]) / (img.shape[0] * img.shape[1])
    return np.real(np.fft.ifft2(out)) * scale


def gaussian_blur_periodic(img: np.ndarray, sigma_px: float) -> np.ndarray:
    if sigma_px <= 0:
        return img
    ky = np.fft.fftfreq(img.shape[0])[:, None]
    kx = np.fft.fftfreq(img.shape[1])[None, :]
    g = np.exp(-2 * math.pi**2 * sigma_px**2 * (kx**2 + ky**2))
    return np.real(np.fft.ifft2(np.fft.fft2(img) * g))


def load_groups(scene_dir: Path, only: str | None):
    metas = [json.loads(p.read_text()) for p in sorted(scene_dir.glob("*.json"))]
    if only:
        metas = [m for m in metas if any(o in m["name"] for o in only.split(","))]
    groups: dict[str, list[dict]] = {}
    for m in metas:
        groups.setdefault(m.get("group", m["name"]), []).append(m)
    out = []
    for g in groups.values():
        g = sorted(g, key=lambda m: m["thickness"])
        if g[0]["modality"] == "haadf":
            # abTEM 1.0.11's SMatrix fails with exit planes (a dask shape mismatch in the PRISM
            # reduction, with or without s-matrix chunks): one run per thickness instead.
            out += [[m] for m in g]
        else:
            out.append(g)
    return out


def _slicing(members: list[dict]) -> tuple[float, list[int] | None]:
    """Slice thickness and exit-plane indices (one per member, thinnest first)."""
    thick = members[-1]["thickness"]
    period = members[-1].get("z_period")
    if period is not None:
        st = period / max(1, round(period / SLICE))
    else:
        st = thick / max(1, math.ceil(thick / SLICE - 1e-9))
    idx = [round(m["thickness"] / st) - 1 for m in members]
    for m, i in zip(members, idx):
        if abs((i + 1) * st - m["thickness"]) > 1e-3:
            raise ValueError(f"{m['name']}: thickness {m['thickness']} is not a whole number of slices")
    return st, idx


def simulate_group(members: list[dict], scene_dir: Path, abtem):
    from abtem.waves import reduce_ensemble
    from ase.io import read

    meta = members[-1]
    atoms = read(scene_dir / f"{meta['name']}.extxyz")
    atoms.pbc = True
    lx, ly, _ = atoms.cell.lengths()
    st, exit_idx = _slicing(members)
    fp = abtem.FrozenPhonons(atoms, num_configs=int(meta["frozen_phonons"]),
                             sigmas=float(meta["thermal_sigma"]), seed=int(meta["seed"]))
    ny, nx = meta["shape"]
    settings: dict = {"abtem_version": abtem.__version__, "parametrization": "lobato",
                      "projection": "infinite", "slice_thickness": st,
                      "frozen_phonons": int(meta["frozen_phonons"]), "precision": "float32"}
    if meta["modality"] == "haadf":
        pr = meta["probe"]
        alpha = float(pr["convergence_mrad"])
        lam = wavelength(pr["voltage_kv"])
        # PRISM interpolation: probe window >= window_min Å (the whole cell for small crystals)
        window_min = 14.0 if meta["pixel_size"] < 0.5 else 10.0
        fx = max(1, int(lx // window_min))
        fy = max(1, int(ly // window_min))
        gx = good_size(math.ceil(lx / MAX_SAMPLING), fx)
        gy = good_size(math.ceil(ly / MAX_SAMPLING), fy)
        pot = abtem.Potential(fp, gpts=(gx, gy), slice_thickness=st, projection="infinite",
                              parametrization="lobato",
                              exit_planes=tuple(exit_idx) if len(members) > 1 else None)
        s = abtem.SMatrix(potential=pot, energy=pr["voltage_kv"] * 1e3, semiangle_cutoff=alpha,
                          interpolation=(fx, fy))
        ctf = abtem.CTF(semiangle_cutoff=alpha, energy=pr["voltage_kv"] * 1e3,
                        C10=float(pr["defocus"]), C30=float(pr["cs_mm"]) * 1e7)
        ry, rx = meta.get("lateral_repeats") or (1, 1)
        ex, ey = lx / rx, ly / ry  # scanned extent (one period if repeated)
        if meta["pixel_size"] >= SCAN_STEP and (ry, rx) == (1, 1):
            sx, sy = nx, ny  # coarse pixels: scan exactly at the pixel positions (point sampling)
        else:
            sx = good_size(max(math.ceil(ex / SCAN_STEP), 4))
            sy = good_size(max(math.ceil(ey / SCAN_STEP), 4))
        scan = abtem.GridScan(start=(0.0, 0.0), end=(ex, ey), gpts=(sx, sy), endpoint=False)
        det = abtem.AnnularDetector(inner=meta["detector"]["inner_mrad"],
                                    outer=meta["detector"]["outer_mrad"])
        meas = reduce_ensemble(s.scan(scan=scan, detectors=det, ctf=ctf, lazy=True)).compute()
        arr = np.asarray(meas.array, dtype=np.float64)
        arr = arr.reshape((-1,) + arr.shape[-2:])  # (exit, x, y)
        settings.update({"method": "PRISM (abtem.SMatrix)", "gpts": [gx, gy],
                         "sampling": [lx / gx, ly / gy], "interpolation": [fx, fy],
                         "prism_window": [lx / fx, ly / fy], "scan_gpts": [sx, sy],
                         "scan_extent": [ex, ey], "tiled": [ry, rx],
                         "num_plane_waves": int(len(s)) if hasattr(s, "__len__") else None,
                         "detector": "AnnularDetector", "wavelength": lam})
        images = []
        for a in arr:
            img = np.tile(a.T, (ry, rx))  # (y, x) over the whole cell
            img = fourier_resample(img, (ny, nx))
            img = gaussian_blur_periodic(img, float(pr.get("source_size", 0.0)) / meta["pixel_size"])
            images.append(img)
    else:
        op = meta["optics"]
        lam = wavelength(op["voltage_kv"])
        gx = good_size(math.ceil(lx / MAX_SAMPLING))
        gy = good_size(math.ceil(ly / MAX_SAMPLING))
        pot = abtem.Potential(fp, gpts=(gx, gy), slice_thickness=st, projection="infinite",
                              parametrization="lobato",
                              exit_planes=tuple(exit_idx) if len(members) > 1 else None)
        wave = abtem.PlaneWave(energy=op["voltage_kv"] * 1e3)
        exit_waves = wave.multislice(pot)
        ctf = abtem.CTF(semiangle_cutoff=float(op["aperture"]) * lam * 1e3,
                        energy=op["voltage_kv"] * 1e3, C10=float(op["defocus"]),
                        C30=float(op["cs_mm"]) * 1e7,
                        focal_spread=math.sqrt(2.0) * float(op["focal_spread"]),
                        angular_spread=float(op["convergence_mrad"]))
        inten = reduce_ensemble(exit_waves.apply_ctf(ctf).intensity()).compute()
        arr = np.asarray(inten.array, dtype=np.float64)
        arr = arr.reshape((-1,) + arr.shape[-2:])
        settings.update({"method": "plane-wave multislice + CTF (quasi-coherent envelopes)",
                         "gpts": [gx, gy], "sampling": [lx / gx, ly / gy],
                         "ctf": {"semiangle_cutoff_mrad": float(op["aperture"]) * lam * 1e3,
                                 "C10": float(op["defocus"]), "C30": float(op["cs_mm"]) * 1e7,
                                 "focal_spread_1e": math.sqrt(2.0) * float(op["focal_spread"]),
                                 "angular_spread_mrad": float(op["convergence_mrad"]),
                                 "soft_aperture": True}, "wavelength": lam})
        images = [fourier_resample(a.T, (ny, nx)) for a in arr]
    if len(images) != len(members):
        raise RuntimeError(f"{meta['name']}: {len(images)} images for {len(members)} scenes")
    return images, settings


def main(argv=None) -> None:
    here = Path(__file__).parent
    ap = argparse.ArgumentParser(description="abTEM reference images of the benchmark scenes")
    ap.add_argument("--scenes", type=Path, default=here / "data" / "scenes")
    ap.add_argument("--out", type=Path, default=here / "data")
    ap.add_argument("--only", default=None, help="comma-separated substrings of scene names")
    ap.add_argument("--skip-existing", action="store_true")
    args = ap.parse_args(argv)

    warnings.filterwarnings("ignore")
    import abtem
    import dask

    dask.config.set(scheduler="synchronous")
    abtem.config.set({"device": "cpu", "fft": "fftw", "fftw.threads": 1,
                      "diagnostics.progress_bar": False, "dask.chunk-size": "32 MB"})
    args.out.mkdir(parents=True, exist_ok=True)
    for members in load_groups(args.scenes, args.only):
        if args.skip_existing and all((args.out / f"{m['name']}.npz").exists() for m in members):
            continue
        t0 = time.perf_counter()
        images, settings = simulate_group(members, args.scenes, abtem)
        wall = time.perf_counter() - t0
        for m, img in zip(members, images):
            img = np.ascontiguousarray(img, dtype=np.float32)
            assert img.shape == tuple(m["shape"]) and np.isfinite(img).all()
            tmp = args.out / f".{m['name']}.tmp.npz"
            np.savez_compressed(tmp, image=img, scene=json.dumps(m), abtem=json.dumps(settings),
                                wall_time_s=np.float64(wall), group_size=len(members))
            os.replace(tmp, args.out / f"{m['name']}.npz")
            print(f"{m['name']}: mean {img.mean():.5g} min {img.min():.4g} max {img.max():.4g} "
                  f"group wall {wall:.1f} s", flush=True)


if __name__ == "__main__":
    main()
