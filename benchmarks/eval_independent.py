"""The bundled models against the peers on images the project did not make: the abTEM validation set.

    python benchmarks/eval_independent.py [--methods noisy gaussian bm3d tkrem ours adapt] [--adapt-seconds 30]
        [--model NAME=FILE ...] [--json OUT.json] [--markdown OUT.md] [--figure OUT.png]

Images: ``benchmarks/abtem/validation.py`` (abTEM multislice truths of scenes the project defines:
atomic-resolution HAADF of nanoparticles on amorphous carbon and of crystals, particle-scale HAADF, HRTEM
of nanoparticles on carbon; Poisson counts at four doses each). Never trained or selected on.

Methods, all scored alike by ``core.evaluate.score`` (PSNR and SSIM after a least-squares affine match to
the truth): the noisy counts; the oracle Gaussian (best sigma per image, chosen with the truth); BM3D at
its best sigma (Anscombe-transformed counts; chosen with the truth: an oracle too); tk-r-em 1.0.4 with the
network matching the modality and pixel size (``benchmarks/peers``: its own TensorFlow venv, raw counts
in); ours zero-shot (the bundled model of the image's modality, as ``napari-lowdose denoise --model``
would run it); ``guard``: ours as ``denoise --guard auto --gain 1 --offset 0`` runs it (the images are raw
counts): the guard (core/guard.py) where ``--guard auto`` runs it; ours after
``adapt`` (self-supervised fine-tuning on the image itself, ``--adapt-seconds``).
Prints one table: per category and dose, the mean PSNR (dB) and SSIM of every method over the scenes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "abtem"))
sys.path.insert(0, str(HERE / "peers"))

from validation import iter_validation  # noqa: E402

from napari_lowdose.core.evaluate import best_gaussian, score  # noqa: E402

CATEGORIES = (("val_haadf_np", "HAADF atoms, particles on C"), ("val_haadf_xtal", "HAADF atoms, crystals"),
              ("val_haadf_ps", "HAADF particle scale"), ("val_hrtem_np", "HRTEM, particles on C"))
ALL_METHODS = ("noisy", "gaussian", "bm3d", "tkrem", "ours", "guard", "adapt")


def category(name: str) -> str:
    for prefix, label in CATEGORIES:
        if name.startswith(prefix):
            return label
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=list(ALL_METHODS), choices=ALL_METHODS)
    parser.add_argument("--adapt-seconds", type=float, default=30.0)
    parser.add_argument("--adapt-doses", type=int, default=2, help="adapt only at the N lowest doses of each modality (time)")
    parser.add_argument("--model", action="append", default=[], metavar="MODALITY=FILE", help="replace a bundled model (haadf=..., haadf-atomic=..., hrtem=...); each image gets the model `--model auto` picks")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument("--figure", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", type=Path, default=None, help="folder of the validation truths (default: benchmarks/abtem/data)")
    parser.add_argument("--only", nargs="+", default=None, metavar="PREFIX", help="only scenes whose names start so")
    parser.add_argument("--reuse", type=Path, default=None, metavar="OLD.json",
                        help="take the scores of methods not run now from this earlier --json (same images)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from napari_lowdose.core.adapt import adapt
    from napari_lowdose.core.model import load_model
    from napari_lowdose.core.tiling import denoise

    from napari_lowdose.core.choose import choose_model

    models: dict[str, str] = {}  # bundled name -> file, for --model NAME=FILE
    for spec in args.model:
        key, _, path = spec.partition("=")
        models[key] = path
    loaded: dict[str, object] = {}

    def our_model(v):  # the bundled model `denoise --model auto` picks for a STEM / TEM file of this pixel size
        name = choose_model("stem" if v.modality == "haadf" else "tem", v.pixel_size)[0]
        if name not in loaded:
            loaded[name] = load_model(models.get(name, name))
            models.setdefault(name, name)
        return loaded[name]
    images = list(iter_validation(args.data) if args.data else iter_validation())
    if args.only:
        images = [v for v in images if any(v.name.startswith(p) for p in args.only)]
    doses = {m: sorted({v.dose for v in images if v.modality == m}) for m in ("haadf", "hrtem")}
    outputs: dict[tuple[str, float], dict[str, np.ndarray]] = defaultdict(dict)
    timing: dict[str, float] = defaultdict(float)

    if "tkrem" in args.methods:
        from tkrem import model_for, restore

        groups: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
        for v in images:
            groups[model_for(v.modality, v.pixel_size)][f"{v.name}@{v.dose:g}"] = v.noisy
        for net, batch in groups.items():
            t0 = time.perf_counter()
            out = restore(batch, net)
            timing["tkrem"] += time.perf_counter() - t0
            for key, img in out.items():
                name, dose = key.rsplit("@", 1)
                outputs[(name, float(dose))]["tkrem"] = img
    old = {(r["scene"], r["dose"]): r for r in json.loads(args.reuse.read_text())["rows"]} if args.reuse else {}
    rows = []
    row_notes: dict[tuple[str, float], str] = {}
    for v in images:
        key = (v.name, v.dose)
        res = outputs[key]
        res["noisy"] = v.noisy
        if "gaussian" in args.methods:
            res["gaussian"], _ = best_gaussian(v.noisy, v.truth)
        if "bm3d" in args.methods:
            from bm3d_best import bm3d_oracle

            t0 = time.perf_counter()
            res["bm3d"], _ = bm3d_oracle(v.noisy, v.truth)
            timing["bm3d"] += time.perf_counter() - t0
        model = our_model(v)
        if "ours" in args.methods:
            t0 = time.perf_counter()
            res["ours"] = denoise(v.noisy, model)
            timing["ours"] += time.perf_counter() - t0
        if "guard" in args.methods:  # ours as `denoise --gain 1 --offset 0` runs it: the guard where the image is outside the model's range
            from napari_lowdose.core.choose import guard_by_default
            from napari_lowdose.core.guard import guard_plane

            t0 = time.perf_counter()
            net = res["ours"] if "ours" in res else denoise(v.noisy, model)
            if guard_by_default(model.card, v.pixel_size, v.noisy):  # raw counts (as tk-r-em is fed): gain 1, offset 0
                res["guard"], _, note = guard_plane(v.noisy, net, lambda x: denoise(x, model), 1.0, 0.0)
            else:
                res["guard"], note = net, "inside the model's range: no guard"
            timing["guard"] += time.perf_counter() - t0
            row_notes[key] = note
        if "adapt" in args.methods and v.dose in doses[v.modality][: args.adapt_doses]:
            t0 = time.perf_counter()
            adapted, report = adapt(v.noisy, model, seconds=args.adapt_seconds)
            res["adapt"] = denoise(v.noisy, adapted)
            timing["adapt"] += time.perf_counter() - t0
        row = {"scene": v.name, "category": category(v.name), "modality": v.modality, "dose": v.dose, "pixel_size": v.pixel_size}
        if key in row_notes:
            row["guard_note"] = row_notes[key]
        for m, img in res.items():
            p, s = score(np.asarray(img, np.float64), v.truth.astype(np.float64))
            row[f"{m}_psnr"], row[f"{m}_ssim"] = round(p, 3), round(s, 4)
        if old:
            for k, val in old.get((v.name, v.dose), {}).items():
                if k.endswith(("_psnr", "_ssim")) and k.rsplit("_", 1)[0] not in args.methods:
                    row.setdefault(k, val)
        rows.append(row)
        print(f"{v.name:<36} {v.dose:>6g}  " + "  ".join(f"{m} {row[f'{m}_psnr']:.2f}" for m in ALL_METHODS if f"{m}_psnr" in row), flush=True)
    table = summary(rows)
    print(table)
    print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in timing.items()))
    if args.json:
        args.json.write_text(json.dumps({"models": models, "rows": rows, "seconds": timing}, indent=1) + "\n")
    if args.markdown:
        args.markdown.write_text(table + "\n")
    if args.figure:
        figure(images, outputs, args.figure)


def summary(rows: list[dict]) -> str:
    methods = [m for m in ALL_METHODS if any(f"{m}_psnr" in r for r in rows)]
    cells: dict[tuple[str, float], list[dict]] = defaultdict(list)
    for r in rows:
        cells[(r["category"], r["dose"])].append(r)
    guard = "guard" in methods
    head = "| images | e⁻/px | n | " + " | ".join(methods) + " | ours − tk-r-em | ours − Gaussian |" + (" guard − tk-r-em | guard − Gaussian |" if guard else "")
    lines = [head, "|" + "---|" * (len(methods) + 5 + 2 * guard)]
    for (cat, dose), rs in sorted(cells.items()):
        def mean(m, kind="psnr"):
            vals = [r[f"{m}_{kind}"] for r in rs if f"{m}_{kind}" in r]
            return np.mean(vals) if vals else np.nan
        vals = " | ".join(f"{mean(m):.2f} / {mean(m, 'ssim'):.3f}" if not np.isnan(mean(m)) else "–" for m in methods)
        d_tk = mean("ours") - mean("tkrem")
        d_g = mean("ours") - mean("gaussian")
        extra = f" {mean('guard') - mean('tkrem'):+.2f} | {mean('guard') - mean('gaussian'):+.2f} |" if guard else ""
        lines.append(f"| {cat} | {dose:g} | {len(rs)} | {vals} | {d_tk:+.2f} | {d_g:+.2f} |{extra}")
    return "PSNR dB / SSIM after an affine match, mean over the scenes of each cell\n\n" + "\n".join(lines)


def figure(images, outputs, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = []
    for prefix, label in CATEGORIES:
        cands = [v for v in images if v.name.startswith(prefix)]
        if cands:
            lowest = sorted({v.dose for v in cands})[1] if len({v.dose for v in cands}) > 1 else cands[0].dose
            picks.append(next(v for v in cands if v.dose == lowest))
    methods = [m for m in ("noisy", "gaussian", "bm3d", "tkrem", "ours", "guard", "adapt") if any(m in outputs[(v.name, v.dose)] for v in picks)]
    fig, axes = plt.subplots(len(picks), len(methods) + 1, figsize=(1.9 * (len(methods) + 1), 2.0 * len(picks)))
    axes = np.atleast_2d(axes)
    for i, v in enumerate(picks):
        lo, hi = np.percentile(v.truth, [0.5, 99.5])
        for j, m in enumerate(methods + ["truth"]):
            ax = axes[i, j]
            img = v.truth if m == "truth" else outputs[(v.name, v.dose)].get(m)
            if img is not None:
                from napari_lowdose.core.metrics import affine_match

                shown = img if m in ("truth",) else affine_match(np.asarray(img, np.float64), v.truth.astype(np.float64))
                ax.imshow(shown, cmap="gray", vmin=lo, vmax=hi)
                if m not in ("truth",):
                    p, _ = score(np.asarray(img, np.float64), v.truth.astype(np.float64))
                    ax.set_xlabel(f"{p:.1f} dB", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title({"tkrem": "tk-r-em", "gaussian": "oracle Gaussian", "bm3d": "BM3D (oracle σ)", "adapt": "ours + adapt", "ours": "ours, network alone", "guard": "ours (default)"}.get(m, m), fontsize=8)
        axes[i, 0].set_ylabel(f"{category(v.name)}\n{v.dose:g} e⁻/px", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
