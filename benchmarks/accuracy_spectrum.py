"""Accuracy of the resolution readout on images with a known answer (the tables in docs/spectrum.md).

    python benchmarks/accuracy_spectrum.py

1. Band-limited noise with a hard cutoff k0 plus Poisson noise: estimated cutoff vs k0.
2. Anisotropic band limits (kx0, ky0) and Gaussian blurs (sigma_x, sigma_y): anisotropy vs the truth.
3. False alarms: pure Poisson and Gaussian noise must give no cutoff (counted over many images).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from napari_lowdose.core.simulate import bandlimited_image as bandlimited
from napari_lowdose.core.spectrum import resolution


def main() -> None:
    print("1. hard band limit k0 + Poisson noise (cycles/pixel)")
    print(f"{'shape':<12}{'k0':>6}{'cutoff':>9}{'error':>8}{'FRC':>8}{'FRC err':>9}")
    worst = 0.0
    for shape in [(512, 512), (384, 600), (511, 257)]:
        for k0 in (0.15, 0.2, 0.25, 0.3, 0.35, 0.4):
            r = resolution(bandlimited(shape, k0, seed=int(k0 * 100)))
            err = r.cutoff / k0 - 1
            worst = max(worst, abs(err))
            print(f"{str(shape):<12}{k0:>6.2f}{r.cutoff:>9.4f}{err:>+8.1%}{r.frc_cutoff:>8.4f}{r.frc_cutoff / k0 - 1:>+9.1%}")
    print(f"worst cutoff error: {worst:.1%} (target 5%)")

    print("\n2. anisotropy x/y")
    print(f"{'case':<28}{'cutoff_x':>9}{'cutoff_y':>9}{'x/y':>7}{'truth':>7}{'error':>8}")
    worst = 0.0
    for kx0, ky0 in [(0.2, 0.3), (0.35, 0.2), (0.15, 0.3)]:
        r = resolution(bandlimited((512, 512), kx0, ky0))
        err = r.anisotropy / (kx0 / ky0) - 1
        worst = max(worst, abs(err))
        print(f"{f'band limit {kx0}/{ky0}':<28}{r.cutoff_x:>9.3f}{r.cutoff_y:>9.3f}{r.anisotropy:>7.2f}{kx0 / ky0:>7.2f}{err:>+8.1%}")
    for sx, sy in [(1.0, 2.0), (2.5, 1.2), (1.2, 1.8)]:
        truth = ndimage.gaussian_filter(np.random.default_rng(1).standard_normal((512, 512)), (sy, sx), mode="wrap")
        image = np.random.default_rng(2).poisson(np.clip(truth / truth.std() * 30 + 100, 0, None))
        r = resolution(image)
        err = r.anisotropy / (sy / sx) - 1
        worst = max(worst, abs(err))
        print(f"{f'Gaussian blur sx={sx} sy={sy}':<28}{r.cutoff_x:>9.3f}{r.cutoff_y:>9.3f}{r.anisotropy:>7.2f}{sy / sx:>7.2f}{err:>+8.1%}")
    print(f"worst anisotropy error: {worst:.1%} (target 10%)")

    print("\n3. false alarms on pure noise")
    n = alarms = 0
    for seed in range(100):
        for shape in [(64, 64), (256, 256), (300, 97)]:
            rng = np.random.default_rng(seed)
            for image in (rng.poisson(10, shape), rng.standard_normal(shape).astype(np.float32)):
                r = resolution(image)
                n += 1
                alarms += any(v is not None for v in (r.cutoff, r.cutoff_x, r.cutoff_y, r.frc_cutoff))
    print(f"{alarms} of {n} noise images gave any cutoff")


if __name__ == "__main__":
    main()
