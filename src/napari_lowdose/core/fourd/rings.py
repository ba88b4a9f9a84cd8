"""Annular sums put back: a correction of a 4D-STEM estimate aimed at virtual detector images.

A finish chosen to fit whole patterns (:mod:`.thin`) spends its accuracy where the counts are: the
bright disc. The dark field holds few electrons per pixel, and the principal components that carry its
variation over the scan are weak, so they are smoothed or dropped and an annular dark-field (ADF) image of
the estimate can lose contrast that the counts themselves have. This module splits the detector into
rings around the bright disc's centre (``width`` px each) and, for each ring ``j``, puts back a share
``c_j`` of the ring's summed residual (counts − estimate), smoothed over the scan by a Gaussian of width
``σ_j``; the correction is spread over the ring's pixels in proportion to the estimate's mean pattern there,
so a ring's sum, and so any annular virtual image made of whole rings, moves by exactly that amount.

``c_j`` and ``σ_j`` are chosen on held-out electrons (Poisson thinning, :mod:`..thinning`): for fold k the
estimate made from the other folds (``rest``) predicts the held-out fold's ring sums at ``1/(K − 1)`` of its
scale; the residual ``rest − estimate`` is independent of the held-out fold, so the held-out squared error of
the ring sums is, up to a constant, the error of the corrected ring sums. For each width it is a quadratic in
``c_j``, minimised exactly and clipped to [0, 1] (0: the estimate's ring sums are kept). Axis order
(scan y, scan x, ky, kx); counts are electrons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .detector import bright_disc

CHUNK = 256  #: positions corrected at a time
SIGMAS = (0.0, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0, 5.6, 8.0)  #: scan px: widths tried for each ring's residual


@dataclass(frozen=True)
class RingChoice:
    """``labels`` (ky, kx): each detector pixel's ring; ``shares`` and ``sigmas`` (one per ring): the
    share of the ring's scan-smoothed residual put back and its Gaussian width (scan px); ``before`` and
    ``after``: the held-out squared error of the ring sums (counts², summed over folds, rings and
    positions, the folds' own Poisson variance included) without and with the correction."""

    labels: np.ndarray
    shares: np.ndarray
    sigmas: np.ndarray
    before: float
    after: float


def ring_labels(pattern: np.ndarray, width: float = 2.0) -> np.ndarray:
    """(ky, kx) int ring index of each pixel: its distance from the bright disc's centre // ``width``."""
    (cy, cx), _ = bright_disc(pattern)
    yy, xx = np.indices(np.shape(pattern))
    return (np.hypot(yy - cy, xx - cx) // width).astype(np.int64)


def ring_sums(block, labels: np.ndarray) -> np.ndarray:
    """(positions, rings): each pattern's counts summed over each ring; ``block`` (..., ky, kx)."""
    n_rings = int(labels.max()) + 1
    one_hot = np.zeros((labels.size, n_rings), np.float64)
    one_hot[np.arange(labels.size), labels.ravel()] = 1.0
    x = np.asarray(block, np.float64).reshape(-1, labels.size)
    return x @ one_hot


def _smooth(sums: np.ndarray, scan: tuple[int, int], sigma: float) -> np.ndarray:
    """(n, rings) maps each smoothed over the scan by ``sigma`` px (0: unchanged)."""
    if sigma <= 0:
        return sums
    m = sums.reshape(*scan, -1)
    return ndimage.gaussian_filter(m, (sigma, sigma, 0), mode="reflect").reshape(sums.shape)


def choose_rings(labels: np.ndarray, scan: tuple[int, int], folds: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                 sigmas=SIGMAS) -> RingChoice:
    """Choose each ring's share and width. ``folds``: per thinning fold, (ring sums of the estimate made
    from ``rest``, ring sums of ``rest``, ring sums of the held-out fold), each (positions, rings)."""
    k_f = len(folds)
    n_rings = int(labels.max()) + 1
    gg = np.zeros((len(sigmas), n_rings))
    gb = np.zeros((len(sigmas), n_rings))
    bb = np.zeros(n_rings)
    for est, rest, held in folds:
        base = est / (k_f - 1) - held
        bb += np.sum(base**2, axis=0)
        for i, s in enumerate(sigmas):
            g = _smooth(rest - est, scan, s) / (k_f - 1)
            gg[i] += np.sum(g * g, axis=0)
            gb[i] += np.sum(g * base, axis=0)
    c = np.clip(np.where(gg > 0, -gb / np.maximum(gg, 1e-300), 0.0), 0.0, 1.0)
    err = bb[None] + 2 * c * gb + c * c * gg
    pick = np.argmin(err, axis=0)
    cols = np.arange(n_rings)
    return RingChoice(labels, c[pick, cols], np.asarray(sigmas, np.float64)[pick], float(bb.sum()), float(err[pick, cols].sum()))


def put_back(counts, estimate, choice: RingChoice) -> np.ndarray:
    """``estimate`` plus each ring's share of its scan-smoothed residual sums, spread over the ring in
    proportion to the estimate's mean pattern there (evenly where that is 0); float32, the data's shape."""
    shape = np.shape(estimate)
    scan, det = shape[:2], shape[2:]
    lab = choice.labels
    est = np.asarray(estimate, np.float32)
    resid = ring_sums(np.asarray(counts, np.float32) - est, lab)  # (n, rings)
    add = np.zeros_like(resid)
    for j in np.flatnonzero(choice.shares > 0):
        add[:, j] = choice.shares[j] * _smooth(resid[:, [j]], scan, float(choice.sigmas[j]))[:, 0]
    mean = np.maximum(est.reshape(-1, *det).mean(axis=0, dtype=np.float64), 0)
    ring_total = np.bincount(lab.ravel(), mean.ravel(), minlength=resid.shape[1])
    ring_size = np.bincount(lab.ravel(), minlength=resid.shape[1])
    profile = np.where(ring_total[lab] > 0, mean / np.maximum(ring_total[lab], 1e-300), 1.0 / ring_size[lab])
    out = est.reshape(-1, *det).copy()
    prof = profile.astype(np.float32)
    for a in range(0, len(out), CHUNK):
        out[a : a + CHUNK] += add[a : a + CHUNK][:, lab].astype(np.float32) * prof
    return out.reshape(shape)
