"""A truth-free finish for 4D-STEM: principal components whose score maps are smoothed over the scan, and
a blend with the network, all chosen on held-out electrons (Poisson thinning, as :mod:`..guard` does for
2-D images).

Poisson thinning: each detected electron goes to one of ``K`` folds with probability 1/K, so the folds are
independent Poisson counts of rate ``λ/K`` ("data fission"). For each fold ``k`` the other ``K − 1`` folds
(``rest``) are denoised; the held-out fold then scores an estimate without bias: the squared distance of
``estimate / (K − 1)`` to the fold is, in expectation, the estimate's squared error (at ``1/(K − 1)`` of its
scale) plus the fold's own Poisson variance, the same for every estimate.

The estimate (``ScorePCA``): the mean pattern plus the first ``R`` principal components of the
(positions × detector pixels) matrix, each component's score map (an image over the scan) smoothed by a
Gaussian over the scan axes of its own width, or dropped. Truncated PCA is the special case "width 0 for
the first r components, dropped after"; a nearly periodic crystal gives score maps that vary smoothly over a
finely sampled scan, so noisy higher components become usable once smoothed. The components are
orthonormal, so the held-out error splits into one term per component, and each component's width is
chosen alone (summed over the folds, components matched by their rank). Then, if a network estimate is
given, the blend ``w · network + (1 − w) · ScorePCA`` with the smallest held-out error (a quadratic in
``w``, minimised exactly, clipped to [0, 1]).

Approximations, stated: the choice is made at ``(K − 1)/K`` of the dose (so slightly more smoothing than
the full data would need); a network trained once on all the data is evaluated on each fold's ``rest``
through the caller's ``network(rest)`` (its training saw the held-out electrons; a blind-spot prediction
never uses a position's own counts, so this only matters through what training memorised). Data are held in
memory (positions × pixels, float64): meant for scans of up to a few thousand positions, or a tile of a
larger scan. Axis order (scan y, scan x, ky, kx); counts are electrons (non-negative integers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import ndimage

from ..errors import LowdoseError
from ..thinning import thin  # noqa: F401 - part of this module's interface
from .fuse import band_sigmas, bands
from .rings import RingChoice, choose_rings, put_back as put_back_rings, ring_labels, ring_sums

SIGMAS = (0.0, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0)  #: scan px: Gaussian widths tried per score map (0: as is)
CHUNK = 128  #: positions per chunk when splitting residuals into detector bands
DROP = float("inf")  #: the width recorded for a dropped component


@dataclass(frozen=True)
class ThinConfig:
    """``folds``: K of the thinning; ``max_rank``: principal components considered; ``sigmas``: Gaussian
    widths over the scan (scan px) tried for each component's score map (0: not smoothed); ``seed``: the
    thinning's random split."""

    folds: int = 5
    max_rank: int = 96
    sigmas: tuple[float, ...] = SIGMAS
    residual_bands: bool = True
    band_smooth: float = 2.0
    rings: bool = True
    ring_width: float = 2.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 2 <= self.folds <= 20:
            raise LowdoseError(f"Poisson thinning needs 2 to 20 folds, got {self.folds}")
        if self.max_rank < 1:
            raise LowdoseError(f"max_rank must be at least 1, got {self.max_rank}")
        if not self.sigmas or min(self.sigmas) < 0:
            raise LowdoseError("the score maps' Gaussian widths must be 0 or positive")
        if self.ring_width <= 0:
            raise LowdoseError(f"ring_width must be positive detector px, got {self.ring_width}")
        if self.band_smooth < 0:
            raise LowdoseError(f"band_smooth must be 0 or more detector px, got {self.band_smooth}")


@dataclass(frozen=True)
class ThinChoice:
    """What the held-out folds chose: ``sigmas`` (one per component, ``inf`` = dropped), ``weight`` (the
    network's share, 0 without a network) and held-out squared errors per value (counts², the folds' own
    Poisson variance ``noise`` included) of the score PCA, of the network and of the blend."""

    sigmas: tuple[float, ...]
    band_weights: np.ndarray | None  #: (ky, kx, bands) shares of the residual's detector bands put back, or None
    weight: float
    pca_error: float
    network_error: float | None
    blend_error: float
    noise: float
    scores: dict = field(default_factory=dict, repr=False)
    rings: RingChoice | None = field(default=None, repr=False)  #: annular sums put back (:mod:`.rings`), or None

    @property
    def rank(self) -> int:
        """Components kept (not dropped)."""
        return sum(1 for s in self.sigmas if np.isfinite(s))


