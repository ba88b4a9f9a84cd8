"""The bundled models on images drawn from their own training distributions (everything random: scene,
optics, detector, read noise, dose, camera point spread, scan artifacts), with the held-out seed: a
broader test than eval_default.py's fixed settings. Reproduces the "Across the training distribution"
table in docs/model.md.

    python benchmarks/eval_distribution.py [--model haadf|hrtem|FILE ...] [--images 120] [--size 256] [--json results.json]
                                           [--distribution-of MODEL]   (another model's distribution, to compare two on one image set)

Per image: the oracle Gaussian (sigma chosen with the truth), the network alone, and the model as
``denoise`` runs it (with the card's refinement and its guard; for HRTEM also the refinement forced on).
Printed: model − oracle Gaussian (dB) per group of images, its mean, worst and how many images lose.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from napari_lowdose.core.evaluate import EVAL_SEED, distribution_from_card, evaluate_distribution
from napari_lowdose.core.model import load_model
from napari_lowdose.core.refine import refinement_check, wiener_refine
from napari_lowdose.core.tiling import denoise

DOSE_BINS = ((0.0, 3.0), (3.0, 30.0), (30.0, float("inf")))  #: electrons per pixel


def outputs(model):
    """The denoiser for :func:`evaluate_distribution`: the network once, then what denoise() would do."""

    def run(noisy: np.ndarray) -> dict[str, np.ndarray]:
        net = denoise(noisy, model, device="cpu", refine="none")
        if model.card.refine != "wiener":
            return {"network (as shipped)": net}
        check = refinement_check(noisy, net)  # what denoise(..., refine="auto") checks on each plane
        refined = wiener_refine(noisy, net, noise_variance=check.noise_variance)
        return {"network": net, "refined always": refined, "as shipped": net if check.reason else refined}

    return run


def groups(records: list[dict]) -> list[tuple[str, list[dict]]]:
    out = []
    cameras = [("", records)]
    if any(r["camera_psf_px"] > 0 for r in records):
        cameras = [("counting camera", [r for r in records if r["camera_psf_px"] == 0]),
                   ("camera point spread", [r for r in records if r["camera_psf_px"] > 0])]
    for cam, sub in cameras:
        for lo, hi in DOSE_BINS:
            sel = [r for r in sub if lo <= r["electrons_per_pixel"] < hi]
            label = f"{lo:g}–{hi:g} e⁻/px" if np.isfinite(hi) else f"≥ {lo:g} e⁻/px"
            out.append((f"{cam}, {label}" if cam else label, sel))
        out.append((f"{cam}, all" if cam else "all", sub))
    return out


def table(records: list[dict]) -> str:
    methods = [m for m in records[0]["psnr"] if m not in ("noisy", "gaussian")]
    head = "| images | n | oracle Gaussian − noisy | " + " | ".join(f"{m} − Gaussian: mean / worst (losing)" for m in methods) + " |"
    lines = [head, "|" + "---|" * (3 + len(methods))]
    for label, sel in groups(records):
        if not sel:
            continue
        gauss = np.array([r["psnr"]["gaussian"] for r in sel])
        cells = [f"{np.mean(gauss - [r['psnr']['noisy'] for r in sel]):+.2f} dB"]
        for m in methods:
            d = np.array([r["psnr"][m] for r in sel]) - gauss
            cells.append(f"{d.mean():+.2f} / {d.min():+.2f} dB ({int((d < 0).sum())})")
        lines.append(f"| {label} | {len(sel)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs="+", default=["haadf", "hrtem"], help="bundled names or model files")
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--size", type=int, default=256, help="px, side of each image")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--distribution-of", metavar="MODEL", help="draw from this model's training distribution instead of each model's own")
    args = parser.parse_args()
    fixed = load_model(args.distribution_of).card.trained_on if args.distribution_of else None
    result = {"held_out_seed": EVAL_SEED, "images": args.images, "size": args.size, "models": {}}
    for name in args.model:
        model = load_model(name)
        t0 = time.perf_counter()
        records = evaluate_distribution(distribution_from_card(fixed or model.card.trained_on), outputs(model), args.images, size=args.size)
        whose = f"{args.distribution_of}'s" if fixed else "its"
        print(f"\nmodel '{model.name}' ({model.path}), refine: {model.card.refine}; {args.images} images of {args.size}² from {whose} "
              f"training distribution, held-out seed {EVAL_SEED} ({time.perf_counter() - t0:.0f} s)\n")
        print(table(records))
        result["models"][model.name] = records
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
