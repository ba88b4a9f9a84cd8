"""Validation set of abTEM reference images with counting noise (pure numpy).

For scoring denoisers only: the project must never train on these scenes.

The noise-free truths are committed as ``benchmarks/abtem/data/val_*.npz`` (float32, made by
``simulate_abtem.py``); this module needs neither abTEM nor ASE to rebuild the noisy images:

* HAADF: truth = fraction of the incident electrons reaching the detector;
  noisy = Poisson(dose * truth) with dose in {2.5, 10, 40, 160} incident e-/pixel.
* HRTEM: truth = intensity relative to the incident beam (vacuum = 1);
  noisy = Poisson(dose * truth) with dose in {1, 4, 16, 64} incident e-/pixel.

Noisy images are float32 counts, deterministic: the generator is seeded from the scene
name and the dose (``noise_seed``).  Axis order (y, x); pixel_size in Å.

    from benchmarks.abtem.validation import iter_validation   # or run from this folder
    for noisy, truth, pixel_size, modality, dose, name in iter_validation():
        ...
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np

DATA_DIR = Path(__file__).resolve().parent / "data"
DOSES = {"haadf": (2.5, 10.0, 40.0, 160.0), "hrtem": (1.0, 4.0, 16.0, 64.0)}


class ValidationImage(NamedTuple):
    noisy: np.ndarray  # float32 counts, (ny, nx)
    truth: np.ndarray  # float32, (ny, nx): detector fraction (HAADF) or relative intensity (HRTEM)
    pixel_size: float  # Å
    modality: str  # "haadf" | "hrtem"
    dose: float  # incident electrons per pixel
    name: str


class Truth(NamedTuple):
    name: str
    modality: str
    pixel_size: float
    image: np.ndarray
    scene: dict


def noise_seed(name: str, dose: float) -> int:
    """Deterministic seed of one (scene, dose) pair: CRC32 of the name, mixed with the dose."""
    return (zlib.crc32(name.encode()) * 1_000_003 + int(round(dose * 1000))) % (2**63)


def load_truths(data_dir: Path | str = DATA_DIR, prefix: str = "val_") -> list[Truth]:
    """The committed noise-free truths whose file names start with ``prefix``, sorted by name."""
    files = sorted(Path(data_dir).glob(f"{prefix}*.npz"))
    if not files:
        raise FileNotFoundError(f"no {prefix}*.npz truths in {data_dir}")
    out = []
    for f in files:
        with np.load(f) as z:
            scene = json.loads(str(z["scene"]))
            image = np.asarray(z["image"], dtype=np.float32)
        if image.shape != tuple(scene["shape"]):
            raise ValueError(f"{f.name}: image shape {image.shape} differs from the scene's {scene['shape']}")
        if scene["modality"] not in DOSES:
            raise ValueError(f"{f.name}: unknown modality {scene['modality']!r}")
        out.append(Truth(scene["name"], scene["modality"], float(scene["pixel_size"]), image, scene))
    return out


def make_noisy(truth: np.ndarray, dose: float, seed: int) -> np.ndarray:
    """Poisson counts with mean ``dose * truth`` (negative truths, from ringing, are clipped to 0)."""
    rng = np.random.default_rng(seed)
    lam = dose * np.clip(truth.astype(np.float64), 0.0, None)
    return rng.poisson(lam).astype(np.float32)


def iter_validation(data_dir: Path | str = DATA_DIR, modality: str | None = None,
                    names: list[str] | None = None) -> Iterator[ValidationImage]:
    """Yield (noisy, truth, pixel_size, modality, dose, name) for every scene and dose."""
    for t in load_truths(data_dir):
        if modality is not None and t.modality != modality:
            continue
        if names is not None and t.name not in names:
            continue
        for dose in DOSES[t.modality]:
            noisy = make_noisy(t.image, dose, noise_seed(t.name, dose))
            yield ValidationImage(noisy, t.image, t.pixel_size, t.modality, dose, t.name)


def main() -> None:
    print(f"{'scene':36s} {'mod':5s} {'px Å':>6s} {'shape':>9s} {'dose':>6s} {'mean counts':>11s} {'max':>5s}")
    for v in iter_validation():
        shape = "x".join(map(str, v.truth.shape))
        print(f"{v.name:36s} {v.modality:5s} {v.pixel_size:6.3f} {shape:>9s} {v.dose:6g} "
              f"{v.noisy.mean():11.4g} {v.noisy.max():5.0f}")


if __name__ == "__main__":
    main()
