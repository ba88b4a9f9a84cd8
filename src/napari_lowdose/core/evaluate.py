"""Evaluation on held-out simulated images: noisy vs best Gaussian (oracle) vs FFT mask vs a model.

Every image is drawn with :data:`EVAL_SEED`, a seed never used in training. Scene details (coverage,
particle size, texture, optics within the setting) vary per image; the setting fixes the modality,
pixel size and dose. Methods are scored against the noise- and artifact-free target in detector units
(:func:`~.train.clean_target`), along the acquisition's own scan (its stretch and line jitter kept, see
:func:`~.simulate.scanned`: no denoiser can know one acquisition's jitter), after a least-squares affine intensity match (:func:`~.metrics.affine_match`),
applied to every method alike, so that no method wins or loses by a gain or offset alone (e.g. the
lower median intensity at short dwell). The Gaussian filter's sigma is chosen per image with the truth
(an oracle that no real method has).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
from scipy import ndimage

from .metrics import affine_match, data_range, psnr, ssim
from .simulate import Acquisition, HRTEMOptics, ScanArtifacts, SceneConfig
from .spectrum import fft_mask
from .train import SimDistribution, clean_target, simulate_example

EVAL_SEED = 987_654_321  #: never used for training or validation
STANDARD_COVERAGE = (0.1, 0.4)  #: particles' area fraction of the evaluation scenes (drawn uniformly)
GAUSSIAN_SIGMAS = tuple(float(s) for s in np.round(np.geomspace(0.3, 12.0, 24), 3))  #: px, oracle search grid


@dataclass(frozen=True)
class EvalSetting:
    """One row of the evaluation: a modality at a pixel size (Å), a dose (e⁻/Å²) and artifact strength."""

    name: str
    modality: str
    pixel_size: float
    dose: float
    artifact_scale: float = 1.0  #: multiplies :class:`ScanArtifacts` (HAADF), 1 µs dwell
    column_sharpness: float = 0.0
    optics: HRTEMOptics = field(default_factory=HRTEMOptics)
    size: int = 384
    note: str = ""
    coverage: tuple[float, float] = STANDARD_COVERAGE  #: range of the particles' area fraction
    camera_psf_px: float = 0.0  #: px, the camera's point spread (:attr:`~.simulate.Acquisition.camera_psf_px`)

    @property
    def label(self) -> str:
        """The setting's name, with the coverage and camera point spread when not the standard ones."""
        label = self.name if self.coverage == STANDARD_COVERAGE else f"{self.name}, coverage {self.coverage[0]:g}-{self.coverage[1]:g}"
        return f"{label}, camera PSF {self.camera_psf_px:g} px" if self.camera_psf_px else label

    def draw(self, rng: np.random.Generator) -> tuple[SceneConfig, Acquisition]:
        scene = SceneConfig(
            shape=(self.size, self.size),
            pixel_size=self.pixel_size,
            modality=self.modality,
            island_size=self.pixel_size * float(np.exp(rng.uniform(np.log(15), np.log(100)))),
            island_coverage=float(rng.uniform(*self.coverage)),
            carbon_texture=float(rng.uniform(0.2, 0.5)),
            lattice_contrast=float(rng.uniform(0.3, 0.6)),
            column_sharpness=self.column_sharpness,
            element=str(rng.choice(["Au", "Pt"])),
            optics=replace(self.optics, defocus=self.optics.defocus + float(rng.uniform(-100, 100))),
        )
        art = ScanArtifacts().scaled(self.artifact_scale) if self.modality == "haadf" else ScanArtifacts.none()
        return scene, Acquisition(dose=self.dose, dwell_us=1.0, artifacts=art, camera_psf_px=self.camera_psf_px)

    @property
    def electrons_per_pixel(self) -> float:
        return self.dose * self.pixel_size**2


def standard_settings() -> list[EvalSetting]:
    """In-distribution rows: three imaging settings at four doses each (lowest first)."""
    rows = []
    for dose in (0.05, 0.2, 1.0, 5.0):
        rows.append(EvalSetting("HAADF 4 Å (particles)", "haadf", 4.0, dose))
    for dose in (2.0, 8.0, 30.0, 120.0):
        rows.append(EvalSetting("HAADF 0.8 Å (atomic columns)", "haadf", 0.8, dose, column_sharpness=4.0))
    for dose in (3.0, 10.0, 30.0, 90.0):
        rows.append(EvalSetting("HRTEM 1 Å", "hrtem", 1.0, dose))
    return rows


