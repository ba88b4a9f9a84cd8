"""Training losses (torch). Every function takes batches shaped (N, C, H, W), axis order (y, x), with x
the fast-scan direction, and returns a scalar tensor that can be back-propagated.

* :func:`l1`, :func:`l2` : pixel losses.
* :func:`psnr_loss` : minus the mean per-image PSNR (up to each image's fixed peak): the mean over
  images of ``10 log10(MSE)``. Every image counts the same, whatever its noise level, where a plain L2
  is dominated by the images with the largest errors (the lowest doses).
* :func:`fourier_l1` : the seed's L1 distance between Fourier *magnitudes* (orthonormal FFT): texture
  and power at every frequency must match, while a small shift (a phase ramp) costs nothing.
* :func:`resolution_penalty` : the resolution constraint. The target's cutoff is read from its radial
  power profile as in the spectrum readout (highest frequency whose profile exceeds ``threshold`` x
  the noise level of the high-frequency part); below that cutoff, the prediction is penalised for
  every bin whose power falls under the target's (a log-power hinge, so blurring away resolved
  frequencies costs, keeping or adding power does not).
* :func:`anisotropy` / :func:`anisotropy_penalty` : the x/y anisotropy. The spectral bandwidth along x
  and along y (square roots of the second moments of the power spectrum, the scan-line axes kx=0 and
  ky=0 left out) are a differentiable stand-in for the x and y cutoffs; the penalty is the squared log of
  their ratio (relative to the target's when one is given): zero on isotropic data.
* :func:`poisson_nll` : negative log-likelihood of counts under a predicted Poisson rate.
* :class:`LossConfig` / :func:`make_loss` : a weighted sum, by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

from .errors import LowdoseError


def l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(pred, target)


def l2(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(pred, target)


def psnr_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Mean over images of ``10 log10(MSE + eps)`` (dB): minus the mean PSNR, up to each image's peak
    (a constant of the target, so it changes nothing in the gradient)."""
    mse = (pred.float() - target.float()).square().flatten(1).mean(dim=1)
    return (10.0 / math.log(10.0)) * torch.log(mse + eps).mean()


def _spectrum(x: torch.Tensor) -> torch.Tensor:
    return torch.fft.rfft2(x.float(), norm="ortho")


def fourier_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of the Fourier magnitudes |FFT(pred)| and |FFT(target)| (orthonormal,
    so the scale matches a pixel L1 of the same image)."""
    return (_spectrum(pred).abs() - _spectrum(target).abs()).abs().mean()


@lru_cache(maxsize=16)
def _radial_bins(h: int, w: int, device: str) -> tuple[torch.Tensor, int]:
    """Radial bin (in units of 1/max(h, w) cycles/pixel) of each rfft2 coefficient, and the bin count."""
    ky = torch.fft.fftfreq(h, device=device)[:, None]
    kx = torch.fft.rfftfreq(w, device=device)[None, :]
    k = torch.sqrt(ky**2 + kx**2)
    n = max(h, w)
    idx = torch.clamp(torch.round(k * n).long(), max=n // 2)
    return idx.ravel(), n // 2 + 1


def radial_power(x: torch.Tensor) -> torch.Tensor:
    """Mean power per radial frequency bin, (N*C, nbins); bin ``i`` is at ``i / max(H, W)`` cycles/pixel."""
    h, w = x.shape[-2:]
    idx, nbins = _radial_bins(h, w, str(x.device))
    power = _spectrum(x).abs().square().reshape(-1, idx.numel())
    sums = torch.zeros(power.shape[0], nbins, device=x.device).index_add_(1, idx, power)
    counts = torch.zeros(nbins, device=x.device).index_add_(0, idx, torch.ones_like(idx, dtype=power.dtype))
    return sums / counts.clamp(min=1)


def cutoff_bins(profile: torch.Tensor, threshold: float = 3.0, noise_from: float = 0.75) -> torch.Tensor:
    """Index of the highest bin whose power exceeds ``threshold`` x the noise level (median of the bins
    above ``noise_from`` x Nyquist), per row of ``profile``; the last bin when nothing is noise-like."""
    nbins = profile.shape[-1]
    start = min(int(noise_from * (nbins - 1)), nbins - 2)
    noise = profile[:, start:].median(dim=1).values
    floor = torch.maximum(threshold * noise, profile[:, 1:].amax(dim=1) * 1e-7)  # a clean image: ~no floor
    above = profile > floor[:, None]
    above[:, 0] = True
    positions = torch.arange(nbins, device=profile.device).expand_as(profile)
    return torch.where(above, positions, torch.zeros_like(positions)).amax(dim=1)


def resolution_penalty(pred: torch.Tensor, target: torch.Tensor, threshold: float = 3.0, band: float = 0.5) -> torch.Tensor:
    """Mean over images of the log-power deficit ``relu(log P_target - log P_pred)`` in the bins between
    ``band`` x the target's cutoff and that cutoff (where a lost resolution shows first)."""
    p_pred = radial_power(pred)
    with torch.no_grad():
        p_target = radial_power(target)
        kc = cutoff_bins(p_target, threshold)
        positions = torch.arange(p_target.shape[1], device=pred.device)[None, :]
        sel = (positions <= kc[:, None]) & (positions >= (band * kc.float())[:, None]) & (positions > 0)
    eps = 1e-12
    deficit = F.relu(torch.log(p_target + eps) - torch.log(p_pred + eps))
    per_image = (deficit * sel).sum(dim=1) / sel.sum(dim=1).clamp(min=1)
    return per_image.mean()


