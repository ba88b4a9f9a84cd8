"""The simulator's speed-ups change no result: random training scenes give the images (and specimens)
that the implementation before them gave, to float tolerance.

``data/atomic_reference.json`` holds fingerprints (atom counts, a digest of the symbols, position sums,
image sums and 8 x 8 block means) that the code at commit ecbe472 (before the speed-ups) computed; write
it again only from that code: ``PYTHONPATH=src python tests/core/simulate/test_same_results.py --write``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from napari_lowdose.core.simulate.potential import projected_potential_ft
from napari_lowdose.core.simulate.scene import build_specimen, render
from napari_lowdose.core.train import SimDistribution

REFERENCE = Path(__file__).parent / "data" / "atomic_reference.json"
CASES = [(m, s, 64) for m in ("haadf", "hrtem") for s in range(12)] + [("haadf", 0, 160), ("hrtem", 0, 160), ("haadf", 9, 160), ("hrtem", 9, 160)]


def _scene(modality: str, seed: int, size: int):
    dist = SimDistribution(atomic_fraction=1.0, atomic_particles=0.65)
    return dist._sample_atomic(np.random.default_rng(seed), size, modality)[0]


def fingerprint(modality: str, seed: int, size: int) -> dict:
    scene = _scene(modality, seed, size)
    spec = build_specimen(scene, np.random.default_rng([seed, 1601]))
    image = render(spec, scene).astype(np.float64)
    b = size // 8
    blocks = image.reshape(8, b, 8, b).mean(axis=(1, 3))
    return {
        "kind": scene.kind,
        "atoms": len(spec.symbols),
        "symbols_md5": hashlib.md5("".join(spec.symbols.tolist()).encode()).hexdigest(),
        "position_sum": spec.positions.sum(0).tolist(),
        "image_sum": float(image.sum()),
        "image_sum2": float((image**2).sum()),
        "blocks": blocks.ravel().tolist(),
        "corner": image[:3, :3].ravel().tolist(),
    }


def potential_fingerprint() -> list[float]:
    rng = np.random.default_rng(5)
    sym = rng.choice(["C", "Si", "Au", "O"], 300)
    yx = rng.uniform(0, 40, (300, 2))
    v = np.fft.irfft2(projected_potential_ft(sym, yx, (90, 96), 40 / 90, 0.07), s=(90, 96))
    return [float(v.sum()), float((v**2).sum())] + v[::15, ::16].ravel().tolist()


def _reference() -> dict:
    return json.loads(REFERENCE.read_text())


@pytest.mark.parametrize("modality, seed, size", CASES)
def test_random_training_scene_is_unchanged(modality, seed, size):
    ref = _reference()["scenes"][f"{modality}-{seed}-{size}"]
    got = fingerprint(modality, seed, size)
    assert got["kind"] == ref["kind"] and got["atoms"] == ref["atoms"] and got["symbols_md5"] == ref["symbols_md5"]
    np.testing.assert_allclose(got["position_sum"], ref["position_sum"], rtol=1e-12, atol=1e-9)
    scale = max(abs(v) for v in ref["blocks"]) + 1e-12
    np.testing.assert_allclose(got["blocks"], ref["blocks"], rtol=1e-6, atol=1e-7 * scale)
    np.testing.assert_allclose(got["corner"], ref["corner"], rtol=1e-6, atol=1e-7 * scale)
    np.testing.assert_allclose([got["image_sum"], got["image_sum2"]], [ref["image_sum"], ref["image_sum2"]], rtol=1e-7)


def test_projected_potential_is_unchanged():
    ref = _reference()["potential"]
    got = potential_fingerprint()
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9 * max(abs(v) for v in ref))


if __name__ == "__main__" and "--write" in sys.argv:
    out = {"scenes": {f"{m}-{s}-{n}": fingerprint(m, s, n) for m, s, n in CASES}, "potential": potential_fingerprint()}
    REFERENCE.parent.mkdir(exist_ok=True)
    REFERENCE.write_text(json.dumps(out, indent=1))
    print(f"wrote {REFERENCE}")
