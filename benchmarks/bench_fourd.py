"""4D-STEM denoising on simulated datasets with a known truth (issue 18).

Datasets: 32 x 32 scans of 64 x 64 px multislice patterns (core/fourd/simulate.py: 200 kV, 15 mrad probe,
40 Å thick, 5 % vacancies) of SrTiO3 [001] and Al [001], at 100 and 2000 electrons per pattern (Poisson).
Scored against the noise-free patterns: PSNR = 10 log10(max(truth)^2 / MSE) of the whole 4D array, and of
the virtual bright-field (the bright disc) and annular dark-field (1.3-2.6 x the disc radius) images
(their own max). Methods:

* noisy: the counts;
* oracle PCA: truncated SVD of the (positions x pixels) matrix, mean removed, at the rank (1-64) whose 4D
  PSNR against the truth is best (an oracle: a user cannot pick the rank this way);
* oracle Gaussian: a Gaussian filter over the two scan axes, at the width (0.5-4 px) best against the truth;
* the blind-spot denoiser, trained on the noisy data alone for ``--minutes`` of this process's CPU time,
  in two set-ups: "seed" (8 neighbours, 2 refinement cycles, beta 0.5, as the 001 seed) and "default"
  (24 neighbours, 1 cycle: the package's default), each scored raw (finish "none") and after the band
  fusion (finish "fuse", the package's default finish);
* with ``--thin`` (core/fourd/thin.py, no truth): "thinned score PCA", principal components whose score
  maps are smoothed over the scan, each component's width (or dropping it) and the shares of the
  residual's detector bands chosen on held-out electrons (Poisson thinning, 5 folds); and, where an earlier
  ``--save-raw`` run left the "default" network's blind-spot prediction for the dataset, "thinned blend":
  the fused network blended with that estimate (finish "thin"; the network is not retrained per fold).

Results go to ``--out`` (JSON, one entry per dataset and method, written as each finishes) and a Markdown
table on stdout. One thread (torch and BLAS), as on the project's shared CPU machine.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/bench_fourd.py [--minutes 3] [--out runs/bench_fourd.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from napari_lowdose.core.fourd.denoise import Denoise4DConfig, Denoiser4D
from napari_lowdose.core.fourd.detector import detector_mask, mean_pattern, standard_regions, virtual_image
from napari_lowdose.core.fourd.fuse import BandFusion
from napari_lowdose.core.fourd.simulate import Sim4DConfig, simulate_4dstem
from napari_lowdose.core.fourd import thin
from napari_lowdose.core.progress import drive

CRYSTALS = ("SrTiO3", "Al")
DOSES = (100.0, 2000.0)
SETUPS = {
    "seed": dict(radius=1, cycles=2, beta=0.5),
    "default": dict(radius=2, cycles=1),
}


def psnr(a, truth) -> float:
    return float(10 * np.log10(float(truth.max()) ** 2 / float(np.mean((np.asarray(a, np.float64) - truth) ** 2))))


class Scorer:
    def __init__(self, truth: np.ndarray) -> None:
        self.truth = truth
        bf, adf = standard_regions(mean_pattern(truth))
        self.masks = {"BF": detector_mask(truth.shape[2:], bf), "ADF": detector_mask(truth.shape[2:], adf)}
        self.virtual = {k: virtual_image(truth, m) for k, m in self.masks.items()}

    def __call__(self, data) -> dict:
        out = {"4D": psnr(data, self.truth)}
        for k, m in self.masks.items():
            out[k] = psnr(virtual_image(data, m), self.virtual[k])
        return out


def oracle_pca(noisy, scorer):
    x = noisy.reshape(noisy.shape[0] * noisy.shape[1], -1).astype(np.float64)
    mu = x.mean(0)
    u, s, vt = np.linalg.svd(x - mu, full_matrices=False)
    best = None
    for rank in (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32, 48, 64):
        rec = (mu + (u[:, :rank] * s[:rank]) @ vt[:rank]).reshape(noisy.shape).astype(np.float32)
        p = psnr(rec, scorer.truth)
        if best is None or p > best[0]:
            best = (p, rank, rec)
    return {**scorer(best[2]), "param": f"rank {best[1]}"}


def oracle_gauss(noisy, scorer):
    best = None
    for sigma in (0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0):
        g = ndimage.gaussian_filter(noisy, (sigma, sigma, 0, 0), mode="reflect")
        p = psnr(g, scorer.truth)
        if best is None or p > best[0]:
            best = (p, sigma, g)
    return {**scorer(best[2]), "param": f"sigma {best[1]} px"}


def run_denoiser(noisy, scorer, setup: dict, minutes: float, seed: int, save_raw: Path | None = None):
    cfg = Denoise4DConfig(minutes=minutes, cpu_time=True, finish="none", seed=seed, **setup)
    t0, c0 = time.perf_counter(), time.process_time()
    den = Denoiser4D(noisy, cfg)
    drive(den.train())
    t_train, c_train = time.perf_counter() - t0, time.process_time() - c0
    steps = sum(r.step for r in den.history if r.phase == "train" and r is den.history[-1]) or den.history[-1].step
    t1 = time.perf_counter()
    raw = drive(den.apply())
    t_apply = time.perf_counter() - t1
    if save_raw is not None:  # the blind-spot prediction, for estimators built on it afterwards (--raw-from)
        save_raw.parent.mkdir(parents=True, exist_ok=True)
        np.save(save_raw, raw)
        save_raw.with_suffix(".json").write_text(json.dumps({"train_wall_s": round(t_train, 1), "train_cpu_s": round(c_train, 1),
                                                             "apply_wall_s": round(t_apply, 1)}))
    fusion = BandFusion(noisy.shape[2:])
    fusion.add(noisy, raw)
    fused = fusion.fuse(noisy, raw)
    common = {"train_wall_s": round(t_train, 1), "train_cpu_s": round(c_train, 1), "apply_wall_s": round(t_apply, 1),
              "last_cycle_steps": int(steps), "best_val": [round(v, 5) for v in den.best_val]}
    return {**scorer(raw), **common}, {**scorer(fused), **common, "fusion_weights": [round(float(w), 3) for w in fusion.weights().mean(axis=(1, 2))]}


def widths(choice) -> str:
    kept = [f"{i + 1}:{s:g}" for i, s in enumerate(choice.sigmas) if np.isfinite(s)]
    return f"{len(kept)} components kept (rank:width px) " + " ".join(kept)


def run_thin(noisy, scorer, raw=None, meta=None):
    """Score PCA chosen on held-out electrons (core/fourd/thin.py; no truth), and, given the network's
    blind-spot prediction ``raw`` (trained on all the counts), its blend with the fused network: in fold k
    the network estimate is fuse(rest, raw x (K - 1)/K) (the network is not retrained per fold)."""
    cfg = thin.ThinConfig()
    t0, c0 = time.perf_counter(), time.process_time()
    pca_choice = thin.choose(noisy, cfg)
    pca = thin.finish(noisy, pca_choice)
    out = {"thinned score PCA": {**scorer(pca), "param": widths(pca_choice),
                                 "cpu_s": round(time.process_time() - c0, 1), "wall_s": round(time.perf_counter() - t0, 1)}}
    if raw is not None:
        t0, c0 = time.perf_counter(), time.process_time()
        est, ch = thin.network_blend(noisy, raw, cfg)  # what Denoise4DConfig(finish="thin") does
        out["thinned blend: w net + (1-w) score PCA"] = {
            **scorer(est), "param": f"w {ch.weight:.2f}, {ch.rank} components", "weight": ch.weight,
            "held_out": {"pca": ch.pca_error, "network": ch.network_error, "blend": ch.blend_error, "noise": ch.noise},
            "cpu_s": round(time.process_time() - c0, 1), "wall_s": round(time.perf_counter() - t0, 1), "network_run": meta}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=3.0, help="CPU minutes of training per run (default 3)")
    ap.add_argument("--out", type=Path, default=Path("runs/bench_fourd.json"))
    ap.add_argument("--setups", nargs="*", default=list(SETUPS), choices=list(SETUPS))
    ap.add_argument("--crystals", nargs="+", default=list(CRYSTALS))
    ap.add_argument("--doses", nargs="+", type=float, default=list(DOSES))
    ap.add_argument("--cache", type=Path, default=Path("runs/fourd_sim"), help="folder for the simulated truths")
    ap.add_argument("--save-raw", type=Path, default=None, help="folder: keep each run's blind-spot prediction (.npy)")
    ap.add_argument("--thin", action="store_true", help="also the thinned score PCA, and its blend with the network "
                    "prediction saved by an earlier --save-raw run of the 'default' setup in that folder")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.cache.mkdir(parents=True, exist_ok=True)
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    results["_machine"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, 1 thread"

    def save():
        tmp = args.out.with_suffix(".part")
        tmp.write_text(json.dumps(results, indent=1))
        os.replace(tmp, args.out)

    for setup in ["oracles", *args.setups]:
        for crystal in args.crystals:
            cache = args.cache / f"{crystal}.npy"
            if cache.exists():
                base = np.load(cache)
            else:
                sim = simulate_4dstem(Sim4DConfig(structure=crystal), dose=1.0, seed=0)
                base = sim.truth
                np.save(cache, base)
            for dose in args.doses:
                key = f"{crystal} {dose:g}"
                truth = base * np.float32(dose)
                noisy = np.random.default_rng(1).poisson(truth).astype(np.float32)
                scorer = Scorer(truth)
                entry = results.setdefault(key, {"mean_counts_per_pattern": round(float(noisy.sum(axis=(2, 3)).mean()), 1)})
                if setup == "oracles":
                    entry["noisy"] = scorer(noisy)
                    entry["oracle PCA"] = oracle_pca(noisy, scorer)
                    entry["oracle Gaussian"] = oracle_gauss(noisy, scorer)
                    if args.thin:
                        raw_path = args.save_raw / f"default {key}.npy" if args.save_raw else None
                        have = raw_path is not None and raw_path.exists()
                        entry.update(run_thin(noisy, scorer, np.load(raw_path) if have else None,
                                              json.loads(raw_path.with_suffix(".json").read_text()) if have else None))
                else:
                    raw, fused = run_denoiser(noisy, scorer, SETUPS[setup], args.minutes, seed=0,
                                              save_raw=args.save_raw / f"{setup} {key}.npy" if args.save_raw else None)
                    entry[f"{setup} raw"] = raw
                    entry[f"{setup} + fusion"] = fused
                save()
                print(key, setup, {k: v for k, v in entry.items() if k != "mean_counts_per_pattern"}, flush=True)
    print(table(results))
    return 0


def table(results: dict) -> str:
    rows = ["| dataset | method | 4D PSNR | BF PSNR | ADF PSNR | note |", "|---|---|---|---|---|---|"]
    for key, entry in results.items():
        if key.startswith("_"):
            continue
        for method, r in entry.items():
            if not isinstance(r, dict):
                continue
            note = r.get("param") if "param" in r else (f"train {r['train_cpu_s']:.0f} CPU-s, apply {r['apply_wall_s']:.0f} s" if "train_cpu_s" in r else "")
            rows.append(f"| {key} e⁻ | {method} | {r['4D']:.2f} | {r['BF']:.2f} | {r['ADF']:.2f} | {note} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
