"""Train a model on simulated data and write it with a complete card (command, seed, steps, wall time,
hardware, held-out metrics).

    python scripts/train_default.py --steps 600 --batch 4 --minutes 15 -o src/napari_lowdose/models/default

Held-out evaluation: simulated images from a seed never used in training, PSNR (dB, against the
noise-free target, data range of the target) of the noisy input and of the model's output.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from napari_lowdose.core.model import save_model
from napari_lowdose.core.progress import drive
from napari_lowdose.core.tiling import denoise
from napari_lowdose.core.train import SimTrainConfig, iter_train_simulated, simulate_training_pair

HELD_OUT_SEED = 987_654_321  # never used for training


def psnr(x: np.ndarray, ref: np.ndarray) -> float:
    rng = float(ref.max() - ref.min()) or 1.0
    return float(10 * np.log10(rng**2 / np.mean((x.astype(np.float64) - ref) ** 2)))


def evaluate(model, cfg: SimTrainConfig, n: int = 12) -> dict:
    rng = np.random.default_rng(HELD_OUT_SEED)
    noisy_db, out_db = [], []
    for _ in range(n):
        noisy, clean = simulate_training_pair(rng, cfg)
        noisy_db.append(psnr(noisy, clean))
        out_db.append(psnr(denoise(noisy, model, device="cpu"), clean))
    return {
        "held_out_seed": HELD_OUT_SEED,
        "images": n,
        "psnr_noisy_db": round(float(np.mean(noisy_db)), 2),
        "psnr_denoised_db": round(float(np.mean(out_db)), 2),
        "psnr_gain_db": round(float(np.mean(out_db) - np.mean(noisy_db)), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--patch", type=int, default=128)
    parser.add_argument("--minutes", type=float, default=None, help="stop after this wall time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="default")
    parser.add_argument("--description", default="")
    parser.add_argument("-o", "--output", type=Path, required=True, help="NAME (writes NAME.safetensors and NAME.json)")
    args = parser.parse_args()

    log_path = args.output.with_suffix(".log")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", handlers=[logging.FileHandler(log_path), logging.StreamHandler()])
    cfg = SimTrainConfig(steps=args.steps, batch=args.batch, patch=args.patch, seed=args.seed, max_seconds=args.minutes * 60 if args.minutes else None)
    logging.info("config %s", cfg)
    t0 = time.perf_counter()
    losses = []

    def log(p) -> None:
        losses.append(p.loss)
        if p.step % 20 == 0 or p.step == 1:
            logging.info("step %d/%d loss %.4f (mean of last 20: %.4f) %.0f s", p.step, p.steps, p.loss, np.mean(losses[-20:]), p.seconds)

    model = drive(iter_train_simulated(cfg), log)
    wall = time.perf_counter() - t0
    metrics = evaluate(model, cfg)
    logging.info("held-out: %s", metrics)
    model.card.name = args.name
    model.card.description = args.description or "U-Net trained on the project's simulator (gold islands on amorphous carbon, HAADF-STEM-like, with scan artifacts), L1 to the noise- and artifact-free image."
    model.card.trained_on = {
        "data": "napari_lowdose.core.simulate: HAADF-STEM-like gold islands on amorphous carbon",
        "pixel_sizes_A": list(cfg.pixel_sizes),
        "dose_e_per_A2": list(cfg.doses),
        "artifact_scale": list(cfg.artifact_scale),
        "target": "noise- and artifact-free image in detector units",
    }
    model.card.training = {
        "command": " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).name, *sys.argv[1:]]),
        "seed": cfg.seed,
        "steps": len(losses),
        "batch": cfg.batch,
        "patch": cfg.patch,
        "loss": "L1",
        "final_loss_mean_last_20": round(float(np.mean(losses[-20:])), 5),
        "wall_time_s": round(wall, 1),
        "hardware": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} CPU threads, torch {torch.__version__}",
    }
    model.card.metrics = metrics
    path = save_model(model, args.output)
    logging.info("wrote %s and %s", path, path.with_suffix(".json"))
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
