"""Model files: ``NAME.safetensors`` (the weights) beside ``NAME.json`` (the card).

The card says what the weights are: the architecture (:class:`~napari_lowdose.core.unet.UNetConfig`),
how images are normalised before the network, what the model was trained on and how, its metrics and
the package version that wrote it. Loading validates the card and every tensor's name and shape
against the architecture, and refuses pickled files (``.pt``/``.pth``/``.ckpt``: unpickling can run
arbitrary code). Writing is atomic (temporary files, then rename; the card last, so a card always
describes complete weights).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import LowdoseError
from .files import default_file_mode
from .refine import REFINE_METHODS
from .unet import UNet, UNetConfig

FORMAT = "napari-lowdose-model/1"
#: models shipped in the package (``napari_lowdose/models/NAME.safetensors``), one per modality
BUNDLED_MODELS = {"haadf": "HAADF-STEM", "hrtem": "HRTEM", "haadf-atomic": "HAADF-STEM, atomic resolution"}
DEFAULT_MODEL = "haadf"  #: what ``load_model(None)`` (and ``denoise(model=None)``) uses
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin", ".tar")


class ModelFileError(LowdoseError, ValueError):
    """A model file that cannot be used: missing, pickled, corrupt, or for another architecture."""


@dataclass(frozen=True)
class Normalization:
    """How an image is scaled before the network: ``(x - offset) / scale``, with ``offset`` and ``scale``
    from robust statistics of the *whole* image (never per tile): the ``low`` and ``high`` percentiles
    (``offset = p_low``, ``scale = p_high - p_low``). The output is mapped back the same way."""

    method: str = "percentile"
    low: float = 1.0
    high: float = 99.0
    max_samples: int = 1_000_000  #: statistics from at most this many evenly spread pixels

    def __post_init__(self) -> None:
        if self.method != "percentile":
            raise ModelFileError(f"unknown normalisation method {self.method!r}")
        if not 0.0 <= self.low < self.high <= 100.0:
            raise ModelFileError(f"normalisation percentiles must satisfy 0 <= low < high <= 100, got {self.low}, {self.high}")

    def stats(self, image) -> tuple[float, float]:
        """(offset, scale) of ``image`` (any shape, numpy or dask), from an even subsample."""
        arr = image
        size = int(np.prod(arr.shape))
        step = max(1, int(np.ceil((size / self.max_samples) ** 0.5)))
        sample = arr[..., ::step, ::step]
        sample = np.asarray(sample.compute() if hasattr(sample, "compute") else sample, dtype=np.float64).ravel()
        lo, hi = np.percentile(sample, [self.low, self.high])
        scale = float(hi - lo)
        if not np.isfinite(scale) or scale <= 0:
            spread = float(sample.std())
            scale = spread if spread > 0 else 1.0
        return float(lo), scale


@dataclass
class ModelCard:
    """What a weights file is. Saved as JSON beside the weights."""

    architecture: UNetConfig = field(default_factory=UNetConfig)
    normalization: Normalization = field(default_factory=Normalization)
    name: str = "untrained"
    description: str = ""
    trained_on: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)  #: command, seed, steps, wall time, hardware
    metrics: dict[str, Any] = field(default_factory=dict)
    #: post-processing that ``denoise`` applies by default: ``"none"`` or ``"wiener"``
    #: (:func:`~.refine.wiener_refine`, only for white noise: HRTEM cameras, not STEM)
    refine: str = "none"
    package_version: str = ""
    format: str = FORMAT

    def __post_init__(self) -> None:
        if self.refine not in REFINE_METHODS:
            raise ModelFileError(f"refine must be one of {REFINE_METHODS}, got {self.refine!r}")

    def to_json(self) -> str:
        d = asdict(self)
        return json.dumps(d, indent=2, default=float) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "card") -> "ModelCard":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelFileError(f"{source} is not valid JSON ({exc.msg}, line {exc.lineno})") from exc
        if not isinstance(d, dict):
            raise ModelFileError(f"{source} does not hold a model card (a JSON object)")
        if d.get("format") != FORMAT:
            raise ModelFileError(f"{source} is not a napari-lowdose model card (format {d.get('format')!r}, expected {FORMAT!r})")
        try:
            arch = UNetConfig.from_dict(d.get("architecture", {}))
            norm = Normalization(**d.get("normalization", {}))
        except (TypeError, LowdoseError) as exc:
            raise ModelFileError(f"{source}: {exc}") from exc
        known = {"architecture", "normalization", "name", "description", "trained_on", "training", "metrics", "refine", "package_version", "format"}
        rest = {k: v for k, v in d.items() if k in known - {"architecture", "normalization"}}
        try:
            return cls(architecture=arch, normalization=norm, **rest)
        except ModelFileError as exc:
            raise ModelFileError(f"{source}: {exc}") from exc


@dataclass
class Model:
    """A network with its card: what :func:`load_model` returns and ``denoise`` uses."""

    net: UNet
    card: ModelCard
    path: Path | None = None

    @classmethod
    def new(cls, architecture: UNetConfig | None = None, normalization: Normalization | None = None, **card) -> "Model":
        arch = architecture or UNetConfig()
        return cls(UNet(arch).eval(), ModelCard(architecture=arch, normalization=normalization or Normalization(), **card))

    @property
    def name(self) -> str:
        return self.card.name


# -------------------------------------------------------------------------------------- files
def card_path(path: str | os.PathLike) -> Path:
    return Path(path).with_suffix(".json")


def weights_path(path: str | os.PathLike) -> Path:
    return Path(path).with_suffix(".safetensors")


def bundled_model_path(name: str = DEFAULT_MODEL) -> Path:
    """A model shipped in the package: ``"haadf"`` or ``"hrtem"`` (see :data:`BUNDLED_MODELS`)."""
    if name not in BUNDLED_MODELS:
        raise ModelFileError(f"no bundled model {name!r}; the bundled models are {', '.join(BUNDLED_MODELS)}")
    return Path(str(resources.files("napari_lowdose").joinpath("models", f"{name}.safetensors")))


def default_model_path() -> Path:
    """The model ``load_model(None)`` loads: the bundled HAADF-STEM model."""
    return bundled_model_path(DEFAULT_MODEL)


def _is_safetensors(head: bytes, size: int) -> bool:
    """safetensors layout: an 8-byte little-endian header length, then a JSON object."""
    if len(head) < 9:
        return False
    n = int.from_bytes(head[:8], "little")
    return 2 <= n <= size - 8 and head[8:9] == b"{"


def _looks_pickled(path: Path) -> bool:
    """A pickle (protocol 2+ starts with 0x80, then the protocol number) or torch.save's zip archive,
    and not a safetensors file (whose header length may itself start with 0x80)."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
        size = path.stat().st_size
    except OSError:
        return False
    if _is_safetensors(head, size):
        return False
    return (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")) or head[:4] == b"PK\x03\x04"


def load_model(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> Model:
    """Load ``NAME.safetensors`` + ``NAME.json`` (either name may be given); ``None``: the default model;
    ``"haadf"`` or ``"hrtem"`` (not an existing file): that bundled model.

    Raises :class:`ModelFileError` with one sentence for a missing, pickled, corrupt or mismatched file.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if path is None:
        path = default_model_path()
    elif str(path) in BUNDLED_MODELS and not Path(path).exists():
        path = bundled_model_path(str(path))
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES or (path.exists() and path.suffix.lower() not in (".json", ".safetensors") and _looks_pickled(path)):
        raise ModelFileError(
            f"{path.name} is a pickled PyTorch file; napari-lowdose only loads safetensors weights with a JSON "
            "card, because unpickling a file can run any code in it"
        )
    wpath, cpath = weights_path(path), card_path(path)
    for p, what in ((wpath, "weights"), (cpath, "card")):
        if not p.is_file():
            raise ModelFileError(f"model {what} file {p} not found (a model is NAME.safetensors with NAME.json beside it)")
    if _looks_pickled(wpath):
        raise ModelFileError(f"{wpath.name} holds a pickle, not safetensors; refusing to load it")
    card = ModelCard.from_json(cpath.read_text(encoding="utf-8"), source=cpath.name)
    try:
        tensors = load_file(str(wpath), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"cannot read weights {wpath.name}: {exc}") from exc
    net = UNet(card.architecture)
    expected = net.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise ModelFileError(
            f"{wpath.name} does not match its card's architecture ({_arch_text(card.architecture)}): "
            + (f"missing {missing[:3]}" if missing else "")
            + ("; " if missing and extra else "")
            + (f"unexpected {extra[:3]}" if extra else "")
        )
    for name, tensor in expected.items():
        if tuple(tensors[name].shape) != tuple(tensor.shape):
            raise ModelFileError(
                f"{wpath.name} is for another architecture: {name} has shape {tuple(tensors[name].shape)}, "
                f"expected {tuple(tensor.shape)} for {_arch_text(card.architecture)}"
            )
        if not torch.isfinite(tensors[name]).all():
            raise ModelFileError(f"{wpath.name}: tensor {name} holds NaN/Inf values")
    net.load_state_dict({k: v.to(torch.float32) for k, v in tensors.items()})
    return Model(net.to(device).eval(), card, wpath)


def _arch_text(cfg: UNetConfig) -> str:
    return f"U-Net depth {cfg.depth}, {cfg.base_channels} channels"


def save_model(model: Model, path: str | os.PathLike) -> Path:
    """Write ``NAME.safetensors`` and ``NAME.json`` atomically; returns the weights path."""
    from safetensors.torch import save_file

    from .. import __version__

    wpath, cpath = weights_path(path), card_path(path)
    folder = wpath.parent
    if not folder.is_dir():
        raise ModelFileError(f"cannot save model: folder {folder} does not exist")
    model.card.package_version = __version__
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.net.state_dict().items()}
    tmp_w = tmp_c = None
    try:
        fd, tmp_w = tempfile.mkstemp(prefix=f".{wpath.name}.", suffix=".part", dir=folder)
        os.close(fd)
        save_file(state, tmp_w, metadata={"format": FORMAT, "name": model.card.name})
        fd, tmp_c = tempfile.mkstemp(prefix=f".{cpath.name}.", suffix=".part", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(model.card.to_json())
        for tmp in (tmp_w, tmp_c):
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp, default_file_mode())  # mkstemp makes private files; a saved model gets the usual mode
        os.replace(tmp_w, wpath)
        os.replace(tmp_c, cpath)
    finally:
        for tmp in (tmp_w, tmp_c):
            if tmp and os.path.exists(tmp):
                os.unlink(tmp)
    model.path = wpath
    return wpath
