"""Resolution of processed images and of raw STEM with scan-line noise (the tables in docs/spectrum.md).

    python benchmarks/accuracy_processed.py [REAL_DATA_FOLDER]   # default ../shared/real-data

1. Band-limited counts with line-to-line jitter: cutoff, y cutoff and FRC against the band limit k0.
2. Half-data FRC (core.halfmap) of denoised results: linear denoisers and the bundled HAADF U-Net.
3. The readout on a denoised image, told and not told that it is processed.
4. The real files: the readout, and whether the half-data FRC can be measured on them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

from napari_lowdose.core.halfmap import half_data_frc
from napari_lowdose.core.simulate import bandlimited_image as bandlimited
from napari_lowdose.core.spectrum import resolution
from napari_lowdose.core.tiling import denoise


def jittered(k0: float, jitter_px: float, seed: int = 0, shape=(512, 512)) -> np.ndarray:
    clean = bandlimited(shape, k0, mean=100, std=40, poisson=False, seed=seed)
    rng = np.random.default_rng(seed + 1)
    kx = np.fft.rfftfreq(shape[1])
    shifts = rng.normal(0, jitter_px, shape[0])[:, None]
    moved = np.fft.irfft(np.fft.rfft(clean, axis=1) * np.exp(-2j * np.pi * kx[None, :] * shifts), n=shape[1], axis=1)
    return rng.poisson(np.clip(moved, 0, None)).astype(np.uint16)


def fmt(x) -> str:
    return f"{x:.4f}" if x is not None else "—"


def main(real: Path) -> None:
    print("1. band limit k0 + line-to-line jitter (rms px), Poisson counts, 512 x 512 (cycles/pixel)")
    print(f"{'k0':>5}{'jitter':>8}{'cutoff':>9}{'cut_y':>9}{'FRC':>9}  split         floor to kx")
    for k0 in (0.1, 0.15, 0.2):
        for jitter in (0.0, 1.0, 2.0):
            r = resolution(jittered(k0, jitter))
            print(f"{k0:>5}{jitter:>8}{fmt(r.cutoff):>9}{fmt(r.cutoff_y):>9}{fmt(r.frc_cutoff):>9}  {r.frc_split:<13} {fmt(r.streak_kx)}")

    print("\n2. half-data FRC of denoised results (cycles/pixel; 'raw' = the raw halves' own FRC, the cap)")
    print(f"{'shape':<11}{'k0':>5}  {'denoiser':<18}{'denoised':>9}{'raw':>9}{'reported':>9}{'/ k0':>8}")
    cases = [((512, 512), k0, name, fn) for k0 in (0.15, 0.25, 0.35) for name, fn in
             (("identity", lambda x: x), ("Gaussian 0.7 px", lambda x: ndimage.gaussian_filter(x, 0.7)),
              ("Gaussian 1.5 px", lambda x: ndimage.gaussian_filter(x, 1.5)))]
    cases += [((256, 256), k0, "U-Net haadf", lambda x: denoise(x, "haadf", device="cpu")) for k0 in (0.15, 0.25)]
    for shape, k0, name, fn in cases:
        raw = bandlimited(shape, k0, mean=20 if "U-Net" in name else 100, std=8 if "U-Net" in name else 30, seed=4)
        h = half_data_frc(raw, fn)
        print(f"{str(shape):<11}{k0:>5}  {name:<18}{fmt(h.denoised_cutoff):>9}{fmt(h.raw_cutoff):>9}{fmt(h.cutoff):>9}{h.cutoff / k0:>8.3f}")

    print("\n3. the readout on a denoised image (band limit 0.2, 256 x 256, Gaussian 1 px as the denoiser)")
    out = ndimage.gaussian_filter(bandlimited((256, 256), 0.2).astype(np.float32), 1.0)
    plain, told = resolution(out), resolution(out, processed="denoised with a Gaussian")
    print(f"not told:  cutoff {fmt(plain.cutoff)}, FRC {fmt(plain.frc_cutoff)} ({plain.frc_split})")
    print(f"told:      cutoff {fmt(told.cutoff)}, FRC {fmt(told.frc_cutoff)}: {told.summary()}")

    print(f"\n4. real files ({real})")
    from napari_lowdose.io import read_image

    for name in ("16_STOimage_1.ser", "Acquisition_18.emd", "multi_signal.dm3", "test_STEM_image.dm3"):
        path = real / name
        if not path.is_file():
            print(f"{name}: not found")
            continue
        image = read_image(path)[0]
        r = resolution(image.data, pixel_size=image.pixel_size)
        print(f"{name}: " + r.summary().replace("\n", " | "))
        if min(image.data.shape) >= 32:
            h = half_data_frc(image.data, lambda x: x)  # the counts test comes before any denoising
            print(f"    half-data FRC: {h.summary()}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "real-data")
