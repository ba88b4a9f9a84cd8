"""Simulation-based training (the SBD seed): a generator that yields progress records, each a tick and
a cancel point, and returns the trained :class:`~napari_lowdose.core.model.Model`.

Inputs are simulated low-dose images (HAADF-STEM with scan artifacts, or HRTEM), drawn from a wide
distribution of scenes, optics, doses and detectors (:class:`SimDistribution`), so that the model is
not tuned to one setting. Targets are the noise- and artifact-free images in the same detector units
(offset + gain x expected electrons). Input and target are both normalised with the *input's* robust
statistics, exactly as inference normalises. The loss is any :class:`~.losses.LossConfig`.

Every ``validate_every`` steps the model is scored on a fixed validation set (its own seed, never the
evaluation seed) and the best weights so far are kept; the returned model holds those best weights.
When training continues from a model, its starting weights are scored first and count as a candidate,
so a continuation can never return worse weights (on the validation set) than it started from. With
``ema`` the weights scored (and returned) are an exponential moving average of the trained ones.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch

from .errors import LowdoseError
from .losses import LossConfig, make_loss
from .metrics import psnr
from .model import Model, Normalization
from .simulate import Acquisition, HRTEMOptics, ScanArtifacts, SceneConfig, acquire, camera_blur, scanned, simulate_scene
from .simulate.scene import AtomicScene, log_uniform, random_atomic_scene, simulate_atomic
from .unet import UNetConfig


@dataclass(frozen=True)
class SimDistribution:
    """The ranges training scenes and acquisitions are drawn from (log-uniform for scale-like values).

    Pixel sizes in Å; ``*_electrons`` are incident electrons per pixel (per probe position in STEM),
    so the dose in e⁻/Å² is that / pixel area; ``artifact_scale`` multiplies the scan artifacts
    (STEM only); ``particle_px`` is the particle diameter in pixels.
    """

    modalities: tuple[str, ...] = ("haadf", "hrtem")
    elements: tuple[str, ...] = ("Au", "Pt")
    haadf_pixel_size: tuple[float, float] = (0.5, 8.0)
    hrtem_pixel_size: tuple[float, float] = (0.4, 2.0)
    haadf_electrons: tuple[float, float] = (0.5, 300.0)
    hrtem_electrons: tuple[float, float] = (0.3, 100.0)
    particle_px: tuple[float, float] = (8.0, 150.0)
    artifact_scale: tuple[float, float] = (0.0, 1.5)
    dwell_us: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 4.0)
    voltages_kv: tuple[float, ...] = (200.0, 300.0)
    defocus: tuple[float, float] = (-1200.0, 0.0)  #: Å
    #: px, rms width of the HRTEM camera's point spread (:attr:`Acquisition.camera_psf_px`), uniform in
    #: this range for ``1 - hrtem_counting`` of the images; the rest (direct electron counting) have none
    hrtem_camera_psf: tuple[float, float] = (0.0, 0.0)
    hrtem_counting: float = 1.0
    #: fraction of scenes made of atoms (:mod:`.simulate.scene`: crystals in zone axes, nanoparticles on
    #: amorphous supports, defects) instead of islands drawn as continuous fields; 0 keeps the islands alone
    atomic_fraction: float = 0.0
    atomic_pixel_size: tuple[float, float] = (0.05, 1.0)  #: Å, atomic scenes
    atomic_haadf_electrons: tuple[float, float] = (1.0, 3000.0)  #: incident e⁻ per probe position, atomic HAADF
    atomic_hrtem_electrons: tuple[float, float] = (0.5, 300.0)  #: e⁻ per pixel, atomic HRTEM
    atomic_particles: float = 0.45  #: fraction of atomic scenes that are nanoparticles on a support (the rest crystals, boundaries)
    atomic_corrected: float = 0.8  #: fraction of atomic HAADF scenes imaged with an aberration-corrected probe
    #: mean *detected* e⁻ per pixel of atomic HAADF images (log-uniform), instead of the incident range
    #: ``atomic_haadf_electrons``: the incident range leaves many images with far below one electron on
    #: the brightest column (nothing to learn), since the detected fraction spans 1e-4 to 0.1; None: off
    atomic_haadf_detected: tuple[float, float] | None = None
    #: largest read noise of atomic images in detected electrons (the ADU rms is this x the gain);
    #: None: 0-5 ADU whatever the gain (below one electron's worth only when the gain is high)
    atomic_read_noise_e: float | None = None
    #: atomic images recorded as electron counts (gain 1 ADU/e⁻, offset 0, no read noise: a counting
    #: detector, or any detector calibrated to electrons) instead of the random analogue chain
    atomic_counting: bool = False
    #: range of the scan-artifact strength of atomic HAADF images; None: ``artifact_scale``
    atomic_artifact_scale: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not self.modalities or any(m not in ("haadf", "hrtem") for m in self.modalities):
            raise LowdoseError(f"modalities must be a non-empty subset of ('haadf', 'hrtem'), got {self.modalities}")
        for name in ("haadf_pixel_size", "hrtem_pixel_size", "haadf_electrons", "hrtem_electrons", "particle_px", "atomic_pixel_size"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise LowdoseError(f"{name} must be a range 0 < low <= high, got {lo}, {hi}")
        lo, hi = self.hrtem_camera_psf
        if not 0 <= lo <= hi:
            raise LowdoseError(f"hrtem_camera_psf must be a range 0 <= low <= high, got {lo}, {hi}")
        if not 0.0 <= self.hrtem_counting <= 1.0:
            raise LowdoseError(f"hrtem_counting must be a fraction in [0, 1], got {self.hrtem_counting}")
        if self.atomic_haadf_detected is not None and not 0 < self.atomic_haadf_detected[0] <= self.atomic_haadf_detected[1]:
            raise LowdoseError(f"atomic_haadf_detected must be a range 0 < low <= high, got {self.atomic_haadf_detected}")
        if self.atomic_read_noise_e is not None and self.atomic_read_noise_e < 0:
            raise LowdoseError(f"atomic_read_noise_e must be >= 0, got {self.atomic_read_noise_e}")
        for name in ("atomic_fraction", "atomic_particles", "atomic_corrected"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise LowdoseError(f"{name} must be a fraction in [0, 1], got {getattr(self, name)}")

    def sample(self, rng: np.random.Generator, size: int) -> tuple[SceneConfig | AtomicScene, Acquisition]:
        """One random (scene, acquisition) of ``size`` x ``size`` pixels."""
        return self.draw(rng, size)[:2]

    def draw(self, rng: np.random.Generator, size: int) -> tuple[SceneConfig | AtomicScene, Acquisition, float | None]:
        """One random (scene, acquisition, mean detected e⁻ per pixel or None): with a detected count
        (``atomic_haadf_detected``), :func:`simulate_example` sets the dose from the noise-free image."""
        modality = str(rng.choice(self.modalities))
        if self.atomic_fraction > 0 and rng.random() < self.atomic_fraction:  # no draw at 0: old sequences unchanged
            return self._sample_atomic(rng, size, modality)
        element = str(rng.choice(self.elements))
        common = dict(
            shape=(size, size),
            island_coverage=float(rng.uniform(0.0, 0.5)),
            carbon_thickness_variation=float(rng.uniform(0.05, 0.35)),
            carbon_texture=float(rng.uniform(0.1, 0.6)),
            lattice_contrast=float(rng.uniform(0.0, 0.8)),
            column_sharpness=float(rng.choice([0.0, rng.uniform(2.0, 6.0)])),
            element=element,
            modality=modality,
        )
        detector = dict(
            detector_gain=log_uniform(rng, 1.0, 50.0),
            detector_offset=float(rng.uniform(0, 500)),
            read_noise=float(rng.uniform(0, 5)),
        )
        if modality == "haadf":
            px = log_uniform(rng, *self.haadf_pixel_size)
            scene = SceneConfig(
                pixel_size=px,
                island_size=px * log_uniform(rng, *self.particle_px),
                gold_scattering=float(rng.uniform(0.15, 0.5)),
                carbon_scattering=float(rng.uniform(0.01, 0.06)),
                probe_sigma=float(rng.uniform(0.4, 1.5)),
                **common,
            )
            electrons = log_uniform(rng, *self.haadf_electrons)
            acq = Acquisition(
                dose=electrons / px**2,
                dwell_us=float(rng.choice(self.dwell_us)),
                artifacts=ScanArtifacts().scaled(float(rng.uniform(*self.artifact_scale))),
                **detector,
            )
            return scene, acq, None
        px = log_uniform(rng, *self.hrtem_pixel_size)
        corrected = rng.random() < 0.3  # aberration-corrected microscope: small Cs, near focus
        optics = HRTEMOptics(
            voltage_kv=float(rng.choice(self.voltages_kv)),
            defocus=float(rng.uniform(-150.0, 50.0) if corrected else rng.uniform(*self.defocus)),
            cs_mm=float(rng.uniform(0.001, 0.03) if corrected else rng.uniform(0.5, 2.0)),
            aperture=float(rng.uniform(0.3, 1.0)),
            convergence_mrad=float(rng.uniform(0.05, 0.5)),
            focal_spread=float(rng.uniform(15.0, 60.0)),
            carbon_phase=float(rng.uniform(0.1, 0.5)),
            metal_phase=float(rng.uniform(0.5, 2.0)),
            amplitude_contrast=float(rng.uniform(0.02, 0.15)),
        )
        scene = SceneConfig(pixel_size=px, island_size=px * log_uniform(rng, *self.particle_px), optics=optics, **common)
        electrons = log_uniform(rng, *self.hrtem_electrons)
        acq = Acquisition(dose=electrons / px**2, dwell_us=1.0, artifacts=ScanArtifacts.none(), **detector)
        if self.hrtem_counting < 1.0 and rng.random() >= self.hrtem_counting:  # no draw at the defaults: their sequence is unchanged
            acq = replace(acq, camera_psf_px=float(rng.uniform(*self.hrtem_camera_psf)))
        return scene, acq, None

    def _sample_atomic(self, rng: np.random.Generator, size: int, modality: str) -> tuple[AtomicScene, Acquisition, float | None]:
        scene = random_atomic_scene(rng, modality, size, self.atomic_pixel_size, particles=self.atomic_particles, corrected=self.atomic_corrected)
        px = scene.pixel_size
        gain = log_uniform(rng, 1.0, 50.0)
        offset = float(rng.uniform(0, 500))  # drawn in this order: the default sequence is unchanged
        read = float(rng.uniform(0, 5)) if self.atomic_read_noise_e is None else gain * float(rng.uniform(0, self.atomic_read_noise_e))
        detector = dict(detector_gain=gain, detector_offset=offset, read_noise=read)
        if self.atomic_counting:
            detector = dict(detector_gain=1.0, detector_offset=0.0, read_noise=0.0)
        if modality == "haadf":
            detected = None if self.atomic_haadf_detected is None else log_uniform(rng, *self.atomic_haadf_detected)
            electrons = log_uniform(rng, *self.atomic_haadf_electrons) if detected is None else detected
            art = ScanArtifacts().scaled(float(rng.uniform(*(self.atomic_artifact_scale or self.artifact_scale))))
            return scene, Acquisition(dose=electrons / px**2, dwell_us=float(rng.choice(self.dwell_us)), artifacts=art, **detector), detected
        electrons = log_uniform(rng, *self.atomic_hrtem_electrons)
        acq = Acquisition(dose=electrons / px**2, dwell_us=1.0, artifacts=ScanArtifacts.none(), **detector)
        if self.hrtem_counting < 1.0 and rng.random() >= self.hrtem_counting:
            acq = replace(acq, camera_psf_px=float(rng.uniform(*self.hrtem_camera_psf)))
        return scene, acq, None


def noise_free(scene: SceneConfig | AtomicScene, seed: int) -> np.ndarray:
    """The noise-free image of either kind of scene (islands or atoms)."""
    return simulate_atomic(scene, seed=seed) if isinstance(scene, AtomicScene) else simulate_scene(scene, seed=seed)


def clean_target(truth: np.ndarray, scene: SceneConfig, acq: Acquisition) -> np.ndarray:
    """What a perfect, artifact-free detector would record: offset + gain x expected electrons (float32)."""
    return (acq.detector_offset + acq.detector_gain * acq.electrons_per_pixel(scene.pixel_size) * truth).astype(np.float32)


def simulate_example(scene: SceneConfig, acq: Acquisition, seed: int, along_scan: bool = True,
                     detected: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(noisy ADU, clean target ADU), float32, for one scene and acquisition, reproducible from ``seed``.

    With ``along_scan`` (default) the target is the noise-free image along the same, distorted scan
    (:func:`~.simulate.scanned`: the acquisition's stretch and line jitter, none of its noise or intensity
    artifacts): a denoiser cannot know the jitter of one acquisition, so this is what it can be asked for.
    Without it, the undistorted scene. With ``detected`` (mean detected e⁻ per pixel), the dose is
    set so that the noise-free image holds that many electrons per pixel on average."""
    ss = np.random.SeedSequence(seed).spawn(2)
    truth = noise_free(scene, int(ss[0].generate_state(1)[0]))
    if detected is not None:
        acq = replace(acq, dose=detected / (max(float(truth.mean()), 1e-12) * scene.pixel_size**2))
    acq_seed = int(ss[1].generate_state(1)[0])
    noisy = acquire(truth, scene.pixel_size, acq, seed=acq_seed).astype(np.float32)
    if along_scan:
        truth = scanned(truth, acq, seed=acq_seed)
    return noisy, clean_target(camera_blur(truth, acq), scene, acq)  # the camera's blur is kept: denoising, not deconvolution


