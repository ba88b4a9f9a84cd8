"""The shipped sample: a simulated low-dose / high-dose pair of gold islands on amorphous carbon.

The files in ``napari_lowdose.sample_data`` (``sample_data/`` in the repository) are made by
:func:`write_sample_files` from the deterministic simulator; nothing is downloaded at run time.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from .core.simulate import Acquisition, SceneConfig, SimulatedPair, simulate_pair
from .io import read_image, write_image

SAMPLE_SEED = 20251218
SAMPLE_SCENE = SceneConfig(shape=(1024, 1024), pixel_size=5.0)
SAMPLE_LOW = Acquisition(dose=0.681, dwell_us=1.0)  # the seed's 1 µs images (0.681 e-/Å², 200 kV)
SAMPLE_HIGH = Acquisition(dose=2.723, dwell_us=4.0)  # the seed's 4 µs reference (2.723 e-/Å²)
LOW_FILE = "gold_islands_1us.tif"
HIGH_FILE = "gold_islands_4us.tif"
CARD_FILE = "sample.json"


def generate_sample() -> SimulatedPair:
    return simulate_pair(SAMPLE_SCENE, SAMPLE_LOW, SAMPLE_HIGH, seed=SAMPLE_SEED)


def write_sample_files(folder: str | Path) -> list[Path]:
    """Simulate the sample pair and write it (TIFF with pixel size) plus a JSON card to ``folder``."""
    folder = Path(folder)
    pair = generate_sample()
    low = write_image(folder / LOW_FILE, pair.low, pixel_size=pair.pixel_size)
    high = write_image(folder / HIGH_FILE, pair.high, pixel_size=pair.pixel_size)
    card = folder / CARD_FILE
    card.write_text(json.dumps({"files": {"low": LOW_FILE, "high": HIGH_FILE}, **pair.metadata()}, indent=2) + "\n")
    return [low, high, card]


def sample_folder() -> Path:
    return Path(str(resources.files("napari_lowdose.sample_data")))


def sample_paths() -> tuple[Path, Path]:
    folder = sample_folder()
    return folder / LOW_FILE, folder / HIGH_FILE


def lowdose_pair() -> list[tuple]:
    """npe2 sample-data command: the 1 µs (noisy) and 4 µs (reference) images as two layers."""
    low_path, high_path = sample_paths()
    layers = []
    for path, name in ((low_path, "gold 1 µs (low dose)"), (high_path, "gold 4 µs (reference)")):
        image = read_image(path)[0]
        kwargs = image.layer_kwargs()
        kwargs["name"] = name
        layers.append((image.data, kwargs, "image"))
    return layers
