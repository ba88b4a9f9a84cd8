"""Which bundled model fits an image, and whether the image lies inside the range a model was trained on.

:func:`model_range` reads a model card: the modality, the pixel sizes (Å) and the incident electrons
per pixel of its training distribution (islands and, where the card says so, atoms), the detectors.
:func:`range_note` gives one sentence when an image's pixel size lies outside that range (a model
asked to restore what it never saw can erase or invent structure). :func:`choose_model` picks
``"haadf"`` or ``"hrtem"`` from the acquisition mode a file records (STEM or TEM).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from .model import BUNDLED_MODELS, DEFAULT_MODEL, ModelCard

#: how far outside the trained pixel-size range (as a factor) still counts as inside: the networks see
#: patches at random pixel sizes, a few percent either side changes nothing
TOLERANCE = 1.15


@dataclass(frozen=True)
class TrainedRange:
    """What a model was trained on. Pixel sizes in Å, electrons per pixel (per probe position)."""

    modalities: tuple[str, ...]
    pixel_size: tuple[float, float] | None
    electrons: tuple[float, float] | None
    detectors: str
    detected: bool = False  #: ``electrons`` are detected (mean per pixel), not incident

    def describe(self) -> str:
        parts = ["/".join(BUNDLED_MODELS.get(m, m) for m in self.modalities) or "unknown modality"]
        if self.pixel_size:
            parts.append(f"{self.pixel_size[0]:g}-{self.pixel_size[1]:g} Å/px")
        if self.electrons:
            parts.append(f"{self.electrons[0]:g}-{self.electrons[1]:g} {'detected ' if self.detected else ''}e⁻/px")
        if self.detectors:
            parts.append(self.detectors)
        return ", ".join(parts)


def model_range(card: ModelCard) -> TrainedRange | None:
    """The training range a card records (``None`` when it records none, e.g. a fine-tuned model's base
    was not simulated)."""
    dist = (card.trained_on or {}).get("distribution")
    if not isinstance(dist, dict):
        return None
    modalities = tuple(dist.get("modalities") or ())
    lows, highs, e_lo, e_hi = [], [], [], []
    detected = False
    atomic = float(dist.get("atomic_fraction") or 0.0)
    for m in modalities:
        if atomic < 1.0 and f"{m}_pixel_size" in dist:
            lows.append(dist[f"{m}_pixel_size"][0])
            highs.append(dist[f"{m}_pixel_size"][1])
            e_lo.append(dist[f"{m}_electrons"][0])
            e_hi.append(dist[f"{m}_electrons"][1])
        if atomic > 0 and "atomic_pixel_size" in dist:
            lows.append(dist["atomic_pixel_size"][0])
            highs.append(dist["atomic_pixel_size"][1])
            key = f"atomic_{m}_electrons"
            if dist.get(f"atomic_{m}_detected"):
                key, detected = f"atomic_{m}_detected", True
            if key in dist:
                e_lo.append(dist[key][0])
                e_hi.append(dist[key][1])
    detectors = []
    if dist.get("atomic_counting"):
        detectors.append("electron counts (gain and offset removed)")
    if "haadf" in modalities:
        arts = dist.get("atomic_artifact_scale") if atomic >= 1.0 else None
        detectors.append("STEM detector without scan artifacts" if arts and max(arts) == 0 else "STEM detector with scan artifacts")
    if "hrtem" in modalities:
        counting = float(dist.get("hrtem_counting", 1.0))
        detectors.append("counting camera" if counting >= 1.0 else f"counting ({counting:.0%}) and scintillator cameras")
    return TrainedRange(
        modalities,
        (min(lows), max(highs)) if lows else None,
        (min(e_lo), max(e_hi)) if e_lo else None,
        "; ".join(detectors),
        detected,
    )


def range_note(card: ModelCard, pixel_size: float | None) -> str | None:
    """One sentence when ``pixel_size`` (Å) lies outside the card's trained range, else ``None``."""
    rng = model_range(card)
    if rng is None or rng.pixel_size is None or pixel_size is None or not pixel_size > 0:
        return None
    lo, hi = rng.pixel_size
    if lo / TOLERANCE <= pixel_size <= hi * TOLERANCE:
        return None
    return (
        f"this image's pixel size ({pixel_size:.3g} Å) is outside the {lo:g}-{hi:g} Å the {card.name} model was trained on: "
        "it may erase or invent structure; try adapting the model to the image, fine-tuning, or another model"
    )