@dataclass(frozen=True)
class SimTrainConfig:
    """Simulation-based training. Sizes in pixels, learning rate per step, time in seconds."""

    steps: int = 1000
    batch: int = 4
    patch: int = 128
    lr: float = 5e-4
    seed: int = 0
    pool: int = 64  #: simulated scenes kept in memory; patches are cropped from them
    scene_size: int = 256
    refresh_every: int = 50  #: steps between replacing an eighth of the pool
    validate_every: int = 250  #: steps between validation runs (best weights are kept)
    validation_images: int = 32  #: 8 was too few to choose between models 0.2 dB apart
    ema: float = 0.0  #: decay of an exponential moving average of the weights (0: off; e.g. 0.998)
    max_seconds: float | None = None
    distribution: SimDistribution = field(default_factory=SimDistribution)
    loss: LossConfig = field(default_factory=LossConfig)
    architecture: UNetConfig = field(default_factory=UNetConfig)
    normalization: Normalization = field(default_factory=Normalization)

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch < 1 or self.lr <= 0:
            raise LowdoseError("steps and batch must be >= 1 and the learning rate positive")
        if not 0.0 <= self.ema < 1.0:
            raise LowdoseError(f"ema must be in [0, 1), got {self.ema}")
        if self.patch % (2 ** self.architecture.depth) or self.patch > self.scene_size:
            raise LowdoseError(f"patch must be a multiple of {2 ** self.architecture.depth} and at most scene_size")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrainProgress:
    """One training step: loss (and its terms) of the batch, validation PSNR (dB) when it was measured."""

    step: int
    steps: int
    loss: float
    seconds: float
    terms: dict = field(default_factory=dict)
    val_psnr: float | None = None
    best_val_psnr: float | None = None
    message: str = ""
    best_step: int | None = None  #: step of the best weights so far (0: the starting weights)
    #: the new best weights (a state dict), only on the record where they were found: a caller may save
    #: them as a checkpoint, so that a run stopped or crashed later keeps its best result
    best_weights: dict | None = field(default=None, repr=False)


