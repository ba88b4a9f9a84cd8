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


@dataclass(frozen=True)
class BlobSet:
    """Blobs of a denoised image and what ΔL needs that does not depend on the counts."""

    pos: np.ndarray  #: (n, 2) int (y, x)
    radius: float  #: px
    lam_atom: np.ndarray  #: (n,) e⁻/px
    lam_vacuum: np.ndarray  #: (n,) e⁻/px
    var_sum: np.ndarray  #: (n,) Σ_B var_p, e⁻²
    npix: int  #: |B|
    disk: np.ndarray  #: the disk footprint (bool, odd square)


def blob_set(denoised: np.ndarray, variance: np.ndarray, sigma: float, threshold: float = 3.0) -> BlobSet:
    """Blobs of ``denoised`` (e⁻/px) away from the edges, with λ_atom > λ_vacuum."""
    xh = np.clip(np.asarray(denoised, np.float64), 1e-3, None)
    ny, nx = xh.shape
    r = max(1.0, np.sqrt(2.0) * sigma)  # radius of a LoG blob of scale σ
    R = int(np.ceil(3.0 * r))
    dy, dx = np.mgrid[-R : R + 1, -R : R + 1]
    d = np.hypot(dy, dx)
    disk = d <= r
    ring = (d > 1.5 * r) & (d <= 3.0 * r)
    pos = find_blobs(xh, sigma, threshold)
    keep = (pos[:, 0] >= R) & (pos[:, 1] >= R) & (pos[:, 0] < ny - R) & (pos[:, 1] < nx - R) if len(pos) else np.zeros(0, bool)
    pos = pos[keep] if len(pos) else np.zeros((0, 2), int)
    lam_a = ndimage.correlate(xh, disk / disk.sum(), mode="reflect")[pos[:, 0], pos[:, 1]] if len(pos) else np.zeros(0)
    var_sum = ndimage.correlate(np.asarray(variance, np.float64), disk.astype(float), mode="reflect")[pos[:, 0], pos[:, 1]] if len(pos) else np.zeros(0)
    oy, ox = np.nonzero(ring)
    lam_v = np.empty(len(pos))
    for i, (py, px) in enumerate(pos):  # the darker half of the ring around each blob
        rv = xh[py + oy - R, px + ox - R]
        lam_v[i] = rv[rv <= np.median(rv)].mean()
    ok = lam_a > lam_v
    return BlobSet(pos[ok], float(r), lam_a[ok], lam_v[ok], var_sum[ok], int(disk.sum()), disk)


def delta_l(counts: np.ndarray, bs: BlobSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ΔL per blob (nats per pixel), its z-score and the mean count over each blob, for ``counts`` (e⁻/px)."""
    if not len(bs.pos):
        return np.zeros(0), np.zeros(0), np.zeros(0)
    ybar = ndimage.correlate(np.asarray(counts, np.float64), bs.disk / bs.npix, mode="reflect")[bs.pos[:, 0], bs.pos[:, 1]]
    lr = np.log(bs.lam_atom / bs.lam_vacuum)
    dl = ybar * lr - (bs.lam_atom - bs.lam_vacuum)
    sd = lr * np.sqrt(bs.var_sum) / bs.npix
    return dl, dl / np.maximum(sd, 1e-12), ybar


def atom_likelihood(counts: np.ndarray, denoised: np.ndarray, variance: np.ndarray, sigma: float,
                    threshold: float = 3.0) -> tuple[list[Blob], np.ndarray]:
    """Blobs of ``denoised`` (e⁻/px) and their ΔL against ``counts`` (e⁻/px; ``variance`` per pixel,
    e⁻², the Poisson + read noise). Returns the blobs and a map (y, x) with each blob's ΔL painted on its
    disk (0 elsewhere)."""
    bs = blob_set(denoised, variance, sigma, threshold)
    dl, z, ybar = delta_l(counts, bs)
    return blobs_of(bs, dl, z, ybar), paint(bs, dl, np.shape(counts))


def blobs_of(bs: BlobSet, dl, z, ybar) -> list[Blob]:
    return [Blob(float(p[0]), float(p[1]), bs.radius, float(a), float(b), float(la), float(lv), float(c))
            for p, a, b, la, lv, c in zip(bs.pos, dl, z, bs.lam_atom, bs.lam_vacuum, ybar)]


def paint(bs: BlobSet, values: np.ndarray, shape) -> np.ndarray:
    """A map with each blob's value on its disk, 0 elsewhere."""
    out = np.zeros(shape)
    R = bs.disk.shape[0] // 2
    oy, ox = np.nonzero(bs.disk)
    for (py, px), v in zip(bs.pos, values):
        out[py + oy - R, px + ox - R] = v
    return out
