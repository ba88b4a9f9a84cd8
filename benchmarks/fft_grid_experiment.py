"""Experiment, not adopted (docs/benchmarks.md): FFT-friendly internal grids. The same specimens, the pad
widened until the internal grid side is 5-smooth; how much faster imaging is, and how much the image in
the field changes. ``python benchmarks/fft_grid_experiment.py haadf|hrtem`` (one thread, CPU time)."""

from __future__ import annotations

import math
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from napari_lowdose.core.simulate import scene as scn  # noqa: E402
from napari_lowdose.core.simulate.atomic import Specimen, _oversampling, render_haadf, render_hrtem  # noqa: E402
from napari_lowdose.core.simulate.optics import clear_caches  # noqa: E402
from napari_lowdose.core.train import SimDistribution  # noqa: E402


def smooth(n: int) -> bool:
    for p in (2, 3, 5):
        while n % p == 0:
            n //= p
    return n == 1


def render_pad(specimen: Specimen, scene: scn.AtomicScene, pad: int, margin: float = scn.MARGIN) -> np.ndarray:
    """:func:`~napari_lowdose.core.simulate.scene.render` with a chosen pad (pixels) round the field."""
    shift = pad * scene.pixel_size - margin
    moved = Specimen(specimen.symbols, specimen.positions + np.array([shift, shift, 0.0]), specimen.field)
    big = (scene.shape[0] + 2 * pad, scene.shape[1] + 2 * pad)
    if scene.modality == "haadf":
        image = render_haadf(moved, scene.pixel_size, big, scene.probe, scene.detector)
    else:
        image = render_hrtem(moved, scene.pixel_size, big, scene.optics, scene.multislice)
    return np.ascontiguousarray(image[pad : pad + scene.shape[0], pad : pad + scene.shape[1]])


def main() -> None:
    mod = sys.argv[1] if len(sys.argv) > 1 else "hrtem"
    dist = SimDistribution(atomic_fraction=1.0)
    rng = np.random.default_rng(123)
    t_old, t_new, rows = [], [], []
    for i in range(24):
        sc = dist._sample_atomic(rng, 256, mod)[0]
        spec = scn.build_specimen(sc, np.random.default_rng([i, 1601]))
        pad0 = int(math.ceil(scn.MARGIN / sc.pixel_size))
        fin = 0.45 / (2 * sc.probe.aperture) if mod == "haadf" else min(1.0 / (3.0 * sc.optics.aperture), 0.5)
        pad = pad0
        while True:
            big = 256 + 2 * pad
            n = _oversampling(sc.pixel_size, (big, big), fin)
            if smooth(big * n):
                break
            pad += 1
        clear_caches(); c0 = time.process_time(); a = render_pad(spec, sc, pad0); c1 = time.process_time()
        clear_caches(); b = render_pad(spec, sc, pad); c2 = time.process_time()
        assert np.array_equal(a, scn.render(spec, sc))
        d = b.astype(float) - a
        rel = np.sqrt((d**2).mean()) / a.std()
        inner = d[32:-32, 32:-32]
        rows.append((i, (256 + 2 * pad0) * n, (256 + 2 * pad) * n, (c1 - c0) * 1e3, (c2 - c1) * 1e3, rel, np.abs(d).max() / a.std(), np.abs(inner).max() / a.std()))
        t_old.append(c1 - c0); t_new.append(c2 - c1)
        print("%2d grid %4d -> %4d  %6.0f -> %6.0f ms  rms diff %.1e of the image std, max %.1e, max 32 px inside %.1e" % rows[-1], flush=True)
    print(f"{mod}: imaging CPU median {np.median(t_old)*1e3:.0f} -> {np.median(t_new)*1e3:.0f} ms, 90th pct {np.quantile(t_old, .9)*1e3:.0f} -> {np.quantile(t_new, .9)*1e3:.0f} ms")


if __name__ == "__main__":
    main()
