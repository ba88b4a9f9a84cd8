"""The SBD atom likelihood (Mohan et al., "Deep denoising for scientific discovery"): blobs found with a
Laplacian of Gaussian on the denoised image x̂, and for each blob B the per-pixel Poisson log-likelihood
of the noisy counts y under two hypotheses,

    L_H = (1/|B|) Σ_{p∈B} [y_p log λ_H − λ_H − log y_p!],

"atom" (λ = mean of x̂ over B) and "vacuum" (λ = mean of x̂ over the darker half of a ring around B).
ΔL = L_atom − L_vacuum < 0 says the data favour absence: a spurious atom. ``log y!`` cancels in ΔL.
With ȳ the mean count over B, ΔL = ȳ log(λ_a/λ_v) − (λ_a − λ_v); its noise under Poisson(+read) counts
is sd = |log(λ_a/λ_v)| · sqrt(Σ_B var_p) / |B|, so ``z = ΔL / sd`` scales it. Images (y, x) in electrons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Blob:
    """One blob of the denoised image: centre (px), radius (px), ΔL (nats per pixel) and its z-score."""

    y: float
    x: float
    radius: float
    delta_l: float
    z: float
    lam_atom: float  #: e⁻/px, mean of x̂ over the blob
    lam_vacuum: float  #: e⁻/px, mean of x̂ over the darker half of the ring around it
    counts: float  #: e⁻/px, mean of the noisy counts over the blob

    def to_dict(self) -> dict:
        return {k: round(float(v), 4) for k, v in self.__dict__.items()}


def find_blobs(image: np.ndarray, sigma: float, threshold: float = 3.0, max_blobs: int = 20000) -> np.ndarray:
    """Local maxima of −LoG·σ² of ``image`` (σ in px) above ``threshold`` times the robust spread of that
    response; returns an (n, 2) array of (y, x) pixel positions, strongest first."""
    resp = -ndimage.gaussian_laplace(np.asarray(image, np.float64), sigma) * sigma**2
    med = float(np.median(resp))
    mad = float(np.median(np.abs(resp - med))) * 1.4826 or float(resp.std()) or 1.0
    size = max(3, int(2 * round(1.5 * sigma) + 1))
    peaks = (resp == ndimage.maximum_filter(resp, size=size, mode="nearest")) & (resp > med + threshold * mad)
    pos = np.argwhere(peaks)
    order = np.argsort(-resp[peaks])
    return pos[order][:max_blobs]


def atom_likelihood(counts: np.ndarray, denoised: np.ndarray, variance: np.ndarray, sigma: float,
                    threshold: float = 3.0) -> tuple[list[Blob], np.ndarray]:
    """Blobs of ``denoised`` (e⁻/px) and their ΔL against ``counts`` (e⁻/px; ``variance`` per pixel,
    e⁻², the Poisson + read noise). Returns the blobs and a map (y, x) with each blob's ΔL painted on its
    disk (0 elsewhere)."""
    y = np.asarray(counts, np.float64)
    xh = np.clip(np.asarray(denoised, np.float64), 1e-3, None)
    ny, nx = y.shape
    r = max(1.0, np.sqrt(2.0) * sigma)  # radius of a LoG blob of scale σ
    R = int(np.ceil(3.0 * r))
    dy, dx = np.mgrid[-R : R + 1, -R : R + 1]
    d = np.hypot(dy, dx)
    disk = d <= r
    ring = (d > 1.5 * r) & (d <= 3.0 * r)
    lmap = np.zeros_like(y)
    blobs: list[Blob] = []
    for py, px in find_blobs(xh, sigma, threshold):
        if py < R or px < R or py >= ny - R or px >= nx - R:
            continue
        sl = (slice(py - R, py + R + 1), slice(px - R, px + R + 1))
        xw, yw = xh[sl], y[sl]
        lam_a = float(xw[disk].mean())
        rv = xw[ring]
        lam_v = float(rv[rv <= np.median(rv)].mean())
        if lam_a <= lam_v:
            continue
        lr = np.log(lam_a / lam_v)
        ybar = float(yw[disk].mean())
        dl = ybar * lr - (lam_a - lam_v)
        sd = lr * np.sqrt(float(variance[sl][disk].sum())) / disk.sum()
        blobs.append(Blob(float(py), float(px), float(r), float(dl), float(dl / max(sd, 1e-12)), lam_a, lam_v, ybar))
        view = lmap[sl]
        view[disk] = dl
    return blobs, lmap
