"""Montage PNG (HAADF shown as sqrt) and markdown table of the abTEM reference images (numpy + matplotlib).

    PYTHONPATH=src /work/main/.venv/bin/python benchmarks/abtem/make_report.py
writes benchmarks/abtem/data/montage.png and prints the README table.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent / "data"


def load_all(data_dir: Path):
    rows = []
    for f in sorted(data_dir.glob("*.npz")):
        with np.load(f) as z:
            rows.append({"scene": json.loads(str(z["scene"])), "abtem": json.loads(str(z["abtem"])),
                         "image": np.asarray(z["image"]), "wall": float(z["wall_time_s"]),
                         "group_size": int(z["group_size"])})
    return rows


def settings_text(r) -> str:
    a, s = r["abtem"], r["scene"]
    samp = "x".join(f"{v:.4f}" for v in a["sampling"])
    if s["modality"] == "haadf":
        interp = "x".join(map(str, a["interpolation"]))
        scan = "x".join(map(str, a["scan_gpts"]))
        tiled = "" if a["tiled"] == [1, 1] else f", scan 1 period, tiled {a['tiled'][0]}x{a['tiled'][1]}"
        return (f"PRISM, {samp} Å, {a['slice_thickness']:.2f} Å slices, interp {interp}, "
                f"scan {scan}{tiled}, {a['frozen_phonons']} FP, "
                f"{s['probe']['convergence_mrad']:g} mrad, det {s['detector']['inner_mrad']:g}-"
                f"{s['detector']['outer_mrad']:g} mrad")
    o = s["optics"]
    return (f"plane wave, {samp} Å, {a['slice_thickness']:.2f} Å slices, {a['frozen_phonons']} FP, "
            f"df {o['defocus']:g} Å, Cs {o['cs_mm']:g} mm, ap {o['aperture']:g} 1/Å, "
            f"fs {o['focal_spread']:g} Å, conv {o['convergence_mrad']:g} mrad")


def table(rows) -> str:
    out = ["| scene | modality | pixel (Å) | shape (ny, nx) | thickness (Å) | abTEM settings | wall time (s) |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        s = r["scene"]
        wall = f"{r['wall']:.0f}" + (f" (group of {r['group_size']})" if r["group_size"] > 1 else "")
        out.append(f"| {s['name']} | {s['modality']} | {s['pixel_size']:.4f} | {s['shape'][0]}x{s['shape'][1]} "
                   f"| {s['thickness']:.1f} | {settings_text(r)} | {wall} |")
    return "\n".join(out)


def montage(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(rows)
    cols = 8
    nrow = math.ceil(n / cols)
    fig, axes = plt.subplots(nrow, cols, figsize=(2.2 * cols, 2.45 * nrow))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, r in zip(np.ravel(axes), rows):
        img = r["image"]
        s = r["scene"]
        # HAADF shown as sqrt so that the weak carbon support stays visible next to metal columns
        shown = np.sqrt(np.clip(img, 0, None)) if s["modality"] == "haadf" else img
        lo, hi = np.percentile(shown, [0.5, 99.8])
        ax.imshow(shown, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(f"{s['name'].replace('_haadf', ' H').replace('_hrtem', ' T')}\n"
                     f"{s['pixel_size']:.2f} Å/px, mean {img.mean():.3g}", fontsize=6)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA_DIR)
    args = ap.parse_args(argv)
    rows = load_all(args.data)
    montage(rows, args.data / "montage.png")
    print(table(rows))
    total = {}
    for r in rows:
        key = r["scene"].get("group", r["scene"]["name"])
        total[key] = r["wall"]
    print(f"\ntotal abTEM wall time: {sum(total.values()):.0f} s over {len(total)} runs")


if __name__ == "__main__":
    main()
