"""Training on simulated data: a generator that yields progress records (a tick and a cancel point).

This first version trains the default model the simulation-based way (SBD seed): inputs are simulated
low-dose images with scan artifacts, targets the noise- and artifact-free image in the same detector
units, both normalised with the *input's* robust statistics, exactly as inference will normalise.
The loss is L1. Later issues add the Fourier / resolution / anisotropy terms and fine-tuning.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .model import Model, Normalization
from .simulate import Acquisition, ScanArtifacts, SceneConfig, acquire, simulate_scene
from .unet import UNetConfig


@dataclass(frozen=True)
class SimTrainConfig:
    """Simulation-based training. Sizes in pixels, doses in e⁻/Å², pixel sizes in Å, time in seconds."""

    steps: int = 1000
    batch: int = 8
    patch: int = 128
    lr: float = 3e-4
    seed: int = 0
    pool: int = 48  #: simulated scenes kept in memory; patches are cropped from them
    scene_size: int = 256
    pixel_sizes: tuple[float, ...] = (2.0, 3.0, 5.0, 8.0)
    doses: tuple[float, float] = (0.05, 3.0)  #: log-uniform range
    artifact_scale: tuple[float, float] = (0.0, 1.5)  #: artifact strength multiplier range
    refresh_every: int = 100  #: steps between replacing a quarter of the pool
    max_seconds: float | None = None
    architecture: UNetConfig = field(default_factory=UNetConfig)
    normalization: Normalization = field(default_factory=Normalization)


@dataclass(frozen=True)
class TrainProgress:
    step: int
    steps: int
    loss: float
    seconds: float
    message: str = ""


def _scaled_artifacts(f: float) -> ScanArtifacts:
    base = asdict(ScanArtifacts())
    return ScanArtifacts(**{k: (v if k == "line_offset_corr" else v * f) for k, v in base.items()})


def simulate_training_pair(rng: np.random.Generator, cfg: SimTrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """One (noisy, clean) pair in detector units (float32), with randomised scene and acquisition."""
    px = float(rng.choice(cfg.pixel_sizes))
    scene = SceneConfig(
        shape=(cfg.scene_size, cfg.scene_size),
        pixel_size=px,
        island_size=float(rng.uniform(40, 300)),
        island_coverage=float(rng.uniform(0.0, 0.5)),
        carbon_thickness_variation=float(rng.uniform(0.05, 0.35)),
        carbon_texture=float(rng.uniform(0.1, 0.6)),
        gold_scattering=float(rng.uniform(0.15, 0.5)),
        carbon_scattering=float(rng.uniform(0.01, 0.06)),
        probe_sigma=float(rng.uniform(0.6, 2.0)),
    )
    truth = simulate_scene(scene, seed=int(rng.integers(2**31)))
    dwell = float(rng.choice([0.2, 0.5, 1.0, 2.0, 4.0]))
    dose = float(math.exp(rng.uniform(math.log(cfg.doses[0]), math.log(cfg.doses[1]))))
    acq = Acquisition(
        dose=dose,
        dwell_us=dwell,
        artifacts=_scaled_artifacts(float(rng.uniform(*cfg.artifact_scale))),
        detector_gain=float(rng.uniform(5, 40)),
        detector_offset=float(rng.uniform(0, 500)),
        read_noise=float(rng.uniform(0, 5)),
    )
    noisy = acquire(truth, px, acq, seed=int(rng.integers(2**31))).astype(np.float32)
    clean = (acq.detector_offset + acq.detector_gain * acq.dose * px**2 * truth).astype(np.float32)
    return noisy, clean


def iter_train_simulated(cfg: SimTrainConfig, model: Model | None = None, device: str = "cpu"):
    """Generator: trains ``model`` (new if None) on simulated pairs; yields :class:`TrainProgress`
    every step; returns the trained :class:`Model`."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = model or Model.new(cfg.architecture, cfg.normalization)
    net = model.net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.steps), eta_min=cfg.lr * 0.05)

    def normalised(pair):
        noisy, clean = pair
        off, scale = cfg.normalization.stats(noisy)
        return (noisy - off) / scale, (clean - off) / scale

    pool = [normalised(simulate_training_pair(rng, cfg)) for _ in range(cfg.pool)]
    start = time.perf_counter()
    p = cfg.patch
    for step in range(1, cfg.steps + 1):
        if step % cfg.refresh_every == 0:
            for i in rng.choice(len(pool), size=max(1, len(pool) // 4), replace=False):
                pool[i] = normalised(simulate_training_pair(rng, cfg))
        xs, ys = [], []
        for _ in range(cfg.batch):
            noisy, clean = pool[int(rng.integers(len(pool)))]
            y0, x0 = (int(rng.integers(0, noisy.shape[i] - p + 1)) for i in (0, 1))
            a, b = noisy[y0 : y0 + p, x0 : x0 + p], clean[y0 : y0 + p, x0 : x0 + p]
            k = int(rng.integers(4))  # rotations by 90 degrees would turn the fast-scan axis: flips only
            if k & 1:
                a, b = a[:, ::-1], b[:, ::-1]
            if k & 2:
                a, b = a[::-1], b[::-1]
            xs.append(np.ascontiguousarray(a))
            ys.append(np.ascontiguousarray(b))
        x = torch.from_numpy(np.stack(xs)[:, None]).to(device)
        y = torch.from_numpy(np.stack(ys)[:, None]).to(device)
        loss = torch.nn.functional.l1_loss(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        elapsed = time.perf_counter() - start
        yield TrainProgress(step, cfg.steps, float(loss.detach()), elapsed)
        if cfg.max_seconds is not None and elapsed > cfg.max_seconds:
            break
    model.net = net.eval().cpu()
    return model
