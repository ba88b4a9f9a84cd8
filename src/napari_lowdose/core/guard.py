"""The guard: on an image's own counts, whether the network beats classical filters, and the blend
that predicts held-out electrons best (Poisson thinning).

A pixel's detected electrons ``c ~ Poisson(λ)`` split at random into ``K`` folds (each electron to a
fold with probability 1/K) are independent ``Poisson(λ/K)`` counts (Poisson thinning, "data fission").
For each fold, the other ``K − 1`` folds are denoised (the network; Gaussian filters of several widths;
lattice filters, the empirical Wiener filters of :mod:`.spectrum.wiener`, which keep a crystal's Bragg
peaks and remove the noise between them) and scaled back to the full dose; the held-out fold then
scores them without bias: its squared distance to ``estimate / K`` is, in expectation, the estimate's
squared error plus a constant (the fold's own Poisson variance). The blend ``w · network + (1 − w) ·
filter`` with the smallest held-out error over all folds is chosen; then, the same way, how much of
what the blend left out (the image less the blend, smoothed by a Gaussian) to put back: where a
filter paints columns alike, the held-out electrons ask for each one's own deviation. The choice is
applied to the whole image (the network run once more on all the counts).

So a model asked to restore what it never learned (atomic columns it smears into rows, a crystal's
lattice it breaks into isolated columns) falls back towards the filter that the image's own data
prefer, and the report says by how much the network won or lost. Needs counts: the detector gain and
offset (given, or estimated by :mod:`.trust.gain`). The blend is chosen on the network run at
(K − 1)/K of the dose, a little noisier than the final run.

Images are (y, x); widths in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
from scipy import ndimage

from .errors import LowdoseError
from .progress import drive
from .regions import bright_mask, bright_threshold, soft_mask
from .spectrum.wiener import BANK, LatticeWiener, filter_image, filter_windows
from .thinning import thin

#: px: Gaussian widths tried, 0.5 px to about 12 px in steps of 15 %
SIGMAS = tuple(round(0.5 * 1.15**i, 3) for i in range(24))
WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))  #: the network's share in the blend


@dataclass(frozen=True)
class GuardConfig:
    """``folds``: K of the thinning (each fold's network run sees (K − 1)/K of the electrons);
    ``max_side``: px, the blend is chosen on a central crop at most this large (the K network runs: on a
    2048² image, 256² cost less than the run-to-run noise of a few %, benchmarks/bench_peer_speed.py); ``gain_side``: px,
    the crop the detector gain is estimated from when it is not given;
    ``sigmas`` (px), ``lattice`` (empirical Wiener filters, :mod:`.spectrum.wiener`; empty: Gaussians only)
    and ``weights`` (the network's share): the blends tried."""

    folds: int = 5
    max_side: int = 256
    gain_side: int = 512
    sigmas: tuple[float, ...] = SIGMAS
    weights: tuple[float, ...] = WEIGHTS
    lattice: tuple[LatticeWiener, ...] = BANK
    lattice_window: int = 256
    regions: bool = True  #: particles on a support (:mod:`.regions`) each get their own choice
    residual_shares: tuple[float, ...] = WEIGHTS
    residual_sigmas: tuple[float, ...] = (1.5, 2.0, 3.0, 4.0)  #: px (finer ones put back single electrons: speckles)
    seed: int = 0

    def __post_init__(self) -> None:
        if not 2 <= self.folds <= 20:
            raise LowdoseError(f"the guard needs 2 to 20 folds, got {self.folds}")
        if min(self.max_side, self.gain_side) < 32:
            raise LowdoseError(f"the guard's crops must be at least 32 px, got {self.max_side} and {self.gain_side}")
        if not self.sigmas or min(self.sigmas) <= 0:
            raise LowdoseError("the guard's Gaussian widths must be positive")
        if not self.weights or min(self.weights) < 0 or max(self.weights) > 1:
            raise LowdoseError("the guard's network shares must lie in [0, 1]")


@dataclass(frozen=True)
class GuardChoice:
    """The blend chosen: the network's share ``weight``, the Gaussian's width ``sigma`` (px), or a lattice
    filter ``lattice`` (applied in windows of ``window`` px, y x, and only where the image's own held-out
    electrons prefer it to the Gaussian, :func:`lattice_share`); the held-out
    errors (electrons² per pixel, fold noise included) of the blend, of the network alone and of the best
    Gaussian alone; ``network_vs_gaussian``: the network's held-out advantage over the best Gaussian (dB
    of the signal error, positive when the network wins)."""

    weight: float
    sigma: float
    error: float
    network_error: float
    gaussian_error: float
    noise: float  #: the held-out folds' own Poisson variance per pixel (the part of every error no estimate removes)
    network_vs_gaussian: float
    scores: dict = field(default_factory=dict, repr=False)
    lattice: LatticeWiener | None = None
    window: tuple[int, int] = (0, 0)
    residual_share: float = 0.0  #: the share of the blend's residual (image − blend), smoothed, put back
    residual_sigma: float = 0.0  #: px, the Gaussian that smooths it
    #: particles on a support (:mod:`.regions`): the choice for the support, the fields above being the
    #: particles'; and the smoothed counts per pixel (full dose) above which a pixel is a particle's
    support: "GuardChoice | None" = None
    threshold: float = 0.0

    @property
    def filter_label(self) -> str:
        return self.lattice.label if self.lattice is not None else f"Gaussian filter ({self.sigma:.2g} px)"

    @property
    def message(self) -> str:
        if self.support is not None:
            return f"on the particles {self._message()}; on the support {self.support._message()}"
        return self._message()

    def _message(self) -> str:
        if self.weight >= 1.0:
            return f"the network beat a Gaussian filter on this image's own held-out electrons ({self.network_vs_gaussian:+.1f} dB); kept as it is"
        if self.weight <= 0.0:
            how = f"beat the network ({self.network_vs_gaussian:+.1f} dB)" if self.network_vs_gaussian <= -0.05 else "did as well as the network"
            if self.lattice is not None:
                how = "did better than the network and the best Gaussian filter"
            return (f"on this image's own held-out electrons a {self.filter_label} {how}: "
                    "the result is that filter; the model does not fit this image")
        return (f"the result blends the network ({self.weight:.0%}) with a {self.filter_label}, the mix this "
                f"image's own held-out electrons preferred (network alone {self.network_vs_gaussian:+.1f} dB against a Gaussian filter)")


def _crop(a: np.ndarray, side: int) -> np.ndarray:
    ny, nx = a.shape
    y0, x0 = max((ny - side) // 2, 0), max((nx - side) // 2, 0)
    return a[y0 : y0 + side, x0 : x0 + side]


def iter_choose(counts: np.ndarray, network: Callable[[np.ndarray], np.ndarray], config: GuardConfig = GuardConfig()):
    """Generator: yields the fold index after each network run (a tick and a cancel point); returns the
    :class:`GuardChoice`. ``counts``: detected electrons (y, x), >= 0; ``network``: maps counts to their
    denoised counts (same shape)."""
    c = np.asarray(counts, np.float64)
    if c.ndim != 2 or min(c.shape) < 32:
        raise LowdoseError(f"the guard needs one 2-D image of at least 32 x 32 pixels, got shape {c.shape}")
    if not np.all(np.isfinite(c)) or c.min() < 0:
        raise LowdoseError("the guard needs electron counts (finite, not negative): check the detector gain and offset")
    if c.sum() < 10 * config.folds:
        raise LowdoseError("the image holds too few electrons to tell the network from a Gaussian filter")
    c = np.rint(_crop(c, config.max_side))
    window = (min(config.lattice_window, c.shape[0]), min(config.lattice_window, c.shape[1]))
    rng = np.random.default_rng(config.seed)
    k = config.folds
    scale = k / (k - 1.0)
    n_gauss, n_filters = len(config.sigmas), len(config.sigmas) + len(config.lattice)
    threshold = bright_threshold(c) if config.regions else None
    bright = None if threshold is None else bright_mask(c, threshold)
    masks = [np.ones(c.shape, bool)] if bright is None else [bright, ~bright]
    # the held-out error of w · net + (1 − w) · f is mean((f − held) + w (net − f))²: three sums per filter
    # and region (each region's sums over its pixels, divided by all the pixels: they add up to the image's)
    sums = np.zeros((k, len(masks), 3, n_filters))  # per fold: a region's own choice must win fold by fold
    noise = 0.0
    folds = []  # (held, rest, network) per fold, for the residual's choice
    for i, held in enumerate(thin(c, k, rng)):
        rest = c - held
        net = np.asarray(network(rest.astype(np.float32)), np.float64) * scale / k
        folds.append((held, rest, net))
        filtered = [ndimage.gaussian_filter(rest, s, mode="reflect") for s in config.sigmas]
        filtered += filter_windows(rest, config.lattice, window) if config.lattice else []
        for j, f in enumerate(filtered):
            miss, gap = f * (scale / k) - held, net - f * (scale / k)
            for r, m in enumerate(masks):
                sums[i, r, :, j] = ((miss * miss)[m].sum(), (miss * gap)[m].sum(), (gap * gap)[m].sum())
        noise += float(held.mean())  # E (held - λ/K)² = λ/K: the fold's Poisson variance
        yield i
    sums, noise = sums / c.size, noise / k
    w = np.asarray(config.weights, np.float64)[:, None]

    def errors(s):  # (weights, filters)
        return s[0][None] + 2 * w * s[1][None] + w * w * s[2][None]

    err = errors(sums.sum(axis=(0, 1)) / k)
    net_err = float(err[list(config.weights).index(1.0)].min()) if 1.0 in config.weights else float("nan")
    gauss_err = float(err[list(config.weights).index(0.0), :n_gauss].min()) if 0.0 in config.weights else float("nan")
    # dB of the signal error (held-out error minus the fold noise), network against the best Gaussian
    # (floored at 1 % of the fold noise: the difference of two noisy errors can come out below 0)
    sig_net, sig_gauss = max(net_err - noise, 0.01 * noise), max(gauss_err - noise, 0.01 * noise)
    versus = float(10 * np.log10(sig_gauss / sig_net))
    best = np.unravel_index(np.argmin(err), err.shape)

    def pick(e, at, mask):
        iw, js = at
        lattice = config.lattice[js - n_gauss] if js >= n_gauss else None
        sigma = config.sigmas[js] if lattice is None else config.sigmas[int(np.argmin(e[iw, :n_gauss]))]  # a lattice's fallback
        choice = GuardChoice(float(config.weights[iw]), float(sigma), float(e[iw, js]), net_err, gauss_err, noise, versus,
                             {"errors": e.tolist()}, lattice, window)
        share, width, error = _residual_choice(folds, choice, config, mask)
        return replace(choice, residual_share=share, residual_sigma=width, error=error) if share > 0 else choice

    # a region gets its own blend only where that beats the image's blend there by two standard errors
    # of the fold-to-fold differences (a small region's best of 700 blends is partly luck)
    own = []
    for r in range(len(masks)):
        e = errors(sums[:, r].sum(axis=0) / k)
        at = np.unravel_index(np.argmin(e), e.shape)
        per_fold = np.array([errors(sums[f, r])[at] - errors(sums[f, r])[best] for f in range(k)])
        own.append(at if per_fold.mean() + 2 * per_fold.std(ddof=1) / np.sqrt(k) < 0 else best)
    if threshold is None or own[0] == own[1] == best:
        return pick(err, best, np.ones(c.shape, bool))
    inside, outside = (pick(errors(sums[:, r].sum(axis=0) / k), own[r], masks[r]) for r in range(2))
    return replace(inside, support=outside, threshold=float(threshold), error=inside.error + outside.error)


def _residual_choice(folds, choice: GuardChoice, config: GuardConfig, mask: np.ndarray) -> tuple[float, float, float]:
    """(share, σ px, held-out error) of the residual put back: the blend ``b`` of each fold's complement
    plus ``share · Gaussian(σ)`` of what it left out (the complement, at the held-out fold's dose, less
    ``b``), scored on the held-out folds like the blends over the pixels of ``mask``. Where the blend paints
    columns alike (a lattice filter averages unit cells) the held-out electrons ask for each column's own
    deviation back."""
    k = len(folds)
    sums = np.zeros((3, len(config.residual_sigmas)))
    for held, rest, net in folds:
        blend = apply(rest, net * (k - 1), choice) / (k - 1)  # the blend at the held-out fold's dose
        miss = blend - held
        for j, s in enumerate(config.residual_sigmas):
            back = ndimage.gaussian_filter(rest / (k - 1) - blend, s, mode="reflect")
            sums[:, j] += ((miss * miss)[mask].sum(), (miss * back)[mask].sum(), (back * back)[mask].sum())
    sums /= k * mask.size
    a = np.asarray(config.residual_shares, np.float64)[:, None]
    err = sums[0][None] + 2 * a * sums[1][None] + a * a * sums[2][None]
    ia, js = np.unravel_index(np.argmin(err), err.shape)
    return float(config.residual_shares[ia]), float(config.residual_sigmas[js]), float(err[ia, js])


def choose(counts: np.ndarray, network: Callable[[np.ndarray], np.ndarray], config: GuardConfig = GuardConfig()) -> GuardChoice:
    """:func:`iter_choose`, run to the end."""
    return drive(iter_choose(counts, network, config))


def _counts(image: np.ndarray, gain: float, offset: float) -> np.ndarray:
    """Detected electrons of an ADU image: ``(image − offset) / gain``, clipped at 0 (float64)."""
    return np.clip((np.asarray(image, np.float64) - offset) / gain, 0, None)


def apply(image: np.ndarray, denoised: np.ndarray, choice: GuardChoice, gain: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """The chosen blend on the whole image: ``weight · denoised + (1 − weight) · filter(image)`` (both in the
    image's units: the blend is linear, so it holds in ADU as in electrons; a lattice filter runs on the
    counts ``(image − offset) / gain`` in windows of the crop's size); float32. With particles on a support,
    each region gets its own choice, joined with soft edges."""
    if choice.support is not None:
        inside = soft_mask(bright_mask(_counts(image, gain, offset), choice.threshold))
        own = replace(choice, support=None)
        return (inside * apply(image, denoised, own, gain, offset) +
                (1.0 - inside) * apply(image, denoised, choice.support, gain, offset)).astype(np.float32)
    if choice.weight >= 1.0:
        out = np.asarray(denoised, np.float64)
    elif choice.lattice is not None:
        g = offset + gain * filter_image(_counts(image, gain, offset), choice.lattice, choice.window)
    else:
        g = ndimage.gaussian_filter(np.asarray(image, np.float64), choice.sigma, mode="reflect")
    if choice.weight < 1.0:
        out = choice.weight * np.asarray(denoised, np.float64) + (1.0 - choice.weight) * g
    if choice.residual_share > 0:
        out = out + choice.residual_share * ndimage.gaussian_filter(np.asarray(image, np.float64) - out, choice.residual_sigma, mode="reflect")
    return out.astype(np.float32)


def iter_guarded(image: np.ndarray, denoised: np.ndarray, network: Callable[[np.ndarray], np.ndarray], gain: float = 1.0,
                 offset: float = 0.0, config: GuardConfig = GuardConfig()):
    """Generator (a tick and cancel point after each fold's network run) of :func:`guarded`; returns
    (result, choice)."""
    if not (np.isfinite(gain) and gain > 0):
        raise LowdoseError(f"the guard needs a positive detector gain (ADU per electron), got {gain}")
    counts = _counts(image, gain, offset)

    def on_counts(c: np.ndarray) -> np.ndarray:
        return (np.asarray(network((offset + gain * c).astype(np.float32)), np.float64) - offset) / gain

    choice = yield from iter_choose(counts, on_counts, config)
    return apply(image, denoised, choice, gain, offset), choice


def guarded(image: np.ndarray, denoised: np.ndarray, network: Callable[[np.ndarray], np.ndarray], gain: float = 1.0,
            offset: float = 0.0, config: GuardConfig = GuardConfig()) -> tuple[np.ndarray, GuardChoice]:
    """``image`` (ADU, y x) and the network's ``denoised`` image of it; ``network`` maps an ADU image to its
    denoised ADU image. Returns the guarded result (float32, ADU) and the choice."""
    return drive(iter_guarded(image, denoised, network, gain, offset, config))


def guard_plane(image: np.ndarray, denoised: np.ndarray, network: Callable[[np.ndarray], np.ndarray],
                gain: float | None = None, offset: float | None = None,
                config: GuardConfig = GuardConfig()) -> tuple[np.ndarray, GuardChoice | None, str]:
    """:func:`iter_guard_plane`, run to the end."""
    return drive(iter_guard_plane(image, denoised, network, gain, offset, config))


def iter_guard_plane(image: np.ndarray, denoised: np.ndarray, network: Callable[[np.ndarray], np.ndarray],
                     gain: float | None = None, offset: float | None = None, config: GuardConfig = GuardConfig()):
    """Generator: the guard on one 2-D plane (ADU), with the detector gain and offset given or estimated
    from the plane (:func:`.trust.gain.estimate_gain`); yields the fold index after each network run (a
    tick and a cancel point). An image of counts (:func:`.choose.counts_without_scan_noise`) needs neither:
    gain 1, offset 0. Returns (result, choice, note): when the guard cannot run (no electrons to
    split, a gain that cannot be estimated) the network's result, None and why."""
    from .choose import counts_without_scan_noise
    from .trust.gain import estimate_gain

    plane = np.asarray(image, np.float64)
    try:
        if (gain is None or offset is None) and counts_without_scan_noise(plane):
            gain, offset = 1.0, 0.0
            how = "the image holds electron counts: gain 1, offset 0"
        elif gain is None or offset is None:
            est = estimate_gain(_crop(plane, config.gain_side))
            if not est.identifiable:  # thinning needs Poisson counts: a wrong scale biases the choice
                se = f"±{est.gain_se:.0%}" if np.isfinite(est.gain_se) else "not at all"
                return (np.asarray(denoised, np.float32), None,
                        f"guard not applied: this image pins the detector gain down only {se}; give the gain and offset")
            gain, offset = est.gain, est.offset
            how = f"gain {gain:.3g} ADU/e⁻, offset {offset:.4g} ADU estimated from the image"
        else:
            how = f"gain {gain:.3g} ADU/e⁻, offset {offset:.4g} ADU given"
        out, choice = yield from iter_guarded(plane, denoised, network, gain, offset, config)
    except LowdoseError as exc:
        return np.asarray(denoised, np.float32), None, f"guard not applied: {exc}"
    return out, choice, f"guard: {choice.message} ({how})"
