"""Train the bundled segmented-detector model (issue 19) on the project's simulator.

    python scripts/train_segmented.py generate --train 200 --val 16        # noise-free samples -> runs/segmented_data.npz
    python scripts/train_segmented.py train --minutes 20 -o src/napari_lowdose/models/segmented                        # shipped
    python scripts/train_segmented.py train --minutes 20 --steps 1172 --no-metadata -o runs/segmented-nometa           # ablation

Run with one thread and low priority (OMP_NUM_THREADS=1 nice -n 10); the log is printed line by line.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from napari_lowdose.core.progress import drive  # noqa: E402
from napari_lowdose.core.segmented.learned import save_segmented  # noqa: E402
from napari_lowdose.core.segmented.simulate import simulate_segments  # noqa: E402
from napari_lowdose.core.segmented.train import SegTrainConfig, iter_train_segmented, random_scene  # noqa: E402

DATA = ROOT / "runs" / "segmented_data.pkl"


def generate(n_train: int, n_val: int, seed: int) -> None:
    DATA.parent.mkdir(exist_ok=True)
    out = {"train": [], "val": []}
    t0 = time.time()
    for part, n, s0 in (("val", n_val, 900_000 + seed), ("train", n_train, seed)):
        for i in range(n):
            rng = np.random.default_rng([s0, i])
            scene = random_scene(rng)
            out[part].append(simulate_segments(scene, seed=s0 * 1000 + i))
            print(f"{part} {i + 1}/{n} {scene.structure} t={scene.thickness:.0f} Å {time.time() - t0:.0f} s", flush=True)
            if (i + 1) % 20 == 0 or i + 1 == n:
                tmp = DATA.with_suffix(".tmp")
                tmp.write_bytes(pickle.dumps(out))
                tmp.replace(DATA)


def train(minutes: float, metadata: bool, output: Path, seed: int, steps: int | None = None) -> None:
    torch.set_num_threads(1)
    data = pickle.loads(DATA.read_bytes())
    cfg = SegTrainConfig(minutes=minutes, steps=steps, metadata=metadata, seed=seed)
    print(f"training on {len(data['train'])} samples, validating on {len(data['val'])}; {cfg}", flush=True)
    model = drive(iter_train_segmented(data["train"], data["val"], cfg),
                  lambda r: print(json.dumps({k: round(v, 6) if isinstance(v, float) else v for k, v in r.items()}), flush=True))
    model.card["training"]["command"] = " ".join(sys.argv)
    path = save_segmented(model, output)
    print(f"wrote {path} (best step {model.card['training']['best_step']}, val loss {model.card['training']['best_val_loss']:.5f})", flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--train", type=int, default=200)
    g.add_argument("--val", type=int, default=16)
    g.add_argument("--seed", type=int, default=1)
    t = sub.add_parser("train")
    t.add_argument("--minutes", type=float, default=20.0)
    t.add_argument("--no-metadata", action="store_true")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--steps", type=int, default=None, help="stop after this many steps (or --minutes, whichever first)")
    t.add_argument("-o", "--output", type=Path, required=True)
    a = p.parse_args()
    if a.cmd == "generate":
        generate(a.train, a.val, a.seed)
    else:
        train(a.minutes, not a.no_metadata, a.output, a.seed, a.steps)


if __name__ == "__main__":
    main()
