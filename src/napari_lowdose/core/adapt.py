"""Adapt a model to one image before denoising it: self-supervised fine-tuning on the image itself.

The network is fine-tuned for a few seconds with the blind-spot loss (a few pixels of each patch are
hidden and predicted from their neighbours; the Poisson negative log-likelihood for counts, else L2:
:class:`~.finetune.FineTuner` in self-supervised mode). A strip of the image is held out, and the
adapted weights are kept only when they predict the strip's hidden pixels better than the starting
weights did (the blind-spot score): otherwise the starting model is used unchanged. Nothing but the
image is needed, so it works on a first image of a new specimen; no peer restorer does this.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .errors import LowdoseError
from .finetune import MIN_PAIR_SIDE, FinetuneConfig, FineTuner, FinetuneProgress, prepare_pair
from .model import Model


@dataclass(frozen=True)
class AdaptReport:
    """What adaptation did: blind-spot scores (dB, higher is better) before and after, steps, whether kept."""

    seconds: float
    steps: int
    start_score: float
    best_score: float
    adopted: bool

    def note(self) -> str:
        if self.adopted:
            return (f"adapted to the image in {self.seconds:.0f} s ({self.steps} steps): blind-spot score "
                    f"{self.start_score:.2f} -> {self.best_score:.2f} dB, adapted weights used")
        return (f"adaptation for {self.seconds:.0f} s ({self.steps} steps) did not beat the starting weights on the "
                f"held-out strip ({self.best_score:.2f} dB): the model is used unchanged")


#: px, side of the central region adapted on (enough patches; bounds the cost of scoring the held-out strip)
MAX_REGION = 512


def min_side(model: Model) -> int:
    """Smallest image side that can be adapted on: a held-out strip of two network multiples plus a patch."""
    return max(MIN_PAIR_SIDE, 2 * model.card.architecture.multiple + 32)


def iter_adapt(image: np.ndarray, model: Model, seconds: float = 60.0, device: str = "cpu", seed: int = 0, lr: float = 5e-5, patch: int = 128):
    """Generator: yields :class:`~.finetune.FinetuneProgress`; returns ``(model, AdaptReport)`` where
    ``model`` holds the adapted weights if they scored better on the held-out strip, else ``model``.
    Images larger than :data:`MAX_REGION` are adapted on their central region."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise LowdoseError(f"adapting needs one 2-D image, got shape {image.shape}")
    need = min_side(model)
    if min(image.shape) < need:
        raise LowdoseError(f"adapting needs an image of at least {need} x {need} px, got {image.shape[0]} x {image.shape[1]}")
    y0, x0 = max(0, (image.shape[0] - MAX_REGION) // 2), max(0, (image.shape[1] - MAX_REGION) // 2)
    image = image[y0 : y0 + MAX_REGION, x0 : x0 + MAX_REGION]
    if not seconds > 0:
        raise LowdoseError(f"the adaptation time must be positive, got {seconds} s")
    mult = model.card.architecture.multiple
    cfg = FinetuneConfig(minutes=seconds / 60.0, lr=lr, self_supervised=True, patch=32, seed=seed, validate_every=max(2.0, seconds / 8))
    strip = max(int(round(cfg.val_fraction * image.shape[0])), 2 * mult)  # the held-out strip FineTuner cuts off the bottom
    fits = min(image.shape[0] - strip, int(min(image.shape) * 0.8))  # patches must fit in the training area
    cfg = replace(cfg, patch=max(32, min(patch, (fits // mult) * mult)))
    pair = prepare_pair(image, None, name="image")
    tuner = FineTuner(model, [pair], cfg, device=device)
    start = None
    for progress in tuner.run():
        if start is None:
            start = progress.val_psnr
        yield progress
    best = tuner.best_model()
    adopted = tuner.best_step > 0
    history = tuner.history
    report = AdaptReport(float(history[-1]["seconds"]) if history else 0.0, tuner.step, float(start), float(tuner.best_psnr), adopted)
    return (best if adopted else model), report


def adapt(image: np.ndarray, model: Model, seconds: float = 60.0, device: str = "cpu", seed: int = 0) -> tuple[Model, AdaptReport]:
    """:func:`iter_adapt` run to the end."""
    gen = iter_adapt(image, model, seconds, device, seed)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


__all__ = ["AdaptReport", "FinetuneProgress", "adapt", "iter_adapt"]