def counts_of(data, name: str = "4D-STEM data") -> np.ndarray:
    """The data as int64 electron counts; one sentence if they are not non-negative integers."""
    x = np.asarray(data)
    if not np.isfinite(x).all():
        raise LowdoseError(f"{name} has NaN/Inf values; Poisson thinning needs electron counts")
    r = np.rint(x)
    if (r < 0).any() or float(np.max(np.abs(x - r), initial=0.0)) > 1e-3:
        raise LowdoseError(f"{name} is not electron counts (non-negative integers); Poisson thinning cannot split it into folds")
    return r.astype(np.int64)


def pca_basis(x: np.ndarray, max_rank: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean (p,) and the first ``max_rank`` principal directions (r, p), orthonormal rows, of ``x``
    (n, p), from the eigenvectors of the smaller of the two Gram matrices."""
    mu = x.mean(axis=0)
    z = x - mu
    n, p = z.shape
    r = min(max_rank, n - 1, p)
    if n <= p:
        ev, u = np.linalg.eigh(z @ z.T)
        u = u[:, ::-1][:, :r]
        s = np.sqrt(np.maximum(ev[::-1][:r], 0))
        keep = s > 1e-9 * max(float(s[0]) if len(s) else 0.0, 1e-300)
        v = (u[:, keep].T @ z) / s[keep, None]
    else:
        ev, w = np.linalg.eigh(z.T @ z)
        v = w[:, ::-1][:, :r].T
    return mu, v


def smooth_scores(scores: np.ndarray, scan: tuple[int, int], sigmas) -> np.ndarray:
    """(n, r) score maps, each smoothed over the scan by its own Gaussian width (0: unchanged, inf: 0)."""
    out = np.zeros_like(scores)
    for i, s in enumerate(sigmas):
        if not np.isfinite(s):
            continue
        m = scores[:, i].reshape(scan)
        out[:, i] = (ndimage.gaussian_filter(m, s, mode="reflect") if s > 0 else m).ravel()
    return out


def score_pca(data, sigmas, max_positions: int | None = None) -> np.ndarray:
    """The mean pattern plus ``len(sigmas)`` principal components of ``data`` (ny, nx, ky, kx) with their
    score maps smoothed by ``sigmas`` (scan px; inf: dropped); float32, the data's shape."""
    ny, nx = data.shape[:2]
    x = np.asarray(data, np.float64).reshape(ny * nx, -1)
    mu, v = pca_basis(x, len(sigmas))
    sig = list(sigmas)[: len(v)]
    sc = smooth_scores((x - mu) @ v[: len(sig)].T, (ny, nx), sig)
    return (mu + sc @ v[: len(sig)]).reshape(data.shape).astype(np.float32)


def choose(data, config: ThinConfig | None = None, network: Callable[[np.ndarray], np.ndarray] | None = None) -> ThinChoice:
    """Choose each component's score-map width and the network's share on held-out folds of ``data``
    (electron counts, (ny, nx, ky, kx)). ``network(rest)``, if given, returns the network's estimate
    (same shape, counts) for counts ``rest`` holding (K − 1)/K of the electrons."""
    cfg = config or ThinConfig()
    y = counts_of(data)
    if y.ndim != 4:
        raise LowdoseError(f"Poisson thinning needs 4D data (scan y, scan x, ky, kx), got {y.ndim} axes")
    ny, nx = y.shape[:2]
    n = ny * nx
    k_f = cfg.folds
    parts = thin(y, k_f, np.random.default_rng(cfg.seed))
    sig = [float(s) for s in cfg.sigmas]
    err = None  # (rank, len(sig) + 1): held-out error of each width per component, the last column "dropped"
    base = 0.0  # held-out error outside the components' span (the same for every choice)
    folds_kept = []
    for k in range(k_f):
        rest = (y - parts[k]).reshape(n, -1).astype(np.float64)
        held = parts[k].reshape(n, -1).astype(np.float64)
        mu, v = pca_basis(rest, cfg.max_rank)
        t = held - mu / (k_f - 1)
        ft = t @ v.T  # the fold's scores
        sc = (rest - mu) @ v.T
        e = np.empty((len(v), len(sig) + 1))
        for i in range(len(v)):
            m = sc[:, i].reshape(ny, nx)
            for j, s in enumerate(sig):
                g = ndimage.gaussian_filter(m, s, mode="reflect") if s > 0 else m
                e[i, j] = np.sum((g.ravel() / (k_f - 1) - ft[:, i]) ** 2)
            e[i, -1] = np.sum(ft[:, i] ** 2)
        base += float(np.sum(t**2) - np.sum(ft**2))
        err = e if err is None else err[: len(e)] + e[: len(err)]
        folds_kept.append((k, mu, v, sc))
    pick = np.argmin(err, axis=1)
    sigmas = tuple(sig[j] if j < len(sig) else DROP for j in pick)
    while len(sigmas) > 1 and not np.isfinite(sigmas[-1]):
        sigmas = sigmas[:-1]
    r = len(sigmas)
    total = y.size * k_f
    pca_error = (base + float(np.sum(err[np.arange(len(err)), pick]))) / total
    noise = float(y.sum()) / k_f / y.size  # mean fold variance per value (λ/K)
    det = y.shape[2:]

    def fold_pca(k, mu, v, sc):
        return (mu + smooth_scores(sc[:, :r], (ny, nx), sigmas) @ v[:r]).reshape(y.shape)

    bw = None
    if cfg.residual_bands:
        sb = band_sigmas(det)
        nb = len(sb) + 2
        lhs, rhs = np.zeros((*det, nb, nb)), np.zeros((*det, nb))
        for k, mu, v, sc in folds_kept:
            p_k = fold_pca(k, mu, v, sc).reshape(n, *det)
            rest = (y - parts[k]).reshape(n, *det)
            for a in range(0, n, CHUNK):
                rb = np.stack(bands(rest[a : a + CHUNK] - p_k[a : a + CHUNK], sb), -1).astype(np.float64) / (k_f - 1)
                e = p_k[a : a + CHUNK] / (k_f - 1) - parts[k].reshape(n, *det)[a : a + CHUNK]
                lhs += np.einsum("nyxa,nyxb->yxab", rb, rb)
                rhs += np.einsum("nyxa,nyx->yxa", rb, e)
        bw = _band_weights(lhs, rhs, cfg.band_smooth)
    labels = ring_labels(y.reshape(n, *det).mean(axis=0), cfg.ring_width) if cfg.rings else None
    if network is None and labels is None:
        return ThinChoice(sigmas, bw, 0.0, pca_error, None, pca_error, noise)
    # the blend: sum over folds of |w a + (1 - w) b - t|^2 = |b - t|^2 + 2 w <a - b, b - t> + w^2 |a - b|^2
    bb = ab = aa = 0.0
    sums = []  # per fold: ring sums of the network's and the PCA's estimates, of rest and of the held-out fold
    for k, mu, v, sc in folds_kept:
        rest = (y - parts[k]).astype(np.float32)
        held = parts[k].reshape(n, -1).astype(np.float64)
        b = _put_back(rest, fold_pca(k, mu, v, sc), bw).reshape(n, -1)
        a = None if network is None else np.asarray(network(rest), np.float64).reshape(n, -1)
        if labels is not None:
            sums.append((None if a is None else ring_sums(a, labels), ring_sums(b, labels), ring_sums(rest, labels), ring_sums(held, labels)))
        if a is None:
            continue
        d = (a - b) / (k_f - 1)
        b = b / (k_f - 1)
        bb += float(np.sum((b - held) ** 2))
        ab += float(np.sum(d * (b - held)))
        aa += float(np.sum(d * d))
    w = float(np.clip(-ab / aa, 0.0, 1.0)) if aa > 0 else 0.0
    rings = None
    if labels is not None:
        rings = choose_rings(labels, (ny, nx), [(bs if ns is None else w * ns + (1 - w) * bs, rs, hs) for ns, bs, rs, hs in sums])
    if network is None:
        return ThinChoice(sigmas, bw, 0.0, pca_error, None, pca_error, noise, rings=rings)
    return ThinChoice(sigmas, bw, w, bb / total, (bb + 2 * ab + aa) / total, (bb + 2 * w * ab + w * w * aa) / total, noise,
                      {"bb": bb, "ab": ab, "aa": aa}, rings=rings)


def _band_weights(lhs: np.ndarray, rhs: np.ndarray, smooth: float) -> np.ndarray:
    """Per detector pixel, the band shares minimising the held-out error (normal equations pooled over a
    Gaussian of ``smooth`` px), clipped to [0, 1]."""
    if smooth > 0:
        lhs = ndimage.gaussian_filter(lhs, (smooth, smooth, 0, 0), mode="reflect")
        rhs = ndimage.gaussian_filter(rhs, (smooth, smooth, 0), mode="reflect")
    nb = lhs.shape[-1]
    scale = np.maximum(np.trace(lhs, axis1=-2, axis2=-1), 1e-30)[..., None, None]
    w = np.linalg.solve(lhs + 1e-9 * scale * np.eye(nb), -rhs[..., None])[..., 0]
    return np.clip(w, 0.0, 1.0).astype(np.float32)


def _put_back(counts: np.ndarray, pca: np.ndarray, bw: np.ndarray | None) -> np.ndarray:
    """``pca + Σ_b w_b · band_b(counts − pca)``, a chunk of positions at a time."""
    if bw is None:
        return np.asarray(pca, np.float32)
    det = counts.shape[-2:]
    c = np.asarray(counts, np.float32).reshape(-1, *det)
    p = np.asarray(pca, np.float32).reshape(-1, *det)
    out = p.copy()
    sb = band_sigmas(det)
    for a in range(0, len(c), CHUNK):
        for b, rb in enumerate(bands(c[a : a + CHUNK] - p[a : a + CHUNK], sb)):
            out[a : a + CHUNK] += bw[..., b] * rb
    return out.reshape(np.shape(counts))


def finish(data, choice: ThinChoice, network_estimate=None) -> np.ndarray:
    """The chosen estimate on all the counts: ``w · network_estimate + (1 − w) · (score PCA + the chosen
    shares of its residual's bands)``, then the chosen shares of its rings' residual sums; float32."""
    p = _put_back(np.asarray(data, np.float32), score_pca(np.asarray(data, np.float64), choice.sigmas), choice.band_weights)
    if network_estimate is not None and choice.weight > 0:
        p = (choice.weight * np.asarray(network_estimate, np.float32) + (1 - choice.weight) * p).astype(np.float32)
    if choice.rings is None:
        return p
    return put_back_rings(data, p, choice.rings)


MAX_VALUES = 2**25  #: positions × detector pixels that the thinned finish holds in memory (float64 copies)


def check_size(shape, name: str = "4D-STEM data") -> None:
    """One sentence if a scan is too large for the in-memory thinned finish."""
    size = int(np.prod(shape))
    if size > MAX_VALUES:
        raise LowdoseError(f"{name} has {size:,} values; the 'thin' finish holds the whole scan in memory and takes at most "
                           f"{MAX_VALUES:,} (e.g. 64 x 64 positions of 90 x 90 px): use the 'fuse' finish or crop the scan")


def network_blend(counts, raw, config: ThinConfig | None = None) -> tuple[np.ndarray, ThinChoice]:
    """The thinned finish of a blind-spot prediction ``raw`` (the network trained once on all the counts):
    the band-fused network (:class:`.fuse.BandFusion`) blended with the score PCA, every choice made on
    held-out folds; in fold k the network estimate is the fusion of ``raw · (K − 1)/K`` with that fold's
    other counts (the network is not retrained per fold). Returns the estimate (float32) and the choice."""
    from .fuse import BandFusion

    cfg = config or ThinConfig()
    check_size(np.shape(counts))

    def fused(c, p):
        f = BandFusion(tuple(np.shape(c)[2:]))
        f.add(c, p)
        return f.fuse(c, p)

    raw = np.asarray(raw, np.float32)
    s = np.float32((cfg.folds - 1) / cfg.folds)
    choice = choose(counts, cfg, network=lambda rest: fused(rest, raw * s))
    counts = np.asarray(counts, np.float32)
    return finish(counts, choice, fused(counts, raw)), choice
