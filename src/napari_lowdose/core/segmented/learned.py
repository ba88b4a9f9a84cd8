"""Learned reconstruction of the projected potential from four noisy segment images.

Input channels (early fusion, after the seed iPhaseNet), all from the segments and the metadata:

0, 1. the calibrated phase gradient (x, y) in the scan frame (:func:`.reconstruct.phase_gradient`:
      rotation and flip already applied), rad/Å x ``GRAD_SCALE``;
2.    the total of the four segments relative to its mean, minus 1 (the annular signal);
3.    the iDPC projected potential, V·Å / ``POT_SCALE``;
4.    thickness, Å / 100 (unknown: the training mean, ``DEFAULT_THICKNESS``);
5, 6. tilt (tx, ty), mrad / 10 (unknown: 0).

Without metadata (``metadata=False`` in the card) only channels 0-3 are used. The network is the
project's U-Net (:mod:`..unet`) predicting a correction that is added to channel 3 (residual), i.e.
the projected potential / ``POT_SCALE`` with its mean removed (DPC cannot measure the mean). Weights in
safetensors with a JSON card (architecture, channels, the scan pixel size and optics it was trained
for, training record).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import LowdoseError
from ..unet import UNet, UNetConfig
from .dpc import DetectorGeometry, detector_differences, integrate_gradient

GRAD_SCALE = 1.0  #: rad/Å -> channel units
POT_SCALE = 1000.0  #: V·Å -> channel units
DEFAULT_THICKNESS = 90.0  #: Å, fills the thickness channel when it is unknown
MODELS = Path(__file__).resolve().parents[2] / "models"
BUNDLED = MODELS / "segmented.safetensors"


def features(segments: np.ndarray, gx: np.ndarray, gy: np.ndarray, potential: np.ndarray, thickness: float | None, tilt: tuple[float, float] | None, metadata: bool = True) -> np.ndarray:
    """The network's input (C, y, x) float32 from checked segments, the scan-frame gradient (rad/Å) and
    the iDPC potential (V·Å)."""
    total = segments.sum(0)
    chans = [gx * GRAD_SCALE, gy * GRAD_SCALE, total / total.mean() - 1.0, potential / POT_SCALE]
    if metadata:
        t = DEFAULT_THICKNESS if thickness is None else float(thickness)
        tx, ty = (0.0, 0.0) if tilt is None else (float(tilt[0]), float(tilt[1]))
        shape = total.shape
        chans += [np.full(shape, t / 100.0), np.full(shape, tx / 10.0), np.full(shape, ty / 10.0)]
    return np.stack(chans).astype(np.float32)


class SegmentedNet(torch.nn.Module):
    """U-Net whose output is added to the iDPC channel (index 3)."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.unet = UNet(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 3:4] + self.unet.predict(x)


@dataclass
class SegmentedModel:
    net: SegmentedNet
    card: dict

    @property
    def metadata(self) -> bool:
        return bool(self.card.get("metadata", True))


def _atomic(path: Path, write) -> None:
    """``write(tmp)`` to a temporary file beside ``path``, then rename it over ``path``."""
    import tempfile

    from ..files import default_file_mode

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_segmented(model: SegmentedModel, path: str | os.PathLike) -> Path:
    """Write PATH.safetensors and PATH.json atomically (the card last)."""
    from safetensors.torch import save_file

    path = Path(path).with_suffix(".safetensors")
    if not path.parent.is_dir():
        raise LowdoseError(f"cannot save the model: folder {path.parent} does not exist")
    state = {k: v.detach().cpu().contiguous() for k, v in model.net.state_dict().items()}
    _atomic(path, lambda tmp: save_file(state, tmp))
    _atomic(path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(json.dumps(model.card, indent=2) + "\n"))
    return path


def load_segmented(path: str | os.PathLike | None = None) -> SegmentedModel:
    """A segmented model (PATH.safetensors + PATH.json; None: the bundled one)."""
    from safetensors.torch import load_file

    path = Path(path) if path is not None else BUNDLED
    path = path.with_suffix(".safetensors")
    card_file = path.with_suffix(".json")
    if not path.is_file() or not card_file.is_file():
        raise LowdoseError(f"no segmented model at {path} (it needs {path.name} and {card_file.name})")
    try:
        card = json.loads(card_file.read_text())
        cfg = UNetConfig.from_dict(card["architecture"])
        net = SegmentedNet(cfg)
        net.unet.load_state_dict({k.removeprefix("unet."): v for k, v in load_file(str(path)).items()})
    except LowdoseError:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken file of any kind gets one sentence
        raise LowdoseError(f"{path.name} is not a segmented-detector model ({type(exc).__name__}: {exc})") from None
    if card.get("kind") != "segmented":
        raise LowdoseError(f"{path.name} is not a segmented-detector model (its card says kind {card.get('kind')!r})")
    net.eval()
    return SegmentedModel(net, card)


def check_trained_range(card: dict, pixel_size: float) -> None:
    lo, hi = card.get("pixel_size_range", (0.0, math.inf))
    if not lo <= pixel_size <= hi:
        raise LowdoseError(
            f"the learned reconstruction was trained for scan steps of {lo:g}-{hi:g} Å, not {pixel_size:g} Å; use iDPC or resample the scan"
        )


def predict_potential(segments: np.ndarray, gx: np.ndarray, gy: np.ndarray, idpc_potential: np.ndarray, config) -> np.ndarray:
    """The projected potential (V·Å, mean 0) by the model named in ``config.model`` (a PhaseConfig)."""
    model = load_segmented(config.model)
    check_trained_range(model.card, config.pixel_size)
    x = features(segments, gx, gy, idpc_potential, config.thickness, config.tilt_mrad, model.metadata)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with torch.no_grad():
        out = model.net(torch.from_numpy(x)[None])[0, 0].numpy().astype(np.float64)
    out *= POT_SCALE
    return out - out.mean()


def sample_features(segments: np.ndarray, rotation_deg: float, flip: bool, geometry: DetectorGeometry, pixel_size: float,
                    thickness: float | None, tilt: tuple[float, float] | None, metadata: bool) -> np.ndarray:
    """Features of one (noisy) acquisition with a known rotation: used in training and benchmarks."""
    from .dpc import rotate_field

    dx, dy, _ = detector_differences(segments)
    gx, gy = rotate_field(dx, dy, rotation_deg, flip)
    k = geometry.gradient_per_unit
    gx, gy = gx * k, gy * k
    pot = integrate_gradient(gx, gy, pixel_size) / geometry.sigma
    return features(segments, gx, gy, pot, thickness, tilt, metadata)