def out_of_distribution_settings() -> list[EvalSetting]:
    """Settings outside the training ranges of :class:`~.train.SimDistribution`."""
    return [
        EvalSetting("HAADF 12 Å pixels", "haadf", 12.0, 0.02, note="pixel size > 8 Å trained"),
        EvalSetting("HAADF 4 Å, artifacts x3", "haadf", 4.0, 0.2, artifact_scale=3.0, note="artifact scale > 1.5 trained"),
        EvalSetting("HAADF 4 Å, 0.16 e/px", "haadf", 4.0, 0.01, note="below the 0.5 e/px trained"),
        EvalSetting("HRTEM 80 kV, overfocus", "hrtem", 1.0, 10.0, optics=HRTEMOptics(voltage_kv=80.0, defocus=500.0), note="80 kV and defocus > 0 untrained"),
    ]


def camera_settings(psfs: tuple[float, ...] = (0.5, 0.8)) -> list[EvalSetting]:
    """The HRTEM setting's two lowest doses through a scintillator camera whose point spread (rms px)
    correlates the noise; the same scenes and electron counts as the standard rows (same name)."""
    hrtem = sorted((s for s in standard_settings() if s.modality == "hrtem"), key=lambda s: s.dose)[:2]
    return [replace(s, camera_psf_px=psf, note="camera point spread") for psf in psfs for s in hrtem]


def carbon_only_settings() -> list[EvalSetting]:
    """The two lowest doses of each setting of :func:`standard_settings` with no particles: the support
    film alone, a nearly Gaussian random texture (filtered Gaussian noise), for which the best linear
    filter is close to the best of all filters: what is left to gain there is small for any method."""
    standard, out = standard_settings(), []
    for name in dict.fromkeys(s.name for s in standard):
        lowest = sorted((s for s in standard if s.name == name), key=lambda s: s.dose)[:2]
        out += [replace(s, coverage=(0.0, 0.0), note="no particles") for s in lowest]
    return out


def best_gaussian(noisy: np.ndarray, target: np.ndarray, sigmas=GAUSSIAN_SIGMAS) -> tuple[np.ndarray, float]:
    """The Gaussian-filtered ``noisy`` with the sigma (px) that maximises PSNR to ``target`` (an oracle)."""
    best, best_sigma, best_score = None, 0.0, -np.inf
    for s in sigmas:
        out = ndimage.gaussian_filter(noisy.astype(np.float64), s, mode="reflect")
        score = psnr(affine_match(out, target), target)
        if score > best_score:
            best, best_sigma, best_score = out, s, score
    return best, best_sigma


def oracle_wiener(noisy: np.ndarray, target: np.ndarray, smooth: int = 5) -> np.ndarray:
    """The best *linear* filter for this image, built with the truth (an oracle): Wiener's S / (S + N),
    with S the power spectrum of the (gain-matched) target and N that of the actual noise, each
    smoothed over ``smooth`` x ``smooth`` frequency bins. An upper bound for linear denoisers."""
    x, t = noisy.astype(np.float64), target.astype(np.float64)
    gain = float(np.cov(t.ravel(), x.ravel())[0, 1] / max(np.var(t), 1e-30))
    signal = np.fft.fft2(gain * (t - t.mean()))
    noise = np.fft.fft2((x - x.mean()) - gain * (t - t.mean()))
    s = ndimage.uniform_filter(np.abs(signal) ** 2, smooth, mode="wrap")
    n = ndimage.uniform_filter(np.abs(noise) ** 2, smooth, mode="wrap")
    return np.real(np.fft.ifft2(np.fft.fft2(x - x.mean()) * s / np.maximum(s + n, 1e-30))) + x.mean()