def _normalised(noisy: np.ndarray, clean: np.ndarray, norm: Normalization) -> tuple[np.ndarray, np.ndarray]:
    off, scale = norm.stats(noisy)
    return (noisy - off) / scale, (clean - off) / scale


def augment_flips(rng: np.random.Generator, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k = int(rng.integers(4))  # flips only: a 90 degree rotation would turn the fast-scan axis
    if k & 1:
        a, b = a[:, ::-1], b[:, ::-1]
    if k & 2:
        a, b = a[::-1], b[::-1]
    return np.ascontiguousarray(a), np.ascontiguousarray(b)


def _validation_set(cfg: SimTrainConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng([cfg.seed, 7919])  # its own stream; never the evaluation seed
    out = []
    for _ in range(cfg.validation_images):
        scene, acq, detected = cfg.distribution.draw(rng, cfg.scene_size)
        out.append(_normalised(*simulate_example(scene, acq, int(rng.integers(2**31)), detected=detected), cfg.normalization))
    return out


@torch.no_grad()
def _validate(net: torch.nn.Module, val, device) -> float:
    net.eval()
    scores = []
    for noisy, clean in val:
        out = net(torch.from_numpy(noisy)[None, None].to(device))[0, 0].float().cpu().numpy()
        scores.append(psnr(out, clean))
    net.train()
    return float(np.mean(scores))


def iter_train_simulated(cfg: SimTrainConfig, model: Model | None = None, device: str = "cpu"):
    """Generator: trains ``model`` (a new one if None) on simulated pairs; yields :class:`TrainProgress`
    every step; returns the model with the best validation weights."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    continued = model is not None
    model = model or Model.new(cfg.architecture, cfg.normalization)
    net = model.net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    warmup = min(100, cfg.steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: (s + 1) / max(1, warmup) if s < warmup else 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, cfg.steps - warmup))),
    )
    loss_fn = make_loss(cfg.loss)

    def example() -> tuple[np.ndarray, np.ndarray]:
        scene, acq, detected = cfg.distribution.draw(rng, cfg.scene_size)
        return _normalised(*simulate_example(scene, acq, int(rng.integers(2**31)), detected=detected), cfg.normalization)

    val = _validation_set(cfg)
    pool = [example() for _ in range(cfg.pool)]
    best_state, best_psnr, best_step = None, -math.inf, None
    ema = {k: v.detach().clone() for k, v in net.state_dict().items()} if cfg.ema else None
    scored = copy.deepcopy(net) if ema is not None else net  # the network that is validated
    start_psnr = None
    if continued:
        start_psnr = best_psnr = _validate(net, val, device)
        best_state, best_step = copy.deepcopy(net.state_dict()), 0
        yield TrainProgress(0, cfg.steps, math.nan, 0.0, {}, start_psnr, best_psnr, "the starting weights", 0)
    start = time.perf_counter()
    p = cfg.patch
    step = 0
    for step in range(1, cfg.steps + 1):
        if step % cfg.refresh_every == 0:
            for i in rng.choice(len(pool), size=max(1, len(pool) // 8), replace=False):
                pool[i] = example()
        xs, ys = [], []
        for _ in range(cfg.batch):
            noisy, clean = pool[int(rng.integers(len(pool)))]
            y0, x0 = (int(rng.integers(0, noisy.shape[i] - p + 1)) for i in (0, 1))
            a, b = augment_flips(rng, noisy[y0 : y0 + p, x0 : x0 + p], clean[y0 : y0 + p, x0 : x0 + p])
            xs.append(a)
            ys.append(b)
        x = torch.from_numpy(np.stack(xs)[:, None]).to(device)
        y = torch.from_numpy(np.stack(ys)[:, None]).to(device)
        loss, terms = loss_fn(net(x), y)
        if not torch.isfinite(loss):
            raise LowdoseError(f"training diverged at step {step} (loss {float(loss)}); lower the learning rate")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if ema is not None:
            with torch.no_grad():
                for k, v in net.state_dict().items():
                    if v.dtype.is_floating_point:
                        ema[k].mul_(cfg.ema).add_(v, alpha=1.0 - cfg.ema)
                    else:
                        ema[k].copy_(v)
        elapsed = time.perf_counter() - start
        last = step == cfg.steps or (cfg.max_seconds is not None and elapsed > cfg.max_seconds)
        val_psnr = new_best = None
        if step % cfg.validate_every == 0 or last:
            if ema is not None:
                scored.load_state_dict(ema)
            val_psnr = _validate(scored, val, device)
            if val_psnr > best_psnr:
                best_psnr, best_state, best_step = val_psnr, copy.deepcopy(scored.state_dict()), step
                new_best = best_state
        yield TrainProgress(step, cfg.steps, float(loss.detach()), elapsed, terms, val_psnr, best_psnr if best_state else None,
                            best_step=best_step, best_weights=new_best)
        if last:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    model.net = net.eval().cpu()
    model.card.training = {"steps": step, "best_validation_psnr_db": round(best_psnr, 3), "best_step": best_step}
    if start_psnr is not None:
        model.card.training["start_validation_psnr_db"] = round(start_psnr, 3)
    return model
