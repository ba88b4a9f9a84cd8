"""docs/images/real-sto-denoised.png: a 256 x 256 crop of the real Velox HAADF image Acquisition_18.emd
(../shared/real-data), raw and denoised with the bundled default (HAADF-STEM) model, side by side.

    python scripts/real_example.py [PATH_TO_Acquisition_18.emd]
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from napari_lowdose import denoise
from napari_lowdose.io import read_image

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "real-data" / "Acquisition_18.emd"
    image = read_image(path)[0]
    raw = np.asarray(image.data, np.float32)[:256, :256]
    out = denoise(raw, device="cpu")
    fig, axes = plt.subplots(1, 2, figsize=(8, 4.2))
    for ax, img, title in zip(axes, (raw, out), ("raw", "denoised (HAADF-STEM model)")):
        lo, hi = np.percentile(img, [0.5, 99.5])
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(f"{title}, {image.pixel_size:.3f} Å/px")
        ax.axis("off")
    fig.tight_layout()
    target = ROOT / "docs" / "images" / "real-sto-denoised.png"
    fig.savefig(target, dpi=80)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
