"""Smoke test of the peer baselines on small simulated images (project venv, one thread):
noisy / oracle Gaussian / oracle BM3D (Anscombe and plain) / tk-r-em (matching network, and the other
resolution family for reference), PSNR and SSIM after the affine match, one image per cell.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/peers/smoke.py [--size 256] [--out benchmarks/peers/out/smoke.json]

The images are drawn from the project's own simulator (napari_lowdose.core.simulate, the settings of
core.evaluate), NOT from the independent abTEM validation set and NOT from tk-r-em's test data. One
image per cell: this checks that the tools run and score sensibly; it is not the benchmark.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bm3d_best import bm3d_oracle, gaussian_oracle  # noqa: E402
from tkrem import model_for, restore  # noqa: E402

from napari_lowdose.core.evaluate import EvalSetting, score  # noqa: E402
from napari_lowdose.core.train import simulate_example  # noqa: E402

CELLS = (
    EvalSetting("HAADF 0.8 Å (atomic columns)", "haadf", 0.8, 8.0, column_sharpness=4.0),
    EvalSetting("HAADF 0.8 Å, no scan artifacts", "haadf", 0.8, 8.0, column_sharpness=4.0, artifact_scale=0.0),
    EvalSetting("HAADF 4 Å (particles)", "haadf", 4.0, 1.0),
    EvalSetting("HRTEM 1 Å", "hrtem", 1.0, 10.0),
    EvalSetting("HRTEM 4 Å", "hrtem", 4.0, 1.0),
)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--seed", type=int, default=20261128)
    p.add_argument("--artifact-check", action="store_true", help="also tk-r-em on the first cell without some scan artifacts")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "out" / "smoke.json"))
    a = p.parse_args(argv)
    rows = []
    for i, cell in enumerate(CELLS):
        cell = replace(cell, size=a.size)
        scene, acq = cell.draw(np.random.default_rng(a.seed + i))
        noisy, target = simulate_example(scene, acq, seed=a.seed + i)
        match = model_for(cell.modality, cell.pixel_size)
        other = match.replace("_hr", "_XX").replace("_lr", "_hr").replace("_XX", "_lr")
        res = {"cell": cell.label, "dose e/A2": cell.dose, "e/px": round(cell.electrons_per_pixel, 3)}
        res["noisy"] = score(noisy, target)
        g, gs = gaussian_oracle(noisy, target)
        res["gaussian"], res["gaussian_sigma_px"] = score(g, target), gs
        for tr in ("anscombe", "none"):
            t = time.perf_counter()
            b, f = bm3d_oracle(noisy, target, transform=tr, gain=acq.detector_gain, offset=acq.detector_offset,
                               read_noise=acq.read_noise)
            res[f"bm3d_{tr}"], res[f"bm3d_{tr}_factor"] = score(b, target), f
            res[f"bm3d_{tr}_s"] = round(time.perf_counter() - t, 1)
        best = "bm3d_anscombe" if res["bm3d_anscombe"][0] >= res["bm3d_none"][0] else "bm3d_none"
        res["bm3d_best"] = res[best]  # = bm3d_oracle(transform="best")
        for m in (match, other):
            t = time.perf_counter()
            out = restore({"x": noisy}, m)["x"]
            res[m] = score(out, target)
            res[f"{m}_s"] = round(time.perf_counter() - t, 1)
        res["tkrem_match"] = match
        rows.append(res)
        print(json.dumps(res), flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"size": a.size, "seed": a.seed, "rows": rows}, indent=1))
    print("\nPSNR dB / SSIM after the affine match; one image per cell")
    print("\n| cell | e/px | noisy | Gaussian (σ px) | BM3D Anscombe (×σ̂) | BM3D plain (×σ̂) | tk-r-em match | tk-r-em other |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        m = r["tkrem_match"]
        o = [k for k in r if k.startswith("sfr_") and not k.endswith("_s") and k != m][0]
        f = lambda s: f"{s[0]:.2f} / {s[1]:.3f}"  # noqa: E731
        print(f"| {r['cell']} | {r['e/px']} | {f(r['noisy'])} | {f(r['gaussian'])} ({r['gaussian_sigma_px']:g}) | "
              f"{f(r['bm3d_anscombe'])} ({r['bm3d_anscombe_factor']:g}) | {f(r['bm3d_none'])} ({r['bm3d_none_factor']:g}) | "
              f"{m}: {f(r[m])} | {o}: {f(r[o])} |")
    if a.artifact_check:
        artifact_check(a.size, a.seed)
    return 0


def artifact_check(size: int, seed: int) -> None:
    """The first cell (HAADF 0.8 Å, 8 e⁻/Å²) with its scan artifacts as drawn, then without the
    every-other-column gain deficit, then without that and the afterglow streak: tk-r-em against the
    noisy image, and the share of power at the x Nyquist frequency (where the column gain deficit lives)."""
    cell = replace(CELLS[0], size=size)
    scene, acq = cell.draw(np.random.default_rng(seed))
    variants = {
        "all artifacts": acq.artifacts,
        "no column gain": replace(acq.artifacts, column_gain=0.0),
        "no column gain, no streak": replace(acq.artifacts, column_gain=0.0, streak_px=0.0),
    }
    pairs = {k: simulate_example(scene, replace(acq, artifacts=art), seed=seed) for k, art in variants.items()}
    out = restore({k: v[0] for k, v in pairs.items()}, model_for("haadf", cell.pixel_size))

    def nyquist_share(x):
        p = np.abs(np.fft.fft2(x - x.mean())) ** 2
        return float(p[:, x.shape[1] // 2].sum() / p.sum())

    print(f"\n{cell.label}, {cell.dose} e/A2: tk-r-em against scan artifacts (PSNR dB / SSIM)")
    for k, (noisy, target) in pairs.items():
        g, gs = gaussian_oracle(noisy, target)
        print(f"| {k} | noisy {score(noisy, target)[0]:.2f} | Gaussian {score(g, target)[0]:.2f} | tk-r-em {score(out[k], target)[0]:.2f} / "
              f"{score(out[k], target)[1]:.3f} | x-Nyquist power share: noisy {nyquist_share(noisy):.4f}, tk-r-em {nyquist_share(out[k]):.4f} |")


if __name__ == "__main__":
    sys.exit(main())
