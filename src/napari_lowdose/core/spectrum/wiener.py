"""Empirical Wiener filters of electron counts, window by window: the filter that keeps a crystal's
lattice (its Bragg peaks stand far above the counting noise in the power spectrum) and removes the
noise between them.

Counting noise is white: in an unnormalised 2-D transform of Poisson counts it holds the power
``N = Σ counts`` at every frequency. A window's power spectrum ``P(k)``, smoothed over ``box`` x ``box``
frequencies (variance), then gives:

* one stage (``beta = 0``): the gain ``max(0, 1 − alpha · N / P(k))`` (spectral subtraction; ``alpha``
  above 1 removes more of the noise's own fluctuations);
* two stages (``beta > 0``): the one-stage estimate is the pilot, ``S(k)`` its power, and the gain
  ``S / (S + beta · N)`` (the second stage of BM3D with a spectral pilot).

Nothing here knows the lattice: periodic structure passes because its power is concentrated, diffuse
structure (a vacancy, an edge, amorphous carbon) passes where its power beats the noise, and is damped
where it does not, as by any linear filter. Which ``alpha``, ``box`` and ``beta`` to use is chosen on the
image's own held-out electrons by the guard (:mod:`..guard`), never fixed here.

Each window is mirrored at its edges by :data:`PAD` px before its transform (no wrap-around edges); a
whole image is filtered in overlapping windows blended with the raised-cosine ramps of the tiling
(:class:`..tiling.TileGrid`), so that the filter chosen on one window-sized crop is the filter applied.
Images are (y, x) counts (electrons per pixel); ``box`` in frequency bins of a window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

from ..errors import LowdoseError

PAD = 16  #: px mirrored round each window before its transform
OVERLAP = 64  #: px, overlap of neighbouring windows on a whole image


@dataclass(frozen=True)
class LatticeWiener:
    """One empirical Wiener filter: ``alpha`` (> 0) scales the noise power taken off the smoothed
    spectrum; ``box`` (odd, >= 1) frequency bins of a window over which the power spectrum is averaged;
    ``beta`` (>= 0): the second stage's noise scale, 0 for one stage."""

    alpha: float
    box: int
    beta: float = 0.0

    def __post_init__(self) -> None:
        if not self.alpha > 0 or self.box < 1 or self.box % 2 == 0 or self.beta < 0:
            raise LowdoseError(f"a lattice filter needs alpha > 0, an odd box >= 1 and beta >= 0, got {self}")

    @property
    def label(self) -> str:
        return f"lattice (Wiener) filter, noise x{self.alpha:g} over {self.box}² frequencies" + (
            f", second stage x{self.beta:g}" if self.beta else "")


#: the filters the guard tries: one and two stages, 3 and 5 bins, alpha 1.5-6 (docs/model.md: oracle choices
#: on the abTEM crystals lie in this range)
BANK = tuple(LatticeWiener(a, b, beta) for b in (3, 5) for a in (1.5, 2.0, 3.0, 4.0, 6.0) for beta in (0.0, 0.5, 1.0, 2.0))


def _power(spec: np.ndarray, box: int) -> np.ndarray:
    p = spec.real * spec.real + spec.imag * spec.imag
    if box > 1:  # the rfft half plane: periodic along ky, mirrored at the first and last kx columns
        p = ndimage.uniform_filter(p, box, mode=("wrap", "mirror"))
    return p


def filter_bank(counts: np.ndarray, filters: tuple[LatticeWiener, ...] = BANK) -> list[np.ndarray]:
    """Every filter of ``filters`` on one window of ``counts`` (y, x), sharing its transform; float64 images."""
    c = np.asarray(counts, np.float64)
    pad = min(PAD, min(c.shape) - 1)
    padded = np.pad(c, pad, mode="reflect")
    shape = padded.shape
    spec = sfft.rfft2(padded)
    noise = max(float(padded.sum()), 1e-12)  # white counting noise: Σ λ at every frequency
    powers: dict[int, np.ndarray] = {}
    out = []
    for f in filters:
        if f.box not in powers:
            powers[f.box] = _power(spec, f.box)
        gain = np.clip(1.0 - f.alpha * noise / np.maximum(powers[f.box], 1e-300), 0.0, 1.0)
        if f.beta > 0:
            pilot = _power(spec * gain, 1)
            gain = pilot / (pilot + f.beta * noise)
        gain[0, 0] = 1.0  # the mean passes
        out.append(sfft.irfft2(spec * gain, s=shape)[pad : pad + c.shape[0], pad : pad + c.shape[1]])
    return out


def filter_windows(counts: np.ndarray, filters: tuple[LatticeWiener, ...], window: tuple[int, int],
                   overlap: int = OVERLAP) -> list[np.ndarray]:
    """Every filter of ``filters`` on a whole image of counts (y, x), in windows of at most ``window`` px
    overlapping by ``overlap`` px (at most half a window), blended with raised-cosine ramps; float64 images."""
    from ..tiling import Axis, TileGrid

    c = np.asarray(counts, np.float64)
    grid = TileGrid(*(Axis.plan(n, w, min(overlap, w // 2), 1) for n, w in zip(c.shape, window)))
    acc = [np.zeros_like(c) for _ in filters]
    for y0, x0, wy, wx in grid.tiles():
        sl = np.s_[y0 : y0 + grid.y.size, x0 : x0 + grid.x.size]
        weight = np.outer(wy, wx)
        for a, out in zip(acc, filter_bank(c[sl], filters)):
            a[sl] += out * weight
    norm = np.outer(grid.y.weight_sum(), grid.x.weight_sum())
    return [a / norm for a in acc]


def filter_image(counts: np.ndarray, f: LatticeWiener, window: tuple[int, int], overlap: int = OVERLAP) -> np.ndarray:
    """One filter on a whole image (:func:`filter_windows`)."""
    return filter_windows(counts, (f,), window, overlap)[0]