@lru_cache(maxsize=16)
def _axis_weights(h: int, w: int, device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    ky = torch.fft.fftfreq(h, device=device)[:, None].expand(h, w // 2 + 1)
    kx = torch.fft.rfftfreq(w, device=device)[None, :].expand(h, w // 2 + 1)
    keep = (kx != 0) & (ky != 0)  # the scan-line axes carry line offsets and column artifacts
    weight = torch.where(kx == 0.5, 1.0, 2.0) * keep  # rfft2 holds each x frequency once (except 0, Nyquist)
    return kx.square() * weight, ky.square() * weight, weight


def anisotropy(x: torch.Tensor) -> torch.Tensor:
    """Ratio of the spectral bandwidths along x and along y, per image, (N*C,): > 1 means more
    high-frequency content along x (finer x resolution), < 1 more along y (e.g. smearing along x)."""
    h, w = x.shape[-2:]
    wx, wy, _ = _axis_weights(h, w, str(x.device))
    power = _spectrum(x - x.mean(dim=(-2, -1), keepdim=True)).abs().square().reshape(-1, h, w // 2 + 1)
    mx = (power * wx).sum(dim=(-2, -1))
    my = (power * wy).sum(dim=(-2, -1))
    return torch.sqrt((mx + 1e-20) / (my + 1e-20))


def anisotropy_penalty(pred: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Squared log of the prediction's x/y bandwidth ratio, relative to the target's when given
    (the target may be anisotropic itself, e.g. a lattice); zero on isotropic data."""
    log_ratio = torch.log(anisotropy(pred))
    if target is not None:
        with torch.no_grad():
            log_ratio = log_ratio - torch.log(anisotropy(target))
    return log_ratio.square().mean()


def poisson_nll(rate: torch.Tensor, counts: torch.Tensor, full: bool = False, eps: float = 1e-8) -> torch.Tensor:
    """Mean negative log-likelihood of ``counts`` under Poisson rates ``rate`` (both in electrons, rate >= 0):
    ``rate - counts log(rate)``, plus ``log(counts!)`` with ``full=True`` (then it is exactly -log P)."""
    nll = rate - counts * torch.log(rate + eps)
    if full:
        nll = nll + torch.lgamma(counts + 1)
    return nll.mean()


TERMS = {
    "l1": l1,
    "l2": l2,
    "psnr": psnr_loss,
    "fourier": fourier_l1,
    "resolution": resolution_penalty,
    "anisotropy": anisotropy_penalty,
}


NAMED = ("l1", "l2", "psnr", "fourier", "seed")  #: the names :meth:`LossConfig.named` knows


@dataclass(frozen=True)
class LossConfig:
    """Weighted sum of loss terms (dimensionless weights; 0 switches a term off).

    ``seed()`` is the seed's combination: Fourier-magnitude L1 plus the resolution and anisotropy terms,
    with a pixel L1 to anchor intensities.
    """

    l1: float = 1.0
    l2: float = 0.0
    psnr: float = 0.0
    fourier: float = 0.0
    resolution: float = 0.0
    anisotropy: float = 0.0

    def __post_init__(self) -> None:
        for name, w in self.terms().items():
            if not (w >= 0 and math.isfinite(w)):  # (psnr is in dB and may be negative; its weight not)
                raise LowdoseError(f"loss weight {name} must be a finite number >= 0, got {w}")
        if not any(self.terms().values()):
            raise LowdoseError("at least one loss weight must be positive")

    def terms(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in TERMS}

    @staticmethod
    def seed() -> "LossConfig":
        return LossConfig(l1=1.0, fourier=1.0, resolution=0.05, anisotropy=0.05)

    @staticmethod
    def named(name: str) -> "LossConfig":
        """``"l1"``, ``"l2"``, ``"psnr"`` (mean per-image PSNR), ``"fourier"`` (Fourier L1 alone) or
        ``"seed"`` (the seed's combination)."""
        if name == "seed":
            return LossConfig.seed()
        if name in NAMED:
            return LossConfig(**{k: float(k == name) for k in NAMED if k != "seed"})
        raise LowdoseError(f"unknown loss {name!r}: choose one of {', '.join(NAMED)}")

    def describe(self) -> str:
        return " + ".join(f"{w:g}·{name}" for name, w in self.terms().items() if w)


def make_loss(config: LossConfig):
    """``loss(pred, target) -> (total, {term: value})`` for the weighted sum in ``config``."""
    active = [(name, w, TERMS[name]) for name, w in config.terms().items() if w]

    def loss(pred: torch.Tensor, target: torch.Tensor):
        parts = {name: fn(pred, target) for name, _, fn in active}
        total = sum(w * parts[name] for name, w, _ in active)
        return total, {k: float(v.detach()) for k, v in parts.items()}

    return loss