def score(x: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """(PSNR dB, SSIM) of ``x`` after the affine intensity match, peak = the target's range."""
    matched = affine_match(x, target)
    r = data_range(target)
    return psnr(matched, target, r), ssim(matched, target, r)


Method = Callable[[np.ndarray], np.ndarray]


def evaluate(settings: list[EvalSetting], denoiser: Method, images: int = 6, seed: int = EVAL_SEED, on_image=None, along_scan: bool = True) -> list[dict]:
    """Score noisy / oracle Gaussian / oracle Wiener / FFT mask (default cutoff) / ``denoiser`` on ``images``
    per setting.

    Returns one dict per setting: mean PSNR (dB) and SSIM per method, the mean oracle sigma, and the
    per-image PSNRs of the model and of the Gaussian."""
    rows = []
    for setting in settings:
        # the same scenes (and noise seeds) at every dose of a setting, whatever else is evaluated with it:
        # rows differ by the dose alone
        rng = np.random.default_rng([seed, zlib.crc32(setting.name.encode())])
        per = {m: [] for m in ("noisy", "gaussian", "wiener", "fft_mask", "model")}
        sigmas = []
        for i in range(images):
            scene, acq = setting.draw(rng)
            noisy, target = simulate_example(scene, acq, int(rng.integers(2**31)), along_scan)
            gauss, sigma = best_gaussian(noisy, target)
            sigmas.append(sigma)
            outs = {"noisy": noisy, "gaussian": gauss, "wiener": oracle_wiener(noisy, target), "fft_mask": fft_mask(noisy), "model": denoiser(noisy)}
            for m, out in outs.items():
                per[m].append(score(out, target))
            if on_image is not None:
                on_image(setting, i, noisy, outs, target)
        row = {"setting": setting.label, "modality": setting.modality, "pixel_size_A": setting.pixel_size, "dose_e_per_A2": setting.dose,
               "electrons_per_pixel": round(setting.electrons_per_pixel, 3), "note": setting.note, "images": images,
               "gaussian_sigma_px": round(float(np.mean(sigmas)), 2)}
        for m, vals in per.items():
            arr = np.array(vals)
            row[f"{m}_psnr"] = round(float(arr[:, 0].mean()), 2)
            row[f"{m}_ssim"] = round(float(arr[:, 1].mean()), 3)
        row["model_psnr_each"] = [round(v[0], 2) for v in per["model"]]
        row["gaussian_psnr_each"] = [round(v[0], 2) for v in per["gaussian"]]
        rows.append(row)
    return rows


def distribution_from_card(trained_on: dict) -> SimDistribution:
    """The :class:`~.train.SimDistribution` a model card's ``trained_on["distribution"]`` records (JSON
    lists back to tuples); a card without one gets the defaults."""
    d = trained_on.get("distribution", {})
    return SimDistribution(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def evaluate_distribution(dist: SimDistribution, denoiser: Callable[[np.ndarray], dict[str, np.ndarray]], images: int,
                          seed: int = EVAL_SEED, size: int = 256) -> list[dict]:
    """Score images drawn from a training distribution itself (scene, optics, detector, dose and
    artifacts all random, as in training), with the held-out seed: a broader test than the fixed
    settings of :func:`evaluate`. ``denoiser`` maps a noisy image to named outputs (e.g. the network
    alone and the network as ``denoise`` runs it).

    Returns one dict per image: its modality, pixel size (Å), electrons per pixel, camera point spread
    (px), the particles' area fraction, and ``psnr`` (dB after the affine match, :func:`score`) of ``noisy``, the oracle ``gaussian``
    and each output of ``denoiser``."""
    rng = np.random.default_rng([seed, zlib.crc32(b"training distribution")])
    out = []
    for _ in range(images):
        scene, acq, detected = dist.draw(rng, size)
        noisy, target = simulate_example(scene, acq, int(rng.integers(2**31)), detected=detected)
        outs = {"noisy": noisy, "gaussian": best_gaussian(noisy, target)[0], **denoiser(noisy)}
        out.append({"modality": scene.modality, "pixel_size_A": round(scene.pixel_size, 3),
                    "electrons_per_pixel": round(acq.electrons_per_pixel(scene.pixel_size), 3),
                    "camera_psf_px": round(acq.camera_psf_px, 3), "coverage": round(scene.island_coverage, 3), "psnr": {m: round(score(x, target)[0], 3) for m, x in outs.items()}})
    return out


def markdown_table(rows: list[dict]) -> str:
    head = ("| setting | dose e⁻/Å² (e⁻/px) | noisy | oracle Gaussian (σ px) | oracle Wiener | FFT mask | model | model − Gaussian |\n"
            "|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        cell = lambda m: f"{r[m + '_psnr']:.2f} / {r[m + '_ssim']:.3f}"  # noqa: E731
        lines.append(
            f"| {r['setting']} | {r['dose_e_per_A2']:g} ({r['electrons_per_pixel']:g}) | {cell('noisy')} | {cell('gaussian')} ({r['gaussian_sigma_px']:g}) | {cell('wiener')} "
            f"| {cell('fft_mask')} | **{cell('model')}** | {r['model_psnr'] - r['gaussian_psnr']:+.2f} dB |"
        )
    return head + "\n".join(lines)