def _family(modality: str) -> list[str]:
    """The bundled models of one modality: ``modality`` itself first, then ``modality-*`` (e.g. ``haadf-atomic``)."""
    return [modality] + sorted(k for k in BUNDLED_MODELS if k.startswith(modality + "-"))


@functools.lru_cache(maxsize=None)
def _bundled_card(name: str) -> ModelCard:
    """A bundled model's card, read once (the package's files do not change while it runs)."""
    from .model import bundled_model_path, card_path

    return ModelCard.from_json(card_path(bundled_model_path(name)).read_text(encoding="utf-8"), source=name)


def _distance(name: str, pixel_size: float) -> float:
    """How far ``pixel_size`` lies outside the bundled model's trained range: 0 inside (with the tolerance),
    else the log-ratio to the nearer end; infinite when the card states no range."""
    import math

    card = _bundled_card(name)
    if range_note(card, pixel_size) is None:
        return 0.0
    rng = model_range(card)
    if rng is None or rng.pixel_size is None:
        return math.inf
    lo, hi = rng.pixel_size
    return abs(math.log(pixel_size / (lo if pixel_size < lo else hi)))


def choose_model(mode: str | None, pixel_size: float | None = None) -> tuple[str, str]:
    """(bundled model name, why) for a file's acquisition mode ("stem", "tem" or None) and pixel size (Å).

    The mode picks the modality (the default's when the file records none); within the modality, the
    first bundled model whose trained pixel-size range holds ``pixel_size``, or, when none does, the one
    whose range lies nearest (the modality's own model when the size is unknown)."""
    if mode == "stem":
        modality, why = "haadf", "chosen from the file's metadata (STEM)"
    elif mode == "tem":
        modality, why = "hrtem", "chosen from the file's metadata (TEM)"
    else:
        modality, why = DEFAULT_MODEL, "the default: the file does not say STEM or TEM"
    name = modality
    if pixel_size is not None and pixel_size > 0:
        family = _family(modality)
        distances = [_distance(n, pixel_size) for n in family]
        name = family[distances.index(min(distances))]  # the first of equals: the modality's own model first
        if name != modality:
            why += f" and its pixel size ({pixel_size:.3g} Å)" + ("" if min(distances) == 0 else ", nearest to its trained range")
    return name, f"{BUNDLED_MODELS[name]} model, {why}"


def guard_by_default(card: ModelCard, pixel_size: float | None, plane=None) -> bool:
    """Whether ``--guard auto`` runs the guard (:mod:`.guard`): where the image's pixel size lies outside
    the card's trained range, for models trained on electron counts (their images are counts without
    scan artifacts, which is what the guard's Poisson thinning needs), and for any image ``plane`` (y, x)
    that holds counts: whole numbers >= 0 whose noise is white (:func:`counts_without_scan_noise`)."""
    if range_note(card, pixel_size) is not None:
        return True
    dist = (card.trained_on or {}).get("distribution")
    if isinstance(dist, dict) and bool(dist.get("atomic_counting")):
        return True
    return plane is not None and counts_without_scan_noise(plane)


def counts_without_scan_noise(plane) -> bool:
    """Whether one image (y, x) holds detected electrons the guard can split: whole numbers, none below 0,
    not all 0, white noise whose variance (the spectrum's corners, :func:`.refine.white_noise_variance`)
    matches the mean as Poisson counts' does (within a factor 1.5), and no scan noise (detector afterglow
    or scan-line streaks: :func:`.refine.scan_noise`). Analogue STEM images (ADU with a gain and an
    offset, streaks) are not."""
    import numpy as np

    from .refine import scan_noise, white_noise_variance
    from .spectrum.noise import looks_like_counts

    a = np.asarray(plane)
    if a.ndim != 2 or a.size == 0:
        return False
    if not np.issubdtype(a.dtype, np.integer):
        if not np.issubdtype(a.dtype, np.floating) or not np.all(np.isfinite(a)) or not np.array_equal(a, np.rint(a)):
            return False
    if a.min() < 0:
        return False
    ny, nx = a.shape  # the noise from a central crop of at most 1024² (two transforms: a panel asks on the main thread)
    crop = a[max(ny // 2 - 512, 0) : ny // 2 + 512, max(nx // 2 - 512, 0) : nx // 2 + 512].astype(np.int64)  # whole numbers
    return looks_like_counts(crop, white_noise_variance(crop)) and scan_noise(crop) == ""
