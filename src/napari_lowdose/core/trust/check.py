"""``check(noisy, denoised, pixel_size)``: does a denoised image agree with the data it came from?

Counts first (gain and offset given, or estimated from the noisy image: :mod:`.gain`), then three tests
on the residual in electrons: the local deviance (:mod:`.agreement`), the SBD atom likelihood of every
blob of the denoised image (:mod:`.likelihood`), and removed lattice reflections (:mod:`.residual`).
Each has a threshold set for a per-image false-alarm rate ``alpha`` (Bonferroni over its windows, blobs
or frequencies). :func:`warning` turns the report into the Denoise panel's one sentence.
Images (y, x) in ADU; pixel size in Å per pixel (None: lengths in px).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage

from ..errors import LowdoseError
from . import agreement as ag
from .gain import _KERNELS, GainEstimate, estimate_gain, given, read_noise_for
from .likelihood import Blob, blob_set, blobs_of, delta_l, paint
from .residual import LatticePeak, autocorrelation, lattice_peaks

FLAG_KINDS = ("removed_lattice", "spurious_atom", "disagreement")
MAX_FLAGS = 200


@dataclass
class Flag:
    kind: str  #: one of FLAG_KINDS
    y: float  #: px
    x: float  #: px
    size: float  #: px
    score: float  #: the test's statistic (z or normalised power); its threshold is in TrustReport.thresholds
    spacing: float | None = None  #: Å, for removed_lattice

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "y": round(self.y, 2), "x": round(self.x, 2), "size": round(self.size, 2), "score": round(self.score, 3)}
        if self.spacing is not None:
            d["spacing"] = round(self.spacing, 3)
        return d


@dataclass
class TrustReport:
    """What :func:`check` found. ``maps``: "agreement" (local deviance, ~N(0, 1) when faithful),
    "residual_z" (signed, smoothed residual / noise sd), "likelihood" (ΔL per blob, 0 elsewhere)."""

    ok: bool
    gain: GainEstimate
    flags: list[Flag]
    blobs: list[Blob]
    lattice: list[LatticePeak]
    thresholds: dict
    autocorrelation: dict
    pixel_size: float | None
    sigma: float  #: px, atom scale used for blobs and smoothing
    maps: dict = field(default_factory=dict, repr=False)

    @property
    def message(self) -> str:
        return warning(self)

    def to_dict(self) -> dict:
        counts = {k: sum(f.kind == k for f in self.flags) for k in FLAG_KINDS}
        return {
            "ok": self.ok,
            "gain": round(self.gain.gain, 4),
            "offset": round(self.gain.offset, 3),
            "read_noise": round(self.gain.read_noise, 3),
            "gain_source": self.gain.source,
            "gain_se": round(self.gain.gain_se, 4) if np.isfinite(self.gain.gain_se) else None,
            "gain_identifiable": self.gain.identifiable,
            "pixel_size": self.pixel_size,
            "flags": [f.to_dict() for f in self.flags[:MAX_FLAGS]],
            "flag_counts": counts,
            "blobs": {"n": len(self.blobs), "negative": int(sum(b.delta_l < 0 for b in self.blobs)),
                      "flagged": int(sum(b.z < self.thresholds.get("blob_z", -np.inf) for b in self.blobs))},
            "removed_spacings": sorted({round(p.spacing, 2) for p in self.lattice}),
            "autocorrelation": self.autocorrelation,
            "thresholds": {k: round(v, 3) for k, v in self.thresholds.items()},
            "agreement": {"mean": round(float(np.mean(self.maps["agreement"])), 3),
                          "sd": round(float(np.std(self.maps["agreement"])), 3)} if "agreement" in self.maps else None,
            "message": self.message,
        }


def _as_plane(a, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if np.iscomplexobj(arr) or arr.ndim != 2:
        raise LowdoseError(f"the {name} image must be one real 2-D plane (y, x), got shape {arr.shape} of {arr.dtype}")
    arr = arr.astype(np.float64)
    if min(arr.shape) < 32:
        raise LowdoseError(f"the {name} image is {arr.shape[0]} x {arr.shape[1]} pixels: the check needs at least 32 x 32")
    if not np.all(np.isfinite(arr)):
        raise LowdoseError(f"the {name} image has NaN or Inf pixels")
    return arr


def _gumbel(maxima: list[float], alpha: float) -> float:
    """The (1 − alpha) quantile of a Gumbel law fitted (moments) to per-image maxima."""
    m, sd = float(np.mean(maxima)), float(np.std(maxima, ddof=1)) if len(maxima) > 1 else 0.0
    beta = sd * np.sqrt(6.0) / np.pi
    return m - 0.5772 * beta - beta * float(np.log(-np.log(1.0 - alpha)))


def refine_gain(noisy: np.ndarray, denoised: np.ndarray, g: GainEstimate, rounds: int = 2) -> GainEstimate:
    """Second pass on an estimated gain with the denoised image as the local mean (Foi et al.'s idea with a
    better mean): the high-pass noise power over the power that Poisson(+read) noise at x̂ would have; a
    removed structure hardly changes it, since the 4th-difference filter cancels smooth signal."""
    k = _KERNELS["d4y"]
    w2 = float((k**2).sum())
    z2 = ndimage.correlate(np.asarray(noisy, np.float64), k, mode="reflect")[2:-2] ** 2 / w2
    for _ in range(rounds):
        lam = np.clip(g.counts(denoised), 0, None)
        v = ndimage.correlate(lam, k**2 / w2, mode="reflect")[2:-2] * g.gain**2 + g.read_noise**2
        phi = float(z2.mean() / max(v.mean(), 1e-12))
        # E z² = gain_true·gain·λ + read²: the shot part scales with the gain
        shot = float(v.mean()) - g.read_noise**2
        if shot <= 0:
            break
        factor = (float(z2.mean()) - g.read_noise**2) / shot
        if not (0.8 < factor < 1.25) or not np.isfinite(phi):  # a second pass corrects, it does not overrule
            break
        g = replace(g, gain=g.gain * factor, source="estimated, refined with the denoised image")  # keeps the first pass's error
    return g


def atom_sigma(pixel_size: float | None) -> float:
    """px: the LoG / smoothing scale for an atom column (σ ≈ 0.4 Å), 1 to 6 px."""
    if not pixel_size:
        return 2.0
    return float(np.clip(0.4 / pixel_size, 1.0, 6.0))


def check(noisy, denoised, pixel_size: float | None = None, gain: float | None = None, offset: float | None = None,
          read_noise: float | None = None, alpha: float = 0.01, tolerance: float = 0.05, sigma: float | None = None,
          lattice_fraction: float = 0.5, null_draws: int = 8, min_spacing: float = 0.5) -> TrustReport:
    """Test ``denoised`` against ``noisy`` (both ADU, same shape, (y, x)); gain (ADU/e⁻) and offset (ADU)
    estimated from ``noisy`` unless both are given. ``alpha``: false-alarm rate per test per image;
    ``tolerance``: relative error of the denoised image that is not called a disagreement; ``min_spacing``
    (Å): shorter periods in the residual are not reported (no HAADF lattice reflection lies there; such
    peaks are scan or detector noise that a denoiser should remove)."""
    y = _as_plane(noisy, "noisy")
    xh = _as_plane(denoised, "denoised")
    if y.shape != xh.shape:
        raise LowdoseError(f"the noisy image is {y.shape[0]} x {y.shape[1]} and the denoised one {xh.shape[0]} x {xh.shape[1]}: they must have the same shape")
    if float(y.max() - y.min()) == 0.0:
        raise LowdoseError("the noisy image is constant: it holds no data to check the denoised image against")
    if pixel_size is not None and not (np.isfinite(pixel_size) and pixel_size > 0):
        raise LowdoseError(f"the pixel size must be a positive number of Å, got {pixel_size}")
    if (gain is None) != (offset is None):
        raise LowdoseError("give both the gain and the offset, or neither (then both are estimated from the noisy image)")
    if gain is not None:
        g = given(gain, offset, read_noise if read_noise is not None else read_noise_for(y, gain, offset))
    else:
        g = estimate_gain(y)
        g = refine_gain(y, xh, g)
    c = g.counts(y)
    read_e = g.read_noise / g.gain
    low = float(np.mean(c < -4.0 * max(read_e, 0.5)))
    if low > 0.05 or float(np.mean(c)) <= 0:
        raise LowdoseError(f"after subtracting the offset ({g.offset:.4g} ADU) {low:.0%} of the pixels are negative counts "
                           "beyond the read noise: the offset is above the detector's dark level (check the offset)")
    ch = g.counts(xh)
    lam = np.clip(ch, 0, None)
    var = lam + read_e**2 + 1e-6
    s = float(sigma) if sigma else atom_sigma(pixel_size)

    maps = ag.agreement_maps(c, ch, read_e, s, tolerance=tolerance)
    bset = blob_set(ch, var, s)
    dl, zl, ybar = delta_l(c, bset)
    blobs, lmap = blobs_of(bset, dl, zl, ybar), paint(bset, dl, c.shape)
    # thresholds for a per-image false-alarm rate alpha: the analytic Bonferroni values, or (null_draws > 0)
    # the extremes of the same maps on counts redrawn from Poisson(x̂) + read noise, through a Gumbel fit
    t_spot = ag.threshold(alpha, maps.n_spots)
    t_win = ag.threshold(alpha, maps.n_windows)
    t_blob = ag.threshold(alpha, max(len(blobs), 1))
    t_neg = t_spot
    if null_draws > 0:
        rng = np.random.default_rng(0)
        ext = {"agree": [], "rz_hi": [], "rz_lo": [], "blob": []}
        for _ in range(int(null_draws)):
            cd = rng.poisson(lam) + (rng.normal(0.0, read_e, lam.shape) if read_e > 0 else 0.0)
            m = ag.agreement_maps(cd, ch, read_e, s, tolerance=tolerance)
            ext["agree"].append(float(m.agreement.max()))
            ext["rz_hi"].append(float(m.residual_z.max()))
            ext["rz_lo"].append(float(-m.residual_z.min()))
            if len(bset.pos):
                ext["blob"].append(float(-delta_l(cd, bset)[1].min()))
        t_win = max(t_win, _gumbel(ext["agree"], alpha))
        t_spot = max(t_spot, _gumbel(ext["rz_hi"], alpha))
        t_neg = max(t_neg, _gumbel(ext["rz_lo"], alpha))
        if ext["blob"]:
            t_blob = max(t_blob, _gumbel(ext["blob"], alpha))
    peaks = lattice_peaks(c, ch, var, pixel_size, alpha=alpha, fraction=lattice_fraction, min_spacing=min_spacing)

    flags: list[Flag] = []
    for p in sorted(peaks, key=lambda p: -p.score):
        flags.append(Flag("removed_lattice", p.y, p.x, p.size, p.score, p.spacing))
    for b in blobs:
        if b.z < -t_blob:
            flags.append(Flag("spurious_atom", b.y, b.x, 2 * b.radius, b.z))
    rz = maps.residual_z
    for cy, cx, size, score in ag.regions(np.where(rz > t_spot, rz, 0.0) + np.where(rz < -t_neg, rz, 0.0), 1e-9):
        kind = "spurious_atom" if score < 0 else "disagreement"
        if kind == "spurious_atom" and any(f.kind == kind and abs(f.y - cy) < 2 * s and abs(f.x - cx) < 2 * s for f in flags):
            continue
        flags.append(Flag(kind, cy, cx, size, score))
    for cy, cx, size, score in ag.regions(np.where(maps.agreement > 0, maps.agreement, 0.0), t_win):
        flags.append(Flag("disagreement", cy, cx, max(size, float(maps.window)), score))
    flags.sort(key=lambda f: (FLAG_KINDS.index(f.kind), -abs(f.score)))
    thresholds = {"residual_z": t_spot, "residual_z_negative": -t_neg, "agreement": t_win, "blob_z": -t_blob,
                  "lattice_power": float(np.log(1.0 / alpha)), "alpha": alpha, "tolerance": tolerance}
    rep = TrustReport(ok=not flags, gain=g, flags=flags, blobs=blobs, lattice=peaks, thresholds=thresholds,
                      autocorrelation=autocorrelation(c, ch, var), pixel_size=pixel_size, sigma=s,
                      maps={"agreement": maps.agreement, "residual_z": maps.residual_z, "likelihood": lmap.astype(np.float32)})
    return rep


def warning(report: TrustReport) -> str:
    """The one sentence the Denoise panel shows after a run."""
    return _finding(report) + _gain_caveat(report.gain)


def _gain_caveat(g: GainEstimate) -> str:
    if g.identifiable:
        return ""
    se = f"±{g.gain_se:.0%}" if np.isfinite(g.gain_se) else "not at all"
    return f" (but this image pins the detector gain down only {se}: give the gain and offset for a reliable check)"


def _finding(report: TrustReport) -> str:
    advice = "try adapt, fine-tuning or the other model"
    lat = [f for f in report.flags if f.kind == "removed_lattice"]
    if lat:
        unit = "Å" if report.pixel_size else "px"
        spacings: list[float] = []
        for f in sorted(lat, key=lambda f: -f.score):  # strongest first, one per reflection (within 10 %)
            if all(abs(f.spacing - d) > 0.1 * d for d in spacings):
                spacings.append(f.spacing)
        spacings = [round(d, 1) for d in spacings[:3]]
        where = "" if any(f.size >= min(report.maps["agreement"].shape) for f in lat) else " in part of the image"
        return (f"the model removed a periodic structure at {', '.join(f'{d:g}' for d in spacings)} {unit} present in the data"
                f"{where}: {advice}")
    spur = [f for f in report.flags if f.kind == "spurious_atom"]
    dis = [f for f in report.flags if f.kind == "disagreement"]
    if spur:
        return f"the denoised image shows {len(spur)} atom{'s' if len(spur) != 1 else ''} or spot{'s' if len(spur) != 1 else ''} the data do not support: check the likelihood map, or {advice}"
    if dis:
        return f"the denoised image misses structure present in the data in {len(dis)} place{'s' if len(dis) != 1 else ''} (see the agreement map): {advice}"
    return "the denoised image agrees with the data within the noise"
