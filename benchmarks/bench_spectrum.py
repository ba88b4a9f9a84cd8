"""FFT-mask slider step and resolution readout: ours vs a plain numpy implementation, in one run.

    python benchmarks/bench_spectrum.py [--repeat 9] [--no-viewer]

Slider step = mask + inverse FFT + napari layer update (``layer.data = ...``), in a shown viewer (on a
machine without a screen under Xvfb); a second row adds the redraw (processing the Qt events), which
under Xvfb is Mesa's software renderer. Ours reuses the cached forward FFT
(``MaskedFilter``); the baseline is what a direct numpy version does at every step: ``np.fft.fft2``,
a radial mask built from a fresh frequency grid, ``np.fft.ifft2``.
Readout = ``napari_lowdose.resolution`` (radial + x/y wedge profiles, noise, cutoffs, FRC); the
baseline is the seed's recipe in plain numpy: fft2, fftshift, radial bincount, noise from the high
frequencies, 3x threshold (no wedges, no FRC).
Targets (issue 3, this 2-core machine): step <= 50 ms at 2048², <= 200 ms at 4096²; readout <= 100 ms.
"""

from __future__ import annotations

import argparse
import contextlib

import numpy as np
from _timing import median_seconds

from napari_lowdose.core.spectrum import MaskedFilter, resolution


def baseline_step(image: np.ndarray, keep: float) -> np.ndarray:
    F = np.fft.fft2(image)
    ky = np.fft.fftfreq(image.shape[0])[:, None]
    kx = np.fft.fftfreq(image.shape[1])[None, :]
    r = np.sqrt(kx**2 + ky**2) / 0.5
    t = np.clip((r - (keep - 0.025)) / 0.05, 0, 1)
    return np.real(np.fft.ifft2(F * (0.5 + 0.5 * np.cos(np.pi * t))))


def baseline_readout(image: np.ndarray) -> float | None:
    P = np.abs(np.fft.fftshift(np.fft.fft2(image - image.mean()))) ** 2
    ny, nx = image.shape
    y, x = np.indices(P.shape)
    r = np.hypot((y - ny // 2) / ny, (x - nx // 2) / nx)
    idx = (r * min(ny, nx)).astype(int)
    prof = np.bincount(idx.ravel(), P.ravel()) / np.maximum(np.bincount(idx.ravel()), 1)
    k = (np.arange(prof.size) + 0.5) / min(ny, nx)
    noise = prof[(k >= 0.45) & (k <= 0.5)].mean()
    above = np.nonzero((prof > 3 * noise) & (k <= 0.5))[0]
    return float(k[above[-1]]) if above.size else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--no-viewer", action="store_true", help="leave the napari layer update out")
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    from napari_lowdose._display import has_display, virtual_display

    display = contextlib.nullcontext() if (args.no_viewer or has_display()) else virtual_display()
    rows = []
    with display:
        viewer = None
        if not args.no_viewer:
            import napari
            from qtpy.QtWidgets import QApplication

            viewer = napari.Viewer(show=True)
        for n, target in ((2048, 50), (4096, 200)):
            image = rng.poisson(5.0, (n, n)).astype(np.float32)
            filt = MaskedFilter(image)
            layer = viewer.add_image(filt.apply(0.65), name=f"preview {n}") if viewer else None
            keeps = iter(np.tile(np.linspace(0.3, 0.9, 13), 100))

            def step(compute, redraw):
                def run():
                    out = compute(next(keeps))
                    if layer is not None:
                        layer.data = out
                        if redraw:
                            QApplication.processEvents()

                return run

            ours = lambda keep: filt.apply(keep)  # noqa: E731
            base = lambda keep: baseline_step(image, keep).astype(np.float32)  # noqa: E731
            label = f"slider step {n}²" + ("" if viewer else " (no layer)")
            rows.append((label, 1e3 * median_seconds(step(ours, False), args.repeat), 1e3 * median_seconds(step(base, False), max(3, args.repeat // 3)), target))
            if layer is not None:
                rows.append((label + " + redraw", 1e3 * median_seconds(step(ours, True), args.repeat), 1e3 * median_seconds(step(base, True), max(3, args.repeat // 3)), target))
            if layer is not None:
                viewer.layers.remove(layer)
        if viewer is not None:
            viewer.close()

    counts = rng.poisson(5.0, (2048, 2048)).astype(np.uint16)
    floats = counts.astype(np.float32) + rng.normal(0, 1, counts.shape).astype(np.float32)
    rows.append(("readout 2048² float", 1e3 * median_seconds(lambda: resolution(floats), args.repeat), 1e3 * median_seconds(lambda: baseline_readout(floats), 3), 100))
    rows.append(("readout 2048² counts", 1e3 * median_seconds(lambda: resolution(counts), args.repeat), 1e3 * median_seconds(lambda: baseline_readout(counts.astype(np.float32)), 3), 100))

    print(f"median of {args.repeat} runs; baseline: plain numpy (see the docstring)")
    print(f"{'operation':<30}{'ours ms':>9}{'numpy ms':>10}{'ours/numpy':>12}{'target ms':>11}  met")
    for name, ours_ms, base_ms, target in rows:
        print(f"{name:<30}{ours_ms:>9.1f}{base_ms:>10.1f}{ours_ms / base_ms:>12.2f}{target:>11}  {'yes' if ours_ms <= target else 'NO'}")


if __name__ == "__main__":
    main()
