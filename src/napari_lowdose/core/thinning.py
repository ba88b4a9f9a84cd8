"""Poisson thinning ("data fission"): detected electrons split at random into independent parts.

If a pixel's count is Poisson of rate λ, sending each electron to one of ``folds`` parts with equal
probability gives ``folds`` independent Poisson counts of rate λ / folds that add up to the count. An
estimate made from some parts is then scored without bias on the others. Used by the guard
(:mod:`.guard`) and the 4D-STEM thinning finish (:mod:`.fourd.thin`).
"""

from __future__ import annotations

import numpy as np


def thin(counts, folds: int, rng: np.random.Generator) -> np.ndarray:
    """Split integer counts into ``folds`` parts (shape (folds, *counts.shape), int64): each electron to
    a part with probability 1/folds (sequential binomials: a multinomial split)."""
    left = np.asarray(counts, np.int64).copy()
    out = np.empty((folds, *left.shape), np.int64)
    for k in range(folds - 1):
        out[k] = rng.binomial(left, 1.0 / (folds - k))
        left -= out[k]
    out[-1] = left
    return out
