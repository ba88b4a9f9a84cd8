"""Do the denoisers keep each atomic column's own intensity, or paint every column like its neighbours?

    python benchmarks/column_fidelity.py [--json OUT.json] [--no-tkrem]

A crystal's columns differ from one another (vacancies: 3-5 % of the cations of the abTEM crystals
are missing, so a column holds one atom fewer here and there) as well as by species (Sr against Ti-O
columns). A filter that averages unit cells (a lattice or Bragg filter, the guard's lattice filter of
core/spectrum/wiener.py) keeps the species contrast but can erase the vacancies. This benchmark
measures that, on the abTEM crystals of the independent set (benchmarks/abtem/validation.py):

* columns: local maxima of the truth (7 x 7 px neighbourhood, above the image's median), intensity =
  mean over a disc of 3 px radius, in the truth and in each method's result (after the affine match);
* species: the columns split in two classes by the truth's intensity (the larger gap in the sorted
  intensities); within each class the mean is taken off;
* score: the Pearson correlation of the within-class deviations, result against truth (1: every
  column's own brightness kept; 0: columns painted alike). The noisy image itself shows how much of
  the deviation the dose lets one see at all.

Methods: noisy, the oracle Gaussian (best σ with the truth), ours with the guard as ``denoise --guard
auto --gain 1 --offset 0`` runs it (benchmarks/eval_independent.py's ``guard``), tk-r-em 1.0.4
(sfr_hrstem, its own venv: benchmarks/peers).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "abtem"))
sys.path.insert(0, str(HERE / "peers"))

from validation import iter_validation  # noqa: E402

from napari_lowdose.core.evaluate import affine_match, best_gaussian  # noqa: E402

RADIUS = 3  #: px, the disc a column's intensity is averaged over


def columns(truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels image of column discs, number of columns): local maxima of the truth, 4 px from the edge."""
    t = ndimage.gaussian_filter(truth.astype(np.float64), 1.0)
    peaks = (t == ndimage.maximum_filter(t, 7)) & (t > np.median(t))
    peaks[:4], peaks[-4:], peaks[:, :4], peaks[:, -4:] = False, False, False, False
    markers, n = ndimage.label(peaks)
    disc = ndimage.generate_binary_structure(2, 1)
    labels = ndimage.grey_dilation(markers, footprint=ndimage.iterate_structure(disc, RADIUS))
    return labels, n


def fidelity(result: np.ndarray, truth: np.ndarray, labels: np.ndarray, n: int) -> float:
    """Pearson r of the columns' within-species deviations, result (affine-matched) against truth."""
    idx = np.arange(1, n + 1)
    t = np.asarray(ndimage.mean(truth, labels, idx))
    r = np.asarray(ndimage.mean(affine_match(result, truth), labels, idx))
    order = np.argsort(t)
    gap = int(np.argmax(np.diff(t[order])))  # two species: split at the largest gap
    species = np.zeros(n, bool)
    species[order[gap + 1 :]] = True
    dt, dr = t.copy(), r.copy()
    for s in (False, True):
        m = species == s
        dt[m] -= t[m].mean()
        dr[m] -= r[m].mean()
    return float(np.corrcoef(dt, dr)[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--no-tkrem", action="store_true", help="leave tk-r-em out (no TensorFlow venv)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from napari_lowdose.core.choose import choose_model
    from napari_lowdose.core.guard import guard_plane
    from napari_lowdose.core.model import load_model
    from napari_lowdose.core.tiling import denoise

    images = [v for v in iter_validation(modality="haadf") if v.name.startswith("val_haadf_xtal")]
    tk = {}
    if not args.no_tkrem:
        from tkrem import restore

        tk = restore({f"{v.name}@{v.dose:g}": v.noisy for v in images}, "sfr_hrstem")
    models: dict[str, object] = {}
    rows = []
    for v in images:
        name = choose_model("stem", v.pixel_size)[0]
        model = models.setdefault(name, load_model(name))
        net = denoise(v.noisy, model)
        ours, _, note = guard_plane(v.noisy, net, lambda x: denoise(x, model), 1.0, 0.0)
        labels, n = columns(v.truth)
        res = {"noisy": v.noisy, "gaussian": best_gaussian(v.noisy, v.truth)[0], "ours": ours}
        if tk:
            res["tkrem"] = tk[f"{v.name}@{v.dose:g}"]
        row = {"scene": v.name, "dose": v.dose, "columns": n, "guard_note": note}
        row.update({m: round(fidelity(img, v.truth, labels, n), 3) for m, img in res.items()})
        rows.append(row)
        print(f"{v.name[10:]:22s} {v.dose:6g} {n:4d} columns  " + "  ".join(f"{m} {row[m]:.2f}" for m in res), flush=True)
    methods = [m for m in ("noisy", "gaussian", "tkrem", "ours") if m in rows[0]]
    print("\n| e⁻/px | " + " | ".join(methods) + " |\n|---|" + "---|" * len(methods))
    for dose in sorted({r["dose"] for r in rows}):
        sel = [r for r in rows if r["dose"] == dose]
        print(f"| {dose:g} | " + " | ".join(f"{np.mean([r[m] for r in sel]):.2f}" for m in methods) + " |")
    if args.json:
        args.json.write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
