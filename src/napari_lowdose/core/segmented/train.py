"""Training the learned segmented-detector reconstruction on the project's simulator.

Noise-free samples (:func:`random_scene` + :func:`.simulate.simulate_segments`) are drawn once; every
step gives each a fresh Poisson realisation at a random dose (log-uniform), a random flip/transpose
(with the gradient and tilt channels transformed to match) and a random crop. Long work is a generator
(:func:`iter_train_segmented`) yielding progress records; it returns the model with the weights of the
best validation loss.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Generator, Sequence

import numpy as np
import torch

from ..errors import LowdoseError
from ..simulate.optics import STEMProbe
from ..unet import UNetConfig
from .dpc import DetectorGeometry
from .learned import POT_SCALE, SegmentedModel, SegmentedNet, sample_features
from .simulate import SegmentedDetector, SegmentedSample, SegmentedScene

#: (structure, zone axis) pairs drawn for training
TRAIN_STRUCTURES = (
    ("SrTiO3", (0, 0, 1)), ("SrTiO3", (1, 1, 0)), ("BaTiO3", (0, 0, 1)), ("GaN", (1, 1, 0)), ("GaN", (0, 0, 1)),
    ("ZnO", (1, 1, 0)), ("MoS2", (0, 0, 1)), ("Si", (1, 1, 0)), ("MgO", (0, 0, 1)), ("CeO2", (1, 1, 0)), ("Au", (1, 1, 0)),
)
PROBE = STEMProbe(voltage_kv=300.0, convergence_mrad=25.0, source_size=0.3)
DETECTOR_INNER = 6.0  #: mrad
PIXEL_SIZE = 0.25  #: Å


def geometry() -> DetectorGeometry:
    return DetectorGeometry(voltage_kv=PROBE.voltage_kv, convergence_mrad=PROBE.convergence_mrad, inner_mrad=DETECTOR_INNER)


def random_scene(rng: np.random.Generator, shape: tuple[int, int] = (64, 64), structures: Sequence = TRAIN_STRUCTURES) -> SegmentedScene:
    """A random training scene: structure and zone, thickness 20-200 Å (log-uniform), tilt (tx, ty) with
    rms 6 mrad per axis (clipped at 15), any in-plane angle, any detector rotation, flip in 1 of 4."""
    name, zone = structures[int(rng.integers(len(structures)))]
    thickness = float(np.exp(rng.uniform(np.log(20.0), np.log(200.0))))
    tilt = tuple(float(t) for t in np.clip(rng.normal(0, 6.0, 2), -15, 15))
    det = SegmentedDetector(inner_mrad=DETECTOR_INNER, outer_mrad=40.0, rotation_deg=float(rng.uniform(-180, 180)), flip=bool(rng.random() < 0.25))
    return SegmentedScene(structure=name, zone=zone, thickness=thickness, tilt_mrad=tilt, in_plane_deg=float(rng.uniform(0, 360)),
                          shape=shape, pixel_size=PIXEL_SIZE, probe=PROBE, detector=det)


@dataclass(frozen=True)
class SegTrainConfig:
    """Training settings: wall-clock ``minutes`` (and/or ``steps``), ``batch`` crops of ``patch`` pixels,
    Adam ``lr``, doses log-uniform in ``dose_range`` e-/Å², ``metadata`` channels on/off, U-Net size."""

    minutes: float = 20.0
    steps: int | None = None
    batch: int = 8
    patch: int = 48
    lr: float = 1e-3
    dose_range: tuple[float, float] = (200.0, 20000.0)
    metadata: bool = True
    depth: int = 4
    base_channels: int = 16
    seed: int = 0
    validate_every: int = 100

    def __post_init__(self) -> None:
        if not (self.minutes > 0 and self.batch >= 1 and self.patch % 8 == 0 and self.patch >= 16 and 0 < self.dose_range[0] < self.dose_range[1]):
            raise LowdoseError("segmented training: minutes > 0, batch >= 1, patch a multiple of 8 (>= 16) and 0 < lowest dose < highest dose")


def _augment(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, metadata: bool) -> tuple[np.ndarray, np.ndarray]:
    """Random x-flip, y-flip and transpose, with the gradient (0, 1) and tilt (5, 6) channels following."""
    x, y = x.copy(), y.copy()
    if rng.random() < 0.5:  # mirror x
        x, y = x[..., ::-1], y[..., ::-1]
        x[0] *= -1
        if metadata:
            x[5] *= -1
    if rng.random() < 0.5:  # mirror y
        x, y = x[:, ::-1], y[:, ::-1]
        x[1] *= -1
        if metadata:
            x[6] *= -1
    if rng.random() < 0.5:  # transpose: x <-> y
        x, y = np.swapaxes(x, -1, -2), np.swapaxes(y, -1, -2)
        x[[0, 1]] = x[[1, 0]]
        if metadata:
            x[[5, 6]] = x[[6, 5]]
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def make_pair(sample: SegmentedSample, dose: float, seed: int, metadata: bool) -> tuple[np.ndarray, np.ndarray]:
    """(features, target) of one noisy realisation; target = potential / POT_SCALE, mean 0."""
    sc = sample.scene
    counts = sample.noisy(dose, seed)
    x = sample_features(counts, sc.detector.rotation_deg, sc.detector.flip, geometry(), sc.pixel_size, sc.thickness, sc.tilt_mrad, metadata)
    t = sample.potential.astype(np.float64)
    return x, ((t - t.mean()) / POT_SCALE)[None].astype(np.float32)


def iter_train_segmented(train: Sequence[SegmentedSample], val: Sequence[SegmentedSample], config: SegTrainConfig = SegTrainConfig()) -> Generator[dict, None, SegmentedModel]:
    """Train; yields ``{"step", "loss", "val_loss", "seconds"}`` records (the first, step 0, also has the
    validation loss of plain iDPC, ``idpc_val_loss``); returns the best-validation model."""
    if not train or not val:
        raise LowdoseError("segmented training needs at least one training and one validation sample")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    lo, hi = np.log(config.dose_range[0]), np.log(config.dose_range[1])
    # validation: fixed noise, doses spread over the range
    val_pairs = [make_pair(s, float(np.exp(lo + (hi - lo) * (i + 0.5) / len(val))), 10_000 + i, config.metadata) for i, s in enumerate(val)]
    arch = UNetConfig(depth=config.depth, base_channels=config.base_channels, in_channels=7 if config.metadata else 4, out_channels=1)
    net = SegmentedNet(arch)
    idpc_loss = float(np.mean([np.mean(((x[3] - x[3].mean()) - y[0]) ** 2) for x, y in val_pairs]))
    yield {"step": 0, "loss": math.nan, "val_loss": validation_loss(net, val_pairs), "idpc_val_loss": idpc_loss, "seconds": 0.0}
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    total_steps = config.steps or 10**9
    start = time.monotonic()
    best = (math.inf, None, 0)
    step = 0
    while step < total_steps and time.monotonic() - start < config.minutes * 60:
        xs, ys = [], []
        for _ in range(config.batch):
            s = train[int(rng.integers(len(train)))]
            x, y = make_pair(s, float(np.exp(rng.uniform(lo, hi))), int(rng.integers(2**31)), config.metadata)
            x, y = _augment(x, y, rng, config.metadata)
            p = config.patch
            i0 = int(rng.integers(x.shape[1] - p + 1))
            j0 = int(rng.integers(x.shape[2] - p + 1))
            xs.append(x[:, i0 : i0 + p, j0 : j0 + p])
            yy = y[:, i0 : i0 + p, j0 : j0 + p]
            ys.append(yy - yy.mean())
        xb, yb = torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))
        net.train()
        out = net(xb)
        out = out - out.mean(dim=(-2, -1), keepdim=True)
        loss = torch.mean((out - yb) ** 2)
        # cosine decay of the learning rate over the run (wall clock or steps, whichever ends first)
        done = max((time.monotonic() - start) / (config.minutes * 60), step / total_steps)
        for g in opt.param_groups:
            g["lr"] = config.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, done)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % config.validate_every == 0:
            vl = validation_loss(net, val_pairs)
            if vl < best[0]:
                best = (vl, {k: v.detach().clone() for k, v in net.state_dict().items()}, step)
            yield {"step": step, "loss": float(loss.detach()), "val_loss": vl, "seconds": time.monotonic() - start}
    if best[1] is None or step % config.validate_every:
        vl = validation_loss(net, val_pairs)
        if vl < best[0]:
            best = (vl, {k: v.detach().clone() for k, v in net.state_dict().items()}, step)
        yield {"step": step, "loss": float(loss.detach()), "val_loss": vl, "seconds": time.monotonic() - start}
    net.load_state_dict(best[1])
    net.eval()
    card = {
        "kind": "segmented",
        "name": "segmented" if config.metadata else "segmented-nometa",
        "architecture": arch.to_dict(),
        "metadata": config.metadata,
        "channels": ["grad_x", "grad_y", "total", "idpc"] + (["thickness", "tilt_x", "tilt_y"] if config.metadata else []),
        "pixel_size": PIXEL_SIZE,
        "pixel_size_range": [0.18, 0.35],
        "probe": {"voltage_kv": PROBE.voltage_kv, "convergence_mrad": PROBE.convergence_mrad, "source_size": PROBE.source_size},
        "detector_inner_mrad": DETECTOR_INNER,
        "training": {**asdict(config), "steps_done": step, "best_step": best[2], "best_val_loss": best[0],
                     "idpc_val_loss": idpc_loss, "train_samples": len(train), "val_samples": len(val), "structures": [f"{n} [{' '.join(map(str, z))}]" for n, z in TRAIN_STRUCTURES]},
    }
    return SegmentedModel(net, card)


def validation_loss(net: SegmentedNet, pairs) -> float:
    net.eval()
    with torch.no_grad():
        losses = []
        for x, y in pairs:
            out = net(torch.from_numpy(x)[None])[0].numpy()
            losses.append(float(np.mean(((out - out.mean()) - y) ** 2)))
    return float(np.mean(losses))
