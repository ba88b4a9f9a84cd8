"""Our own simulator's images of the independent set's kind, to tell whether a model's failure there is
learnable from the simulator (then more training helps) or a mismatch between simulators.

    python benchmarks/own_particles.py [MODEL ...]      (default: haadf)

Four nanoparticle scenes made by ``core.simulate`` (Au [110], Pt [100], Pd [111], Au [211]; two in zone
axis, two not; 18-24 Å particles on 25 Å of amorphous carbon) at 0.22 Å/px, 128 x 128, imaged as the
abTEM set is (200 kV, 20 mrad, Cs 1 µm, 0.3 Å source), Poisson counts scaled to the abTEM set's mean
detector fraction (0.0027) at 10, 40 and 160 incident e⁻/px. Prints, per dose, the mean PSNR after an
affine match of the oracle Gaussian and of each model. Our simulator: for diagnosis, never for the
claims of docs/model.md's table (that is eval_independent.py).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from napari_lowdose.core.evaluate import best_gaussian, score
from napari_lowdose.core.model import load_model
from napari_lowdose.core.simulate.optics import STEMProbe
from napari_lowdose.core.simulate.scene import AtomicScene, simulate_atomic
from napari_lowdose.core.tiling import denoise

SCENES = (("Au", (1, 1, 0)), ("Pt", (1, 0, 0)), ("Pd", (1, 1, 1)), ("Au", (2, 1, 1)))
MEAN_FRACTION = 0.0027  #: mean detector fraction of the abTEM validation truths (0.0011-0.0039)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=["haadf"])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = {m: load_model(m) for m in args.models}
    res: dict[float, list[list[float]]] = {}
    for i, (el, zone) in enumerate(SCENES):
        scene = AtomicScene(structure=el, kind="particles", shape=(128, 128), pixel_size=0.22, particles=1,
                            particle_diameter=(18, 24), particles_in_zone=(i % 2 == 0), zone=zone, support="C",
                            support_thickness=25, probe=STEMProbe(voltage_kv=200, convergence_mrad=20, defocus=0, cs_mm=0.001, source_size=0.3))
        truth = simulate_atomic(scene, seed=i).astype(np.float64)
        rng = np.random.default_rng(i)
        for dose in (10.0, 40.0, 160.0):
            noisy = rng.poisson(dose * truth * (MEAN_FRACTION / truth.mean())).astype(np.float32)
            row = [score(best_gaussian(noisy, truth)[0], truth)[0]]
            row += [score(denoise(noisy, m).astype(np.float64), truth)[0] for m in models.values()]
            res.setdefault(dose, []).append(row)
    print("| e⁻/px | oracle Gaussian | " + " | ".join(args.models) + " |")
    print("|---|" + "---|" * (1 + len(models)))
    for dose, rows in sorted(res.items()):
        print(f"| {dose:g} | " + " | ".join(f"{v:.2f}" for v in np.mean(rows, 0)) + " |")


if __name__ == "__main__":
    main()
