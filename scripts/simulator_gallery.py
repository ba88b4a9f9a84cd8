"""docs/images/simulator-gallery.png: what the simulator of atoms makes (random training scenes, noise-free
and at a low dose).

    python scripts/simulator_gallery.py
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from napari_lowdose.core.simulate import Acquisition, ScanArtifacts, acquire  # noqa: E402
from napari_lowdose.core.simulate.scene import random_atomic_scene, simulate_atomic  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "images" / "simulator-gallery.png"


def main() -> None:
    picks = [("haadf", 2), ("haadf", 7), ("haadf", 8), ("haadf", 11), ("hrtem", 12), ("hrtem", 16)]
    fig, axes = plt.subplots(2, len(picks), figsize=(2.6 * len(picks), 5.6))
    for k, (modality, seed) in enumerate(picks):
        scene = random_atomic_scene(np.random.default_rng(seed), modality, 256)
        truth = simulate_atomic(scene, seed)
        electrons = 20.0 if modality == "haadf" else 5.0
        acq = Acquisition(dose=electrons / scene.pixel_size**2, artifacts=ScanArtifacts().scaled(0.5) if modality == "haadf" else ScanArtifacts.none(),
                          detector_gain=1.0, detector_offset=0.0, read_noise=0.0)
        noisy = acquire(truth, scene.pixel_size, acq, seed=seed)
        axes[0, k].imshow(truth, cmap="gray")
        where = "random orientations" if scene.kind == "particles" else f"zone {list(scene.zone)}"
        axes[0, k].set_title(f"{modality.upper()} {scene.kind}: {scene.structure}\n{scene.pixel_size:.2f} Å/px, {where}", fontsize=7)
        axes[1, k].imshow(noisy, cmap="gray")
        axes[1, k].set_title(f"{electrons:g} e⁻/px", fontsize=7)
        for ax in axes[:, k]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("noise-free", fontsize=8)
    axes[1, 0].set_ylabel("low dose", fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT, dpi=90)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
