"""The Denoise panel's worker bodies and card text (no Qt here: the widget runs these on a napari worker).

Every yield is ``(step, snapshot)``: a progress record (``done``, ``total``, ``message``) and, every
:data:`SNAPSHOT_SECONDS`, a partial result taken on the worker thread itself, so it never races the
computation; each yield is a cancel point.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..core.model import Model
from ..core.tiling import TiledDenoiser

SNAPSHOT_SECONDS = 0.5  #: how often the worker hands a partial result to the display


def denoise_with_snapshots(denoiser: TiledDenoiser, data: np.ndarray, name: str):
    """Worker body: the denoiser's progress, plus a partial result every SNAPSHOT_SECONDS (taken on the
    worker thread, so it never races the computation)."""
    last = time.monotonic()
    gen = denoiser.run(data, name=name)
    try:
        while True:
            step = next(gen)
            now = time.monotonic()
            snapshot = None
            if now - last >= SNAPSHOT_SECONDS:
                snapshot, last = denoiser.partial(), now
            yield step, snapshot
    except StopIteration as stop:
        return stop.value


def card_text(model: Model) -> str:
    card = model.card
    arch = card.architecture
    lines = [f"<b>{card.name}</b>", f"U-Net depth {arch.depth}, {arch.base_channels} channels"]
    if card.trained_on.get("data"):
        data = str(card.trained_on["data"])
        if "core.simulate" in data:  # a module path does not wrap: say it in words
            data = "the project's simulator (core.simulate)"
        lines.append(f"trained on: {data}")
    from ..core.choose import model_range

    trained = model_range(card)
    if trained is not None:
        lines.append(f"trained range: {trained.describe()}")
    held = card.metrics.get("held_out", {}).get("in_distribution")
    if held:
        gain = sum(r["model_psnr"] - r["noisy_psnr"] for r in held) / len(held)
        vs = sum(r["model_psnr"] - r["gaussian_psnr"] for r in held) / len(held)
        lines.append(f"held-out: {gain:+.1f} dB over noisy, {vs:+.1f} dB over the best Gaussian (mean of {len(held)} settings)")
    if card.refine != "none":
        lines.append(f"refine (model's choice): {card.refine}")
    finetune = card.training.get("finetune")
    if finetune:
        lines.append(f"fine-tuned: {finetune.get('steps')} steps, validation {finetune.get('best_validation_psnr_db')} dB")
    elif card.training.get("steps"):
        lines.append(f"{card.training['steps']} steps, {card.training.get('wall_time_s', '?')} s")
    return "<br>".join(lines)




@dataclass(frozen=True)
class Tick:
    """A progress record of the adaptation stage, shaped like the denoiser's."""

    done: int
    total: int
    message: str = ""


def adapt_then_denoise(model: Model, data: np.ndarray, name: str, seconds: float, template: TiledDenoiser, notes: list,
                       used: list | None = None):
    """Worker body: adapt ``model`` to the image (its first plane) for ``seconds``, self-supervised, then
    denoise with the adapted weights when they beat the model on a held-out strip (else with ``model``),
    with ``template``'s settings. What adaptation did is appended to ``notes``; the denoiser used, to
    ``used`` when given."""
    from ..core.adapt import iter_adapt
    from ..core.errors import LowdoseError

    plane = np.asarray(data if data.ndim == 2 else np.asarray(data).reshape(-1, *data.shape[-2:])[0], np.float32)
    gen = iter_adapt(plane, model, seconds=seconds)
    try:
        while True:
            p = next(gen)
            yield Tick(int(100 * p.fraction), 100, f"adapting to the image: {p.message}"), None
    except StopIteration as stop:
        adapted, report = stop.value
        notes.append(report.note())
    except LowdoseError as exc:
        adapted = model
        notes.append(f"not adapted: {exc}")
    denoiser = template.like(adapted)
    if used is not None:
        used.append(denoiser)  # the denoiser that made the result (the guard runs its model again)
    result = yield from denoise_with_snapshots(denoiser, data, name)
    notes.extend(denoiser.notes)
    return result


def with_guard(body, data, denoiser: TiledDenoiser, gain, offset, notes: list, used: list | None = None):
    """Worker body: ``body`` (a worker generator of (step, snapshot)), then the guard
    (core/guard.py) on its result when that is one 2-D image, with the model of the denoiser that made
    the result (the last in ``used`` when the body records one, e.g. after adaptation, else ``denoiser``);
    what the guard did is appended to ``notes``."""
    from ..core.guard import GuardConfig, iter_guard_plane
    from ..core.progress import drive

    result = yield from body
    if np.ndim(result) != 2:
        notes.append("guard not applied: it works on one 2-D image")
        return result
    folds = GuardConfig().folds
    # the network's result is shown while the guard runs (and stays if the guard is cancelled)
    yield Tick(0, folds, "guard: the network against Gaussian and lattice filters on the image's own electrons…"), result
    again = (used[-1] if used else denoiser).like()
    guard = iter_guard_plane(np.asarray(data), result, lambda x: drive(again.run(x)), gain, offset)
    while True:  # a tick and a cancel point after each fold: Cancel keeps the network's result shown
        try:
            i = next(guard)
        except StopIteration as stop:
            out, _, note = stop.value
            break
        yield Tick(i + 1, folds, f"guard: held-out fold {i + 1} of {folds} scored"), None
    notes.append(note)
    return out
