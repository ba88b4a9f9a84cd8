"""Fine-tuning a model on the user's own images, as a generator (each yield a progress tick and a cancel
point) inside a :class:`FineTuner` that always holds the best weights so far.

Paired mode (noisy, reference): each pair is checked (same shape), aligned (sub-pixel shift by phase
correlation, corrected by a Fourier shift, or by whole pixels for electron counts so that they stay counts,
and a crop of the wrapped border) and the reference is mapped
into the noisy image's intensity scale by a least-squares affine fit (so a 4 µs reference trains a 1 µs
model). A strip at the bottom of each pair (``val_fraction`` of its rows) is held out for validation;
patches for training come from the rest.

Self-supervised mode (no reference): blind-spot masking as in Noise2Void (the 001 seed): a few pixels
of each patch are replaced by a random neighbour and the loss is taken at those pixels only, so the
network cannot copy its input. For counting data the loss is the Poisson negative log-likelihood, else L2.

Stopping: :meth:`FineTuner.stop` ends the run at the next step (the generator returns normally); closing
the generator (a napari worker's quit) also leaves :meth:`FineTuner.best_model` valid. A non-finite loss
restores the best weights and ends the run with ``reason = "diverged"``.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import ndimage

from .errors import LowdoseError
from .image import check_image
from .losses import LossConfig, make_loss, poisson_nll
from .metrics import affine_fit, psnr
from .model import Model
from .train import augment_flips

MIN_PAIR_SIDE = 64  #: px, smallest image that can be fine-tuned on


class PairError(LowdoseError):
    """A (noisy, reference) pair that cannot be used: different shapes, or not the same area."""


# ---------------------------------------------------------------------------------- alignment
def estimate_shift(reference: np.ndarray, moving: np.ndarray, smooth: float = 1.5) -> tuple[float, float, float]:
    """Sub-pixel (dy, dx) such that ``ndimage.fourier_shift(moving, (dy, dx))`` lines up with ``reference``,
    by phase correlation of Hann-windowed, lightly smoothed images; plus the peak's significance (how many
    standard deviations the correlation peak stands above the rest of the correlation surface)."""
    a = ndimage.gaussian_filter(np.asarray(reference, np.float64), smooth)
    b = ndimage.gaussian_filter(np.asarray(moving, np.float64), smooth)
    win = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    fa = np.fft.fft2((a - a.mean()) * win)
    fb = np.fft.fft2((b - b.mean()) * win)
    cross = fa * np.conj(fb)
    cross /= np.abs(cross) + 1e-12 * np.abs(cross).max()
    r = np.fft.ifft2(cross).real
    iy, ix = np.unravel_index(int(np.argmax(r)), r.shape)
    ny, nx = r.shape

    # sub-pixel: evaluate the inverse DFT of the cross-power spectrum on finer and finer grids around the
    # peak (matrix-multiply DFT, as in Guizar-Sicairos et al. 2008); parabola fits are biased here
    ky = np.fft.fftfreq(ny)[None, :]
    kx = np.fft.fftfreq(nx)[:, None]
    cy, cx = float(iy), float(ix)
    for half, step in ((1.0, 0.1), (0.1, 0.01)):
        offs = np.arange(-half, half + step / 2, step)
        ey = np.exp(2j * np.pi * (cy + offs)[:, None] * ky)  # (n, ny)
        ex = np.exp(2j * np.pi * kx * (cx + offs)[None, :])  # (nx, n)
        fine = (ey @ cross @ ex).real
        j, i = np.unravel_index(int(np.argmax(fine)), fine.shape)
        cy, cx = cy + offs[j], cx + offs[i]
    dy = cy - ny if cy > ny / 2 else cy
    dx = cx - nx if cx > nx / 2 else cx
    rest = np.delete(r.ravel(), iy * nx + ix)
    significance = float((r[iy, ix] - rest.mean()) / (rest.std() + 1e-12))
    return float(dy), float(dx), significance


@dataclass
class PreparedPair:
    """A training pair after the checks: ``noisy`` and ``target`` (the reference, aligned and in the noisy
    image's intensity units), float32, same shape; what was done, in words and numbers."""

    name: str
    noisy: np.ndarray
    target: np.ndarray | None
    shift: tuple[float, float] = (0.0, 0.0)  #: px (dy, dx) applied to the reference
    significance: float = 0.0
    gain: float = 1.0  #: target = gain x reference + offset
    offset: float = 0.0
    shifted: bool = False
    crop: int = 0  #: px cut from every side after a shift
    cleaned: bool = False  #: the reference was denoised by the starting model (FinetuneConfig.clean_reference)
    train_box: tuple[int, int, int, int] | None = None  #: (row0, row1, col0, col1) px of the input image, or all
    val_box: tuple[int, int, int, int] | None = None  #: held-out box, or a strip at the bottom of the training area

    def report(self) -> str:
        if self.target is None:
            return f"{self.name}: self-supervised (no reference), {self.noisy.shape[0]} x {self.noisy.shape[1]} px"
        dy, dx = self.shift
        moved = f"shifted by ({dy:+.2f}, {dx:+.2f}) px (y, x) and cropped by {self.crop} px" if self.shifted else f"shift ({dy:+.2f}, {dx:+.2f}) px, not corrected"
        what = "denoised reference" if self.cleaned else "reference"
        return f"{self.name}: reference {moved}; intensity {what} x {self.gain:.4g} {self.offset:+.4g}"


def _instrument_kernel(sigma: float = 2.0, row_gap: int = 3) -> np.ndarray:
    """A Gaussian neighbourhood without the centre pixel and its row neighbours within ``row_gap`` px:
    a pixel's own noise, and a STEM detector's afterglow along the fast scan (x), never enter it."""
    r = int(3 * sigma)
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    k = np.exp(-(yy**2 + xx**2) / (2.0 * sigma**2))
    k[r, r - row_gap : r + row_gap + 1] = 0.0
    return k / k.sum()


def match_levels(reference: np.ndarray, noisy: np.ndarray) -> tuple[float, float]:
    """(gain, offset) such that ``gain * reference + offset`` has the noisy image's expected levels.

    Both images are noisy, so a least-squares fit of one on the other is pulled towards 0 by the
    reference's noise (regression dilution: at 24 e⁻/px of weak HRTEM contrast it gave a quarter of the
    true gain). Instead the slope is the instrumental-variable estimate Cov(noisy, z) / Cov(reference, z),
    with z the reference smoothed over a neighbourhood that leaves out each pixel (and its fast-scan
    neighbours): z follows the signal but shares no noise with either image. The instrument, in turn, is
    pulled towards 0 where the two scans do not line up pixel for pixel (a short-dwell image's scan
    stretch and jitter: 0.041 against the least-squares 0.069 on bench_finetune.py's HAADF session), so the
    larger of the two slopes is taken. Falls back to the least-squares fit when the images hold no
    spatially correlated signal."""
    r = np.asarray(reference, np.float64)
    n = np.asarray(noisy, np.float64)
    z = ndimage.convolve(r, _instrument_kernel(), mode="reflect")
    zc = z - z.mean()
    cov_rz = float(((r - r.mean()) * zc).mean())
    if not (cov_rz > 1e-12 * max(float(r.var()), 1e-30)):
        return affine_fit(r, n)
    gain = float(((n - n.mean()) * zc).mean()) / cov_rz
    # both estimates lean towards 0: least squares through the reference's noise, the instrument where the
    # two scans do not line up pixel for pixel (scan stretch, jitter): the larger one is the less biased
    ols, _ = affine_fit(r, n)
    if abs(ols) > abs(gain) and ols * gain > 0:
        gain = ols
    return gain, float(n.mean() - gain * r.mean())


def prepare_pair(noisy, reference=None, name: str = "pair", correct_shift: bool = True, match_intensity: bool = True,
                 min_shift: float = 0.25, max_shift_fraction: float = 0.25, min_significance: float = 8.0) -> PreparedPair:
    """Check, align and intensity-match one pair (``reference=None``: self-supervised, checks only).

    Raises :class:`PairError` with a clear sentence if the shapes differ or the two images do not show the
    same area (no significant phase-correlation peak, or a shift over ``max_shift_fraction`` of the size)."""
    check_image(noisy, f"{name}: noisy image", min_side=MIN_PAIR_SIDE)
    n = np.asarray(noisy, np.float32)
    if n.ndim != 2:
        raise PairError(f"{name}: fine-tuning takes single 2D images; the noisy image has shape {n.shape} (pick one plane)")
    if reference is None:
        return PreparedPair(name, n, None)
    check_image(reference, f"{name}: reference image", min_side=MIN_PAIR_SIDE)
    r = np.asarray(reference, np.float32)
    if r.shape != n.shape:
        raise PairError(f"{name}: the noisy image is {n.shape[0]} x {n.shape[1]} px but the reference is "
                        f"{' x '.join(map(str, r.shape))} px; a pair must have the same shape")
    dy, dx, sig = estimate_shift(n, r)
    if sig < min_significance:
        raise PairError(f"{name}: the noisy and reference images do not line up (no clear correlation peak, "
                        f"significance {sig:.1f} < {min_significance:g}); are they of the same area?")
    if abs(dy) > max_shift_fraction * n.shape[0] or abs(dx) > max_shift_fraction * n.shape[1]:
        raise PairError(f"{name}: the reference is shifted by ({dy:+.1f}, {dx:+.1f}) px, more than "
                        f"{max_shift_fraction:.0%} of the image; the images overlap too little to train on")
    shifted, crop = False, 0
    counts = _is_counts(n) and _is_counts(r)
    if counts:  # electron counts stay counts: whole-pixel shifts only (a sub-pixel one would interpolate them)
        dy, dx = float(np.rint(dy)), float(np.rint(dx))
    if correct_shift and max(abs(dy), abs(dx)) >= min_shift:  # for counts: a whole pixel or more
        if counts:
            r = np.roll(r, (int(dy), int(dx)), axis=(0, 1))
        else:
            r = np.fft.ifftn(ndimage.fourier_shift(np.fft.fftn(r.astype(np.float64)), (dy, dx))).real.astype(np.float32)
        crop = int(math.ceil(max(abs(dy), abs(dx)))) + 2
        n, r = n[crop:-crop, crop:-crop], r[crop:-crop, crop:-crop]
        shifted = True
    gain, offset = match_levels(r, n) if match_intensity else (1.0, 0.0)
    target = (gain * r + offset).astype(np.float32)
    return PreparedPair(name, np.ascontiguousarray(n), np.ascontiguousarray(target), (dy, dx), sig, gain, offset, shifted, crop)


# ------------------------------------------------------------------------------------ config
@dataclass(frozen=True)
class FinetuneConfig:
    """Fine-tuning. Time in seconds (``minutes`` in minutes), sizes in pixels; a run ends at ``steps`` or
    after ``minutes``, whichever comes first (at least one of them must be set)."""

    steps: int | None = None
    minutes: float | None = 3.0
    lr: float = 1e-4
    batch: int = 4
    patch: int = 128
    #: the seed's Fourier + resolution + anisotropy + pixel L1: with the bundled haadf model it measured the same
    #: PSNR as plain L1 and far higher SSIM (plain L1 lets the noise through as fine grain; docs/finetune.md)
    loss: LossConfig = field(default_factory=LossConfig.seed)
    val_fraction: float = 0.15  #: bottom strip of each pair held out for validation
    validate_every: float = 5.0  #: seconds between validations (and previews)
    self_supervised: bool = False
    likelihood: str = "auto"  #: self-supervised loss: "poisson", "l2" or "auto" (Poisson for counts)
    mask_fraction: float = 0.01  #: blind-spot pixels per patch
    correct_shift: bool = True
    match_intensity: bool = True
    clean_reference: bool = True  #: denoise each reference with the starting model before training on it
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps is None and self.minutes is None:
            raise LowdoseError("fine-tuning needs a number of steps or of minutes")
        if (self.steps is not None and self.steps < 1) or (self.minutes is not None and not self.minutes > 0):
            raise LowdoseError("steps must be >= 1 and minutes > 0")
        if not (self.lr > 0 and self.batch >= 1 and self.patch >= 32):
            raise LowdoseError("learning rate must be > 0, batch >= 1 and patch >= 32 px")
        if not 0.05 <= self.val_fraction <= 0.5:
            raise LowdoseError("val_fraction must be between 0.05 and 0.5")
        if self.likelihood not in ("auto", "poisson", "l2"):
            raise LowdoseError("likelihood must be auto, poisson or l2")


@dataclass(frozen=True)
class FinetuneProgress:
    """One step. ``fraction`` in [0, 1] (of steps or of time); PSNR in dB on the held-out strips."""

    step: int
    fraction: float
    loss: float
    seconds: float
    val_psnr: float | None = None
    best_val_psnr: float | None = None
    preview: np.ndarray | None = None  #: model output on the first validation strip (noisy image units)
    message: str = ""


def _is_counts(image: np.ndarray) -> bool:
    sample = image[::4, ::4]
    return bool(sample.min() >= 0 and np.all(sample == np.round(sample)))


# --------------------------------------------------------------------------------- the tuner
class FineTuner:
    """Fine-tunes a *copy* of ``model`` on ``pairs`` (a list of :class:`PreparedPair`).

    ``run()`` is the generator; ``stop()`` asks it to end; ``best_model()`` returns the best weights so far
    (by validation PSNR; before any validation, the starting weights) as a new :class:`Model`."""

    def __init__(self, model: Model, pairs: list[PreparedPair], config: FinetuneConfig | None = None, device: str = "cpu") -> None:
        self.config = config or FinetuneConfig()
        if not pairs:
            raise LowdoseError("fine-tuning needs at least one image")
        if not self.config.self_supervised and any(p.target is None for p in pairs):
            raise LowdoseError("paired fine-tuning needs a reference for every noisy image (or choose self-supervised)")
        self.device = torch.device(device)
        self.base = model
        if self.config.clean_reference and not self.config.self_supervised:
            pairs = [self._cleaned(p) for p in pairs]
        self.pairs = pairs
        self.model = Model(copy.deepcopy(model.net).to(self.device), copy.deepcopy(model.card), None)
        self.norm = [model.card.normalization.stats(p.noisy) for p in pairs]
        self.loss_fn = make_loss(self.config.loss)
        self.best_state = copy.deepcopy(self.model.net.state_dict())
        self.best_psnr: float | None = None
        self.best_step = 0
        self.step = 0
        self.reason = ""
        self.history: list[dict] = []
        self._stop = False
        self._rng = np.random.default_rng(self.config.seed)
        self._train, self._val = self._split()
        self.likelihood = self.config.likelihood
        if self.likelihood == "auto":
            self.likelihood = "poisson" if all(_is_counts(p.noisy) for p in pairs) else "l2"

    def _cleaned(self, pair: PreparedPair) -> PreparedPair:
        """The pair with its reference denoised by the starting model (the reference has more dose, so the
        model does better on it than on the noisy image) and matched to the noisy image again: the network
        then learns the session's noise without learning the reference's own noise and scan artifacts."""
        from .tiling import denoise

        cleaned = denoise(pair.target, self.base, device=self.device)
        gain, offset = affine_fit(cleaned, pair.noisy)
        target = (gain * cleaned + offset).astype(np.float32)
        return PreparedPair(pair.name, pair.noisy, target, pair.shift, pair.significance, gain, offset, pair.shifted, pair.crop,
                            cleaned=True, train_box=pair.train_box, val_box=pair.val_box)

    # -- data
    def _regions(self, pair: PreparedPair) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
        """(train box, validation box), (row0, row1, col0, col1) in the pair's arrays (after any crop).
        No boxes: the bottom ``val_fraction`` strip is held out. A training box alone: the bottom strip of
        that box. A validation box alone: training uses the largest rectangle of the image beside it."""
        h, w = pair.noisy.shape
        c = pair.crop

        def local(box):
            r0, r1, c0, c1 = box
            r0, r1 = sorted((int(np.clip(r0 - c, 0, h)), int(np.clip(r1 - c, 0, h))))
            c0, c1 = sorted((int(np.clip(c0 - c, 0, w)), int(np.clip(c1 - c, 0, w))))
            return r0, r1, c0, c1

        strip_min = 2 * self.model.card.architecture.multiple  # must survive the network's reflection padding
        train = local(pair.train_box) if pair.train_box else (0, h, 0, w)
        if pair.val_box:
            val = local(pair.val_box)
            if not pair.train_box:
                r0, r1, c0, c1 = val
                sides = [(0, r0, 0, w), (r1, h, 0, w), (0, h, 0, c0), (0, h, c1, w)]
                train = max(sides, key=lambda b: (b[1] - b[0]) * (b[3] - b[2]))
        else:
            r0, r1, c0, c1 = train
            cut = r1 - max(int(round(self.config.val_fraction * (r1 - r0))), strip_min)
            train, val = (r0, cut, c0, c1), (cut, r1, c0, c1)
        return train, val

    def _split(self):
        train, val = [], []
        self.val_origin: list[tuple[int, int]] = []  #: (row, column) of each validation area in the input image
        p = self.config.patch
        for i, pair in enumerate(self.pairs):
            (t0, t1, tc0, tc1), (v0, v1, vc0, vc1) = self._regions(pair)
            if t1 - t0 < p or tc1 - tc0 < p:
                raise LowdoseError(f"{pair.name}: the training area ({t1 - t0} x {tc1 - tc0} px) is smaller than the {p} px patches")
            if v1 - v0 < 8 or vc1 - vc0 < 8:
                raise LowdoseError(f"{pair.name}: the validation area ({v1 - v0} x {vc1 - vc0} px) is too small")
            off, scale = self.norm[i]
            norm = lambda a: None if a is None else np.ascontiguousarray((a - off) / scale, dtype=np.float32)  # noqa: E731
            tgt = pair.target
            train.append((norm(pair.noisy[t0:t1, tc0:tc1]), norm(None if tgt is None else tgt[t0:t1, tc0:tc1])))
            val.append((norm(pair.noisy[v0:v1, vc0:vc1]), norm(None if tgt is None else tgt[v0:v1, vc0:vc1]), i))
            self.val_origin.append((pair.crop + v0, pair.crop + vc0))
        return train, val

    def _batch(self):
        p, rng = self.config.patch, self._rng
        xs, ys, masks = [], [], []
        for _ in range(self.config.batch):
            noisy, target = self._train[int(rng.integers(len(self._train)))]
            y0 = int(rng.integers(0, noisy.shape[0] - p + 1))
            x0 = int(rng.integers(0, noisy.shape[1] - p + 1))
            a = noisy[y0 : y0 + p, x0 : x0 + p]
            b = a if target is None else target[y0 : y0 + p, x0 : x0 + p]
            a, b = augment_flips(rng, a, b)
            if self.config.self_supervised:
                a, m = self._blind_spot(a)
                masks.append(m)
            xs.append(a)
            ys.append(b)
        t = lambda arrs: torch.from_numpy(np.stack(arrs)[:, None]).to(self.device)  # noqa: E731
        return t(xs), t(ys), (t(masks) if masks else None)

    def _blind_spot(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Replace a random ``mask_fraction`` of pixels by a random neighbour within 2 px (never itself)."""
        rng = self._rng
        h, w = a.shape
        n = max(1, int(self.config.mask_fraction * h * w))
        ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
        d = rng.integers(-2, 3, size=(n, 2))
        d[(d == 0).all(axis=1)] = (0, 1)
        out = a.copy()
        out[ys, xs] = a[np.clip(ys + d[:, 0], 0, h - 1), np.clip(xs + d[:, 1], 0, w - 1)]
        mask = np.zeros_like(a)
        mask[ys, xs] = 1.0
        return out, mask

    def _loss(self, pred, target, mask):
        if mask is None:
            return self.loss_fn(pred, target)
        if self.likelihood == "poisson":
            # back to counts with the mean normalisation of the pairs; rate must stay positive
            off = float(np.mean([o for o, _ in self.norm]))
            scale = float(np.mean([s for _, s in self.norm]))
            rate = (pred * scale + off).clamp(min=1e-3)
            counts = target * scale + off
            nll = rate - counts * torch.log(rate)
            total = (nll * mask).sum() / mask.sum() / max(scale, 1e-6)
            return total, {"poisson_nll": float(total.detach())}
        total = (((pred - target) ** 2) * mask).sum() / mask.sum()
        return total, {"l2": float(total.detach())}

    # -- validation
    @torch.no_grad()
    def validate(self) -> tuple[float, np.ndarray]:
        """Mean validation score (dB) on the held-out strips, and the output on the first strip in the noisy
        image's units. Paired: PSNR against the (aligned, intensity-matched) reference. Self-supervised:
        the blind-spot error on the strip (fixed masked pixels, predicted from their neighbours only) as
        ``10 log10(1 / mse)`` in normalised units: not a PSNR against the truth, but higher is better."""
        net = self.model.net.eval()
        scores, preview = [], None
        for noisy, target, i in self._val:
            if target is not None:
                out = net.predict(torch.from_numpy(noisy)[None, None].to(self.device))[0, 0].float().cpu().numpy()
                scores.append(psnr(out, target))
            else:
                rng, self._rng = self._rng, np.random.default_rng([self.config.seed, i])
                masked, mask = self._blind_spot(noisy)
                self._rng = rng
                out = net.predict(torch.from_numpy(masked)[None, None].to(self.device))[0, 0].float().cpu().numpy()
                mse = float(((out - noisy) ** 2 * mask).sum() / mask.sum())
                scores.append(10 * math.log10(1.0 / max(mse, 1e-12)))
                out = net.predict(torch.from_numpy(noisy)[None, None].to(self.device))[0, 0].float().cpu().numpy()
            if preview is None:
                off, scale = self.norm[i]
                preview = out * scale + off
        net.train()
        return float(np.mean(scores)), preview

    # -- control
    def stop(self) -> None:
        """End the run at the next step; the best weights are kept."""
        self._stop = True

    def best_model(self) -> Model:
        net = copy.deepcopy(self.model.net).cpu().eval()
        net.load_state_dict({k: v.cpu() for k, v in self.best_state.items()})
        card = copy.deepcopy(self.model.card)
        card.training = {**(card.training or {}), "finetune": self.summary()}
        return Model(net, card, None)

    def summary(self) -> dict:
        c = self.config
        return {
            "pairs": [p.report() for p in self.pairs],
            "mode": "self-supervised (blind-spot, " + self.likelihood + ")" if c.self_supervised else ("paired, reference denoised by the starting model" if c.clean_reference else "paired"),
            "loss": None if c.self_supervised else c.loss.describe(),
            "steps": self.step,
            "best_step": self.best_step,
            "best_validation_psnr_db": None if self.best_psnr is None else round(self.best_psnr, 3),
            "learning_rate": c.lr,
            "batch": c.batch,
            "patch": c.patch,
            "ended": self.reason,
            "base_model": self.base.name,
        }

    def _keep_if_best(self, score: float) -> bool:
        if self.best_psnr is None or score > self.best_psnr:
            self.best_psnr, self.best_step = score, self.step
            self.best_state = copy.deepcopy(self.model.net.state_dict())
            return True
        return False

    def run(self):
        """Generator: yields :class:`FinetuneProgress` after every step; returns the best :class:`Model`."""
        c = self.config
        torch.manual_seed(c.seed)
        net = self.model.net.train()
        opt = torch.optim.Adam(net.parameters(), lr=c.lr)
        start = time.perf_counter()
        limit = None if c.minutes is None else c.minutes * 60.0
        score, preview = self.validate()  # the starting point: fine-tuning must beat it
        self._keep_if_best(score)
        self.history.append({"step": 0, "seconds": 0.0, "val_psnr_db": round(score, 3)})
        yield FinetuneProgress(0, 0.0, float("nan"), 0.0, score, self.best_psnr, preview, f"start: validation PSNR {score:.2f} dB")
        last_val = time.perf_counter()
        while not self._stop:
            self.step += 1
            x, y, mask = self._batch()
            loss, _ = self._loss(net(x), y, mask)
            if not torch.isfinite(loss):
                net.load_state_dict(self.best_state)
                self.reason = "diverged"
                yield FinetuneProgress(self.step, 1.0, float("nan"), time.perf_counter() - start, None, self.best_psnr, None,
                                       f"loss became {float(loss)} at step {self.step}: restored the best weights (step {self.best_step})")
                return self.best_model()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_value = float(loss.detach())
            elapsed = time.perf_counter() - start
            frac = max(self.step / c.steps if c.steps else 0.0, elapsed / limit if limit else 0.0)
            done = frac >= 1.0
            val, best_note = None, ""
            if done or time.perf_counter() - last_val >= c.validate_every:
                val, preview = self.validate()
                last_val = time.perf_counter()
                if self._keep_if_best(val):
                    best_note = " (best)"
                self.history.append({"step": self.step, "seconds": round(elapsed, 1), "val_psnr_db": round(val, 3), "loss": round(loss_value, 5)})
            else:
                preview = None
            msg = f"step {self.step}: loss {loss_value:.4f}" + (f", validation {val:.2f} dB{best_note}" if val is not None else "")
            yield FinetuneProgress(self.step, min(frac, 1.0), loss_value, elapsed, val, self.best_psnr, preview, msg)
            if done:
                self.reason = "finished"
                break
        if self._stop:
            self.reason = "stopped"
        return self.best_model()
