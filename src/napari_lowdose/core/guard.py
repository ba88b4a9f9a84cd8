"""The Gaussian guard: on an image's own counts, whether the network beats a plain Gaussian filter, and
the blend of the two that predicts held-out electrons best (Poisson thinning).

A pixel's detected electrons ``c ~ Poisson(λ)`` split at random into ``K`` folds (each electron to a
fold with probability 1/K) are independent ``Poisson(λ/K)`` counts (Poisson thinning, "data fission").
For each fold, the other ``K − 1`` folds are denoised (the network, and Gaussian filters of several
widths) and scaled back to the full dose; the held-out fold then scores them without bias: its squared
distance to ``estimate / K`` is, in expectation, the estimate's squared error plus a constant (the
fold's own Poisson variance). The blend ``w · network + (1 − w) · Gaussian(σ)`` with the smallest held-out
error over all folds is applied to the whole image (the network run once more on all the counts).

So a model asked to restore what it never learned (atomic columns it smears into rows, say) falls back
towards the filter that the image's own data prefer, and the report says by how much the network won or
lost. Needs counts: the detector gain and offset (given, or estimated by :mod:`.trust.gain`). The blend
is chosen on the network run at (K − 1)/K of the dose, a little noisier than the final run.

Images are (y, x); widths in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import ndimage

from .errors import LowdoseError
from .progress import drive
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
    ``sigmas`` (px) and ``weights`` (the network's share): the blends tried."""

    folds: int = 5
    max_side: int = 256
    gain_side: int = 512
    sigmas: tuple[float, ...] = SIGMAS
    weights: tuple[float, ...] = WEIGHTS
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
    """The blend chosen: the network's share ``weight``, the Gaussian's width ``sigma`` (px); the held-out
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

    @property
    def message(self) -> str:
        if self.weight >= 1.0:
            return f"the network beat a Gaussian filter on this image's own held-out electrons ({self.network_vs_gaussian:+.1f} dB); kept as it is"
        if self.weight <= 0.0:
            how = f"beat the network ({self.network_vs_gaussian:+.1f} dB)" if self.network_vs_gaussian <= -0.05 else "did as well as the network"
            return (f"on this image's own held-out electrons a Gaussian filter ({self.sigma:.2g} px) {how}: "
                    "the result is that filter; the model does not fit this image")
        return (f"the result blends the network ({self.weight:.0%}) with a Gaussian filter ({self.sigma:.2g} px), the mix this "
                f"image's own held-out electrons preferred (network alone {self.network_vs_gaussian:+.1f} dB against the filter)")


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
    rng = np.random.default_rng(config.seed)
    k = config.folds
    scale = k / (k - 1.0)
    err = np.zeros((len(config.weights), len(config.sigmas)))
    noise = 0.0
    for i, held in enumerate(thin(c, k, rng)):
        rest = c - held
        net = np.asarray(network(rest.astype(np.float32)), np.float64) * scale / k
        gauss = np.stack([ndimage.gaussian_filter(rest, s, mode="reflect") for s in config.sigmas]) * scale / k
        for iw, w in enumerate(config.weights):
            err[iw] += (((w * net)[None] + (1.0 - w) * gauss - held[None]) ** 2).mean(axis=(1, 2))
        noise += float(held.mean())  # E (held - λ/K)² = λ/K: the fold's Poisson variance
        yield i
    err, noise = err / k, noise / k
    iw, js = np.unravel_index(np.argmin(err), err.shape)
    net_err = float(err[list(config.weights).index(1.0)].min()) if 1.0 in config.weights else float("nan")
    gauss_err = float(err[list(config.weights).index(0.0)].min()) if 0.0 in config.weights else float("nan")
    # dB of the signal error (held-out error minus the fold noise), network against the best Gaussian
    # (floored at 1 % of the fold noise: the difference of two noisy errors can come out below 0)
    sig_net, sig_gauss = max(net_err - noise, 0.01 * noise), max(gauss_err - noise, 0.01 * noise)
    return GuardChoice(float(config.weights[iw]), float(config.sigmas[js]), float(err[iw, js]), net_err, gauss_err, noise,
                       float(10 * np.log10(sig_gauss / sig_net)), {"errors": err.tolist()})


def choose(counts: np.ndarray, network: Callable[[np.ndarray], np.ndarray], config: GuardConfig = GuardConfig()) -> GuardChoice:
    """:func:`iter_choose`, run to the end."""
    return drive(iter_choose(counts, network, config))


def apply(image: np.ndarray, denoised: np.ndarray, choice: GuardChoice) -> np.ndarray:
    """The chosen blend on the whole image: ``weight · denoised + (1 − weight) · Gaussian(image, sigma)``
    (both in the image's units: the blend is linear, so it holds in ADU as in electrons); float32."""
    if choice.weight >= 1.0:
        return np.asarray(denoised, np.float32)
    g = ndimage.gaussian_filter(np.asarray(image, np.float64), choice.sigma, mode="reflect")
    return (choice.weight * np.asarray(denoised, np.float64) + (1.0 - choice.weight) * g).astype(np.float32)


def iter_guarded(image: np.ndarray, denoised: np.ndarray, network: Callable[[np.ndarray], np.ndarray], gain: float = 1.0,
                 offset: float = 0.0, config: GuardConfig = GuardConfig()):
    """Generator (a tick and cancel point after each fold's network run) of :func:`guarded`; returns
    (result, choice)."""
    if not (np.isfinite(gain) and gain > 0):
        raise LowdoseError(f"the guard needs a positive detector gain (ADU per electron), got {gain}")
    counts = np.clip((np.asarray(image, np.float64) - offset) / gain, 0, None)

    def on_counts(c: np.ndarray) -> np.ndarray:
        return (np.asarray(network((offset + gain * c).astype(np.float32)), np.float64) - offset) / gain

    choice = yield from iter_choose(counts, on_counts, config)
    return apply(image, denoised, choice), choice


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
    tick and a cancel point). Returns (result, choice, note): when the guard cannot run (no electrons to
    split, a gain that cannot be estimated) the network's result, None and why."""
    from .trust.gain import estimate_gain

    plane = np.asarray(image, np.float64)
    try:
        if gain is None or offset is None:
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
