"""Particles on a support: the bright region of a Z-contrast (HAADF) image, found from the counts alone.

Smoothed over :data:`SIGMA` px (more than a lattice's period at atomic resolution, less than a particle),
the image's intensities split in two by Otsu's threshold (the split that maximises the variance
between the two classes). The split is taken as *particles on a support* only when the bright class
is at least :data:`CONTRAST` times as bright as the dark one on average and neither class is tiny: on
the abTEM validation set, particles on 3 nm of carbon and particle-scale scenes give 6.7-11, crystals
filling the field 1.1-3.2 (the smoothing leaves a little of the lattice, more at the lowest dose).
A phase-contrast (HRTEM) image, whose particles are not brighter than their support, gives none.
Images (y, x) of counts (or any non-negative intensity).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

SIGMA = 8.0  #: px, the smoothing before the split
CONTRAST = 4.0  #: the bright class's mean over the dark class's, at least
MIN_SHARE = 0.05  #: each class covers at least this share of the image
EDGE = 2.0  #: px, the soft edge of :func:`soft_mask`


def otsu(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of ``values``: the split of a ``bins``-bin histogram that maximises the variance
    between the two classes (the middle one of equally good splits)."""
    v = np.asarray(values, np.float64).ravel()
    hist, edges = np.histogram(v, bins=bins)
    centres = 0.5 * (edges[1:] + edges[:-1])
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres)
    mean0 = m0 / np.maximum(w0, 1)
    mean1 = (m0[-1] - m0) / np.maximum(w1, 1)
    between = w0 * w1 * (mean0 - mean1) ** 2
    ties = np.flatnonzero(between[:-1] >= between[:-1].max() * (1 - 1e-12))  # empty bins between the classes
    return float(edges[1:][(ties[0] + ties[-1]) // 2])


def bright_threshold(counts: np.ndarray) -> float | None:
    """The smoothed intensity above which a pixel belongs to the particles, or None when the image is
    not particles on a support (:data:`CONTRAST`, :data:`MIN_SHARE`)."""
    smooth = ndimage.gaussian_filter(np.asarray(counts, np.float64), SIGMA, mode="reflect")
    t = otsu(smooth)
    bright = smooth > t
    share = float(bright.mean())
    if not MIN_SHARE <= share <= 1 - MIN_SHARE:
        return None
    dark = float(smooth[~bright].mean())
    return t if float(smooth[bright].mean()) >= CONTRAST * max(dark, 1e-12) else None


def bright_mask(counts: np.ndarray, threshold: float) -> np.ndarray:
    """Where the smoothed ``counts`` exceed ``threshold`` (bool, y x)."""
    return ndimage.gaussian_filter(np.asarray(counts, np.float64), SIGMA, mode="reflect") > threshold


def soft_mask(mask: np.ndarray) -> np.ndarray:
    """``mask`` as weights in [0, 1] with an edge of :data:`EDGE` px (float64)."""
    return np.clip(ndimage.gaussian_filter(np.asarray(mask, np.float64), EDGE, mode="reflect"), 0.0, 1.0)
