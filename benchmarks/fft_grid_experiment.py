"""The FFT-friendly internal grid (adopted for issue 16) against a wider specimen: does it change the physics?

    python benchmarks/fft_grid_experiment.py haadf|hrtem [--seed 5] [--scenes 14] [--reference 40]

``scene.render`` widens the pad round the field until the internal grid's side is a fast FFT length
(``scene.padding``) and ``build_specimen`` fills that pad with the specimen. For random training crystals
(the training distribution, defects off so that every margin holds the same atoms, at most 0.5 Å/px)
this renders the same atoms three ways: (old) a 6 Å specimen margin and the old pad (vacuum up to the next
pixel), (A) a 6 Å margin and the widened pad (more vacuum), (B) the widened pad filled with the specimen
(what training now does), and compares each with a reference whose specimen reaches ``--reference`` Å
beyond the field (Pearson r over the field and 32 px inside it). One thread; prints one row per scene.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from napari_lowdose.core.simulate import scene as scn  # noqa: E402
from napari_lowdose.core.simulate import specimen as spm  # noqa: E402
from napari_lowdose.core.simulate.atomic import Specimen  # noqa: E402
from napari_lowdose.core.train import SimDistribution  # noqa: E402


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def render_old(specimen: Specimen, scene: scn.AtomicScene, margin: float) -> np.ndarray:
    """The render before the change: pad = ceil(margin / pixel size), whatever its FFT length."""
    return scn.render(specimen, scene, margin, pad=math.ceil(margin / scene.pixel_size)).astype(np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modality", choices=("haadf", "hrtem"))
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--scenes", type=int, default=14)
    parser.add_argument("--reference", type=float, default=40.0, help="Å of specimen beyond the field for the reference")
    args = parser.parse_args()
    dist, rng, ref_margin = SimDistribution(atomic_fraction=1.0), np.random.default_rng(args.seed), args.reference
    rows, k = [], 0
    while k < args.scenes:
        sc = dist._sample_atomic(rng, 256, args.modality)[0]
        if sc.kind == "particles" or sc.pixel_size > 0.5:
            continue
        k += 1
        sc = dataclasses.replace(sc, defects=spm.Defects())
        ref_spec = scn.build_specimen(sc, np.random.default_rng([k, 1601]), ref_margin)

        def crop(m: float) -> Specimen:  # the reference's atoms within m of the field: the same lattice
            p, lo = ref_spec.positions, ref_margin - m
            keep = (p[:, 0] >= lo) & (p[:, 1] >= lo) & (p[:, 0] < ref_margin + sc.field[1] + m) & (p[:, 1] < ref_margin + sc.field[0] + m)
            return Specimen(ref_spec.symbols[keep], p[keep] - np.array([lo, lo, 0.0]), (sc.field[0] + 2 * m, sc.field[1] + 2 * m))

        filled = scn.padding(sc) * sc.pixel_size
        ref = scn.render(ref_spec, sc, ref_margin).astype(np.float64)
        images = (render_old(crop(scn.MARGIN), sc, scn.MARGIN), scn.render(crop(scn.MARGIN), sc, scn.MARGIN), scn.render(crop(filled), sc, filled))
        inner = (slice(32, -32), slice(32, -32))
        rows.append([pearson(im, ref) for im in images] + [pearson(np.asarray(im)[inner], ref[inner]) for im in images])
        o = sc.optics if args.modality == "hrtem" else sc.probe
        print(f"{sc.kind:8s} {sc.structure:8s} {sc.pixel_size:.3f} Å/px Cs {o.cs_mm:6.3f} mm defocus {o.defocus:7.1f} Å pad "
              f"{math.ceil(scn.MARGIN / sc.pixel_size)} -> {scn.padding(sc)} px; r against {ref_margin:.0f} Å: old {rows[-1][0]:.4f}, "
              f"A {rows[-1][1]:.4f}, B {rows[-1][2]:.4f}; 32 px inside: {rows[-1][3]:.4f}, {rows[-1][4]:.4f}, {rows[-1][5]:.4f}", flush=True)
    m = np.asarray(rows)
    for name, f in (("median", np.median), ("mean", np.mean)):
        v = f(m, axis=0)
        print(f"{args.modality} {name} r: old {v[0]:.4f}, A (vacuum) {v[1]:.4f}, B (filled, adopted) {v[2]:.4f}; 32 px inside: {v[3]:.4f}, {v[4]:.4f}, {v[5]:.4f}")


if __name__ == "__main__":
    main()
