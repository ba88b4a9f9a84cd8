"""Stage 12a of the haadf-atomic model (models/HISTORY.md): fine-tune ``haadf`` on 24 (noisy, noise-free)
pairs of the project's simulator (metal nanoparticles on amorphous carbon, 0.18-0.32 Å/px, 200/300 kV
corrected probes; electron counts: no analogue detector chain, no scan artifacts; 0.005-1.2 detected e⁻
per pixel on average), then score it on benchmarks/own_particles.py's scenes (other seeds).

    python scripts/train_haadf_atomic_pairs.py [START_MODEL] [MINUTES] [OUT] [PAIRS] [SEED] [LR]
        (defaults: haadf 12 narrow_ft 24 1234 2e-4)

Stage 12b continues from its result with ``napari-lowdose train ... --atomic-counting`` (the command is
in the haadf-atomic card)."""
import sys, time, numpy as np, torch
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
torch.set_num_threads(1)
from own_particles import SCENES, MEAN_FRACTION
from napari_lowdose.core.evaluate import best_gaussian, score
from napari_lowdose.core.finetune import FinetuneConfig, FineTuner, prepare_pair
from napari_lowdose.core.losses import LossConfig
from napari_lowdose.core.model import load_model, save_model
from napari_lowdose.core.progress import drive
from napari_lowdose.core.simulate.optics import STEMProbe
from napari_lowdose.core.simulate.scene import AtomicScene, simulate_atomic
from napari_lowdose.core.tiling import denoise
N_PAIRS = int(sys.argv[4]) if len(sys.argv) > 4 else 24
rng = np.random.default_rng(int(sys.argv[5]) if len(sys.argv) > 5 else 1234)
els = ["Au", "Pt", "Pd", "Ag", "Cu"]
pairs = []
for i in range(N_PAIRS):
    el = els[i % 5]
    zone = [(1, 1, 0), (1, 0, 0), (1, 1, 1), (2, 1, 1), (3, 1, 0)][int(rng.integers(5))]
    px = float(rng.uniform(0.18, 0.32))
    sc = AtomicScene(structure=el, kind="particles", shape=(192, 192), pixel_size=px, particles=int(rng.integers(1, 3)), particle_diameter=(15, 30),
                     particles_in_zone=bool(rng.random() < 0.5), zone=zone, support="C", support_thickness=float(rng.uniform(15, 40)),
                     probe=STEMProbe(voltage_kv=float(rng.choice([200, 300])), convergence_mrad=float(rng.uniform(18, 30)), defocus=0, cs_mm=0.001, source_size=float(rng.uniform(0.2, 0.5))))
    truth = simulate_atomic(sc, seed=1000 + i).astype(np.float64)
    dose = float(np.exp(rng.uniform(np.log(5), np.log(300))))
    lam = dose * truth * (float(rng.uniform(0.001, 0.004)) / truth.mean())
    noisy = rng.poisson(lam).astype(np.float32)
    pairs.append(prepare_pair(noisy, lam.astype(np.float32), name=f"p{i}", correct_shift=False, match_intensity=False, min_significance=0.0, max_shift_fraction=1.0))
print("pairs ready", flush=True)
base = load_model(sys.argv[1] if len(sys.argv) > 1 else "haadf")
cfg = FinetuneConfig(minutes=float(sys.argv[2]) if len(sys.argv) > 2 else 12, lr=float(sys.argv[6]) if len(sys.argv) > 6 else 2e-4, loss=LossConfig.named("l2"), clean_reference=False, batch=8, patch=96)
tuner = FineTuner(base, pairs, cfg)
tuned = drive(tuner.run())
print(tuner.summary(), flush=True)
save_model(tuned, sys.argv[3] if len(sys.argv) > 3 else "narrow_ft")
res = {}
for i, (el, zone) in enumerate(SCENES):
    scene = AtomicScene(structure=el, kind="particles", shape=(128, 128), pixel_size=0.22, particles=1, particle_diameter=(18, 24), particles_in_zone=(i % 2 == 0), zone=zone, support="C", support_thickness=25, probe=STEMProbe(voltage_kv=200, convergence_mrad=20, defocus=0, cs_mm=0.001, source_size=0.3))
    truth = simulate_atomic(scene, seed=i).astype(np.float64)
    r = np.random.default_rng(i)
    for dose in (10.0, 40.0, 160.0):
        noisy = r.poisson(dose * truth * (MEAN_FRACTION / truth.mean())).astype(np.float32)
        res.setdefault(dose, []).append([score(best_gaussian(noisy, truth)[0], truth)[0], score(denoise(noisy, base).astype(float), truth)[0], score(denoise(noisy, tuned).astype(float), truth)[0]])
for d, rows in sorted(res.items()):
    print(d, "gauss/base/tuned", " ".join(f"{v:.2f}" for v in np.mean(rows, 0)))
