"""Figure: what the guard does on an independent (abTEM) HAADF image the haadf model does not fit.

    python benchmarks/guard_figure.py [--scene val_haadf_np1_pt_decahedron] [-o docs/images/guard.png]

Rows: two doses; columns: noisy counts, oracle Gaussian, ours (network alone), ours + guard (gain 1,
offset 0: raw counts), the truth; PSNR after an affine match under each panel.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "abtem"))

from validation import iter_validation  # noqa: E402

from napari_lowdose.core.evaluate import best_gaussian, score  # noqa: E402
from napari_lowdose.core.guard import guard_plane  # noqa: E402
from napari_lowdose.core.metrics import affine_match  # noqa: E402
from napari_lowdose.core.model import load_model  # noqa: E402
from napari_lowdose.core.tiling import denoise  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scene", default="val_haadf_np1_pt_decahedron")
    ap.add_argument("--doses", type=float, nargs="+", default=[40.0, 160.0])
    ap.add_argument("-o", "--output", type=Path, default=HERE.parent / "docs" / "images" / "guard.png")
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model = load_model("haadf")
    picks = [v for v in iter_validation() if v.name == args.scene and v.dose in args.doses]
    fig, axes = plt.subplots(len(picks), 5, figsize=(10, 2.1 * len(picks)))
    axes = np.atleast_2d(axes)
    for i, v in enumerate(picks):
        truth = v.truth.astype(np.float64)
        net = denoise(v.noisy, model)
        guarded, choice, note = guard_plane(v.noisy, net, lambda x: denoise(x, model), 1.0, 0.0)
        print(f"{v.name} {v.dose:g} e/px: {note}")
        panels = {"noisy": v.noisy, "oracle Gaussian": best_gaussian(v.noisy, truth)[0], "ours (network)": net,
                  "ours + guard": guarded, "truth": truth}
        lo, hi = np.percentile(truth, [0.5, 99.5])
        for j, (title, img) in enumerate(panels.items()):
            ax = axes[i, j]
            shown = truth if title == "truth" else affine_match(np.asarray(img, np.float64), truth)
            ax.imshow(shown, cmap="gray", vmin=lo, vmax=hi)
            ax.set_xticks([])
            ax.set_yticks([])
            if title != "truth":
                ax.set_xlabel(f"{score(np.asarray(img, np.float64), truth)[0]:.1f} dB", fontsize=8)
            if i == 0:
                ax.set_title(title, fontsize=9)
        axes[i, 0].set_ylabel(f"{v.dose:g} e⁻/px", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
