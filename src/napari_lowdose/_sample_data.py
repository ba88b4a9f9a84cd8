"""The shipped samples: simulated low-dose / high-dose pairs of gold islands on amorphous carbon
(particle scale, 5 Å per pixel) and of platinum nanoparticles on amorphous carbon (atomic resolution,
0.25 Å per pixel, simulated from atoms).

The files in ``napari_lowdose.sample_data`` (``sample_data/`` in the repository) are made by
:func:`write_sample_files` from the deterministic simulator; nothing is downloaded at run time.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from .core.simulate import Acquisition, ScanArtifacts, SceneConfig, SimulatedPair, acquire, simulate_pair
from .core.simulate.scene import AtomicScene, simulate_atomic
import numpy as np

from .io import read_image, write_image

SAMPLE_SEED = 20251218
SAMPLE_SCENE = SceneConfig(shape=(1024, 1024), pixel_size=5.0)
SAMPLE_LOW = Acquisition(dose=0.681, dwell_us=1.0)  # the seed's 1 µs images (0.681 e-/Å², 200 kV)
SAMPLE_HIGH = Acquisition(dose=2.723, dwell_us=4.0)  # the seed's 4 µs reference (2.723 e-/Å²)
LOW_FILE = "gold_islands_1us.tif"
HIGH_FILE = "gold_islands_4us.tif"
CARD_FILE = "sample.json"

ATOMIC_SEED = 20261130
ATOMIC_SCENE = AtomicScene(
    structure="Pt", kind="particles", modality="haadf", shape=(512, 512), pixel_size=0.25, particles=2,
    particle_diameter=(28.0, 40.0), particles_in_zone=True, support="C", support_thickness=40.0,
)
ATOMIC_LOW = Acquisition(dose=300.0, dwell_us=1.0, artifacts=ScanArtifacts().scaled(0.5))  # 18.75 e- per probe position
ATOMIC_HIGH = Acquisition(dose=3000.0, dwell_us=4.0, artifacts=ScanArtifacts().scaled(0.5))
ATOMIC_LOW_FILE = "pt_particles_300e.tif"
ATOMIC_HIGH_FILE = "pt_particles_3000e.tif"
ATOMIC_CARD_FILE = "sample_atomic.json"


def generate_sample() -> SimulatedPair:
    return simulate_pair(SAMPLE_SCENE, SAMPLE_LOW, SAMPLE_HIGH, seed=SAMPLE_SEED)


def write_sample_files(folder: str | Path) -> list[Path]:
    """Simulate the sample pair and write it (TIFF with pixel size) plus a JSON card to ``folder``."""
    return _write_pair(Path(folder), generate_sample(), LOW_FILE, HIGH_FILE, CARD_FILE)


def _write_pair(folder: Path, pair: SimulatedPair, low_file: str, high_file: str, card_file: str, **meta) -> list[Path]:
    """Write a pair (TIFF with pixel size) and its JSON card (the pair's metadata, updated by ``meta``)."""
    low = write_image(folder / low_file, pair.low, pixel_size=pair.pixel_size)
    high = write_image(folder / high_file, pair.high, pixel_size=pair.pixel_size)
    card = folder / card_file
    card.write_text(json.dumps({"files": {"low": low_file, "high": high_file}, **(pair.metadata() | meta)}, indent=2) + "\n")
    return [low, high, card]


def generate_atomic_sample() -> SimulatedPair:
    """The atomic-resolution pair: two Pt nanoparticles in zone axes on amorphous carbon, HAADF-STEM."""
    truth = simulate_atomic(ATOMIC_SCENE, seed=ATOMIC_SEED)
    ss = np.random.SeedSequence(ATOMIC_SEED).spawn(2)
    low = acquire(truth, ATOMIC_SCENE.pixel_size, ATOMIC_LOW, seed=int(ss[0].generate_state(1)[0]))
    high = acquire(truth, ATOMIC_SCENE.pixel_size, ATOMIC_HIGH, seed=int(ss[1].generate_state(1)[0]))
    return SimulatedPair(low, high, truth, ATOMIC_SCENE.pixel_size, ATOMIC_LOW, ATOMIC_HIGH, ATOMIC_SCENE, ATOMIC_SEED)  # type: ignore[arg-type]


def write_atomic_sample_files(folder: str | Path) -> list[Path]:
    return _write_pair(Path(folder), generate_atomic_sample(), ATOMIC_LOW_FILE, ATOMIC_HIGH_FILE, ATOMIC_CARD_FILE,
                       simulator="napari_lowdose.core.simulate.scene (atoms)")


def atomic_sample_paths() -> tuple[Path, Path]:
    folder = sample_folder()
    return folder / ATOMIC_LOW_FILE, folder / ATOMIC_HIGH_FILE


def atomic_pair() -> list[tuple]:
    """npe2 sample-data command: the atomic-resolution Pt pair (300 and 3000 e-/Å²) as two layers."""
    return _layers(atomic_sample_paths(), ("Pt 300 e/Å² (low dose)", "Pt 3000 e/Å² (reference)"))


def _layers(paths, names) -> list[tuple]:
    layers = []
    for path, name in zip(paths, names):
        image = read_image(path)[0]
        kwargs = image.layer_kwargs()
        kwargs["name"] = name
        layers.append((image.data, kwargs, "image"))
    return layers


def sample_folder() -> Path:
    return Path(str(resources.files("napari_lowdose.sample_data")))


def sample_paths() -> tuple[Path, Path]:
    folder = sample_folder()
    return folder / LOW_FILE, folder / HIGH_FILE


def lowdose_pair() -> list[tuple]:
    """npe2 sample-data command: the 1 µs (noisy) and 4 µs (reference) images as two layers."""
    return _layers(sample_paths(), ("gold 1 µs (low dose)", "gold 4 µs (reference)"))
