"""Self-supervised denoising of 4D-STEM data with a scan-neighbour blind spot (the 001 seed; Sadri et
al., npj Comput. Mater. 2024).

A small U-Net predicts the diffraction pattern at each scan position from the patterns at its 8 scan
neighbours (the 3 x 3 neighbourhood without its centre, as 8 input channels): the centre pattern is never
an input, so the network cannot copy its noise and is trained on the noisy data alone. The output is the
log of the expected counts relative to the neighbours' mean (a log link: ``rate = (mean of the 8
neighbours + eps) x exp(net)``), so an untrained network already predicts the neighbour average.
Training: a warm-up on the squared error (counts divided by the dataset's mean count per pixel), then the
Poisson negative log-likelihood of the counts. Refinement cycles: cycle ``c > 0`` trains a new network
(starting from the last one) on inputs ``(1 - beta) x noisy + beta x denoised by cycle c - 1``; the
result applies the cycles' networks in cascade.

Memory stays bounded: the network trains on scan tiles held in RAM (the whole scan when it fits
``memory_mb``, else random tiles), and is applied a few scan rows at a time (each cycle of the cascade
widens the rows read by one on each side), writing each block into ``out`` (a numpy array, a memmap, an
HDF5 or zarr dataset) as it goes. A dask array is only read block by block.

Axis order (scan y, scan x, ky, kx); counts per detector pixel (integers or not; negative values are
clipped to 0 for the likelihood).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from ..errors import LowdoseError
from ..unet import UNet, UNetConfig
from .fuse import BandFusion, mean_gain, mean_of
from .data import MIN_DETECTOR, MIN_SCAN, check_4d, native, read_rows, reflect_pad_scan



def offsets(radius: int = 1) -> tuple[tuple[int, int], ...]:
    """(dy, dx) of the scan neighbours within ``radius`` (8 for radius 1, 24 for 2), centre excluded, in
    channel order; the order is point-symmetric (channel i and n - 1 - i are opposite)."""
    r = range(-radius, radius + 1)
    return tuple((dy, dx) for dy in r for dx in r if (dy, dx) != (0, 0))


OFFSETS = offsets(1)  #: the seed's 8 neighbours
EPS = 0.01  #: added to the neighbours' mean (in units of the mean count per pixel) before the log


FINISHES = ("auto", "fuse", "thin", "gain", "none")  #: what may follow the network (:class:`Denoise4DConfig`)


@dataclass(frozen=True)
class Denoise4DConfig:
    """Settings of the neighbour blind-spot denoiser.

    ``minutes``: training time for all cycles together (split evenly), wall-clock, or this process's
    CPU time with ``cpu_time`` (benchmarks on a shared machine); ``max_steps``:
    optimizer steps per cycle (whichever comes first; None: time only); ``cycles``: refinement cycles
    (1 = no refinement); ``beta``: weight of the previous cycle's result in the next cycle's input (0-1);
    ``warmup_fraction``: share of the first cycle's steps on the squared-error loss before the Poisson
    likelihood; ``batch``: scan positions per step; ``lr``: Adam learning rate; ``depth`` and
    ``base_channels``: U-Net size; ``radius``: scan neighbourhood (1: the seed's 3 x 3 minus the centre,
    8 patterns; 2: 5 x 5 minus the centre, 24 patterns); ``val_fraction``: scan positions held out (never a training target) to
    choose the best weights on, every ``val_every`` steps; ``memory_mb``: RAM for training tiles (MB,
    float32); ``chunk_rows``: scan rows per block when applying; ``finish``: what is done to the network's
    prediction: "fuse" puts the centre's own counts back band by band where the prediction is
    systematically off (:mod:`.fuse`), "gain" only scales each detector pixel so that the mean pattern
    equals the noisy data's (the seed's sum constraint), "none" leaves the blind-spot prediction, "thin"
    blends the fused prediction with a principal-component estimate, all chosen on held-out electrons
    (Poisson thinning, :mod:`.thin`; electron counts only, the whole scan in memory);
    ``seed``: sampling and weights."""

    minutes: float = 3.0
    cpu_time: bool = False
    max_steps: int | None = None
    cycles: int = 1
    beta: float = 0.5
    warmup_fraction: float = 0.15
    batch: int = 8
    lr: float = 1e-3
    depth: int = 3
    base_channels: int = 8
    radius: int = 2
    val_fraction: float = 0.05
    val_every: int = 50
    memory_mb: float = 512.0
    chunk_rows: int = 4
    finish: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.minutes) and self.minutes > 0):
            raise LowdoseError(f"the training time must be a positive number of minutes, got {self.minutes}")
        if self.max_steps is not None and self.max_steps < 1:
            raise LowdoseError(f"max_steps must be at least 1, got {self.max_steps}")
        if not 1 <= self.cycles <= 20:
            raise LowdoseError(f"cycles must be 1..20, got {self.cycles}")
        if not 0 <= self.beta <= 1 or not 0 <= self.warmup_fraction < 1 or not 0 < self.val_fraction < 0.5:
            raise LowdoseError("beta must be in [0, 1], warmup_fraction in [0, 1) and val_fraction in (0, 0.5)")
        if self.finish not in FINISHES:
            raise LowdoseError(f"finish must be one of {', '.join(FINISHES)}, got {self.finish!r}")
        if self.radius not in (1, 2):
            raise LowdoseError(f"radius must be 1 (8 neighbours) or 2 (24 neighbours), got {self.radius}")
        if self.batch < 1 or self.val_every < 1 or self.chunk_rows < 1 or not self.lr > 0 or not self.memory_mb > 0:
            raise LowdoseError("batch, val_every and chunk_rows must be >= 1; lr and memory_mb positive")


@dataclass(frozen=True)
class Denoise4DProgress:
    """One progress record: ``phase`` "train" or "apply"; ``cycle`` (0-based); ``step`` in the cycle;
    ``fraction`` of the whole run (0-1); ``loss`` of the last step; ``val_loss`` (Poisson NLL per pixel of
    the held-out positions, lower is better) when measured; ``elapsed`` s; ``message`` in words."""

    phase: str
    cycle: int
    step: int
    fraction: float
    loss: float
    val_loss: float | None
    best_val: float
    elapsed: float
    message: str


class NeighbourNet(torch.nn.Module):
    """The U-Net on the scan neighbours (normalised counts), predicting the log rate relative to their mean."""

    def __init__(self, depth: int = 3, base_channels: int = 8, radius: int = 1) -> None:
        super().__init__()
        self.radius = radius
        self.unet = UNet(UNetConfig(depth=depth, base_channels=base_channels, in_channels=len(offsets(radius)), out_channels=1))
        torch.nn.init.zeros_(self.unet.dec1c.weight)
        torch.nn.init.zeros_(self.unet.dec1c.bias)

    def forward(self, neighbours: torch.Tensor) -> torch.Tensor:
        """(B, n, ky, kx) normalised counts of the n neighbours -> (B, ky, kx) log rate (normalised)."""
        base = torch.log(neighbours.mean(dim=1) + EPS)
        return base + self.unet.predict(torch.sqrt(neighbours + 0.375))[:, 0]


def gather(padded: np.ndarray, ii: np.ndarray, jj: np.ndarray, radius: int = 1) -> np.ndarray:
    """(B, n, ky, kx) neighbour patterns of positions (ii, jj) of a block padded by ``radius`` on the
    scan axes (the centre pattern is never among them)."""
    off = np.array(offsets(radius))
    return padded[ii[:, None] + radius + off[None, :, 0], jj[:, None] + radius + off[None, :, 1]]


def eval_batch(n_inputs: int, detector: tuple[int, ...], most: int = 64, budget_bytes: int = 32 * 2**20) -> int:
    """Positions per inference batch: at most ``most``, and few enough that the batch's neighbour
    patterns (float32) stay within ``budget_bytes`` (large detectors: 24 x 128^2 px is 1.5 MB a position)."""
    per = n_inputs * int(np.prod(detector)) * 4
    return max(1, min(most, budget_bytes // max(per, 1)))


def _predict_block(net: NeighbourNet, padded: np.ndarray, batch: int | None = None) -> np.ndarray:
    """Rates (normalised) at every interior position of a padded block: (h, w, ky, kx) float32."""
    r = net.radius
    batch = batch or eval_batch(len(offsets(r)), padded.shape[2:])
    h, w = padded.shape[0] - 2 * r, padded.shape[1] - 2 * r
    ii, jj = np.divmod(np.arange(h * w), w)
    out = np.empty((h * w, *padded.shape[2:]), np.float32)
    with torch.no_grad():
        for b in range(0, h * w, batch):
            x = torch.from_numpy(np.ascontiguousarray(gather(padded, ii[b : b + batch], jj[b : b + batch], r)))
            out[b : b + batch] = torch.exp(net(x)).numpy()
    return out.reshape(h, w, *padded.shape[2:])


def cascade(nets: list[NeighbourNet], rows_of, r0: int, r1: int, ny: int, beta: float) -> np.ndarray:
    """Denoised (normalised) scan rows [r0, r1) by the cycles' networks in turn; ``rows_of(a, b)`` gives
    the normalised noisy rows [a, b) (full scan width). Cycle c needs cycle c-1 ``radius`` rows further
    out on each side; at the scan's edges the rows are reflected."""
    c = len(nets)
    r = nets[0].radius
    a, b = max(0, r0 - c * r), min(ny, r1 + c * r)
    noisy = rows_of(a, b)
    current = noisy
    for k, net in enumerate(nets):
        lo, hi = max(0, r0 - (c - 1 - k) * r), min(ny, r1 + (c - 1 - k) * r)  # rows this cycle must produce
        src = current if k == 0 else (1 - beta) * noisy + beta * current
        # src covers rows [a, b); keep [lo - r, hi + r] clipped, reflect where the scan ends
        s0, s1 = max(a, lo - r), min(b, hi + r)
        block = src[s0 - a : s1 - a]
        padded = reflect_pad_scan(block, top=r - (lo - s0), bottom=r - (s1 - hi), left=r, right=r)
        current_rows = _predict_block(net, padded)  # rows [lo, hi) (interior of the padded block)
        current = np.empty_like(noisy)
        current[lo - a : hi - a] = current_rows
        if lo > a:
            current[: lo - a] = noisy[: lo - a]  # never used: outside what the next cycle reads
        if hi < b:
            current[hi - a :] = noisy[hi - a :]
    return current[r0 - a : r1 - a]


class Denoiser4D:
    """Trains the cycles' networks on ``data`` (:meth:`train`, a generator) and applies them
    (:meth:`apply`, a generator). :meth:`stop` ends training at the next step; the best weights of every
    cycle begun (lowest held-out Poisson NLL) are kept in :attr:`nets` either way."""

    def resolved_finish(self, data=None) -> str:
        """The configured finish, "auto" resolved: "thin" for a scan of electron counts that fits in
        memory, "fuse" otherwise (a larger scan is never read to decide)."""
        return self._finish_and_counts(self.data if data is None else data)[0]

    def _finish_and_counts(self, data) -> tuple[str, np.ndarray | None]:
        """(the finish to run, the scan's counts when it is "thin"): the counts are read once, both to
        decide "auto" and for the thinned finish itself."""
        finish = self.config.finish
        if finish not in ("auto", "thin"):
            return finish, None
        from .thin import MAX_VALUES, check_size, counts_of

        if finish == "thin":  # asked for: one sentence when it cannot run
            check_size(data.shape, self.name)
            return "thin", counts_of(np.maximum(np.asarray(data, np.float32), 0), self.name)
        if int(np.prod(data.shape)) > MAX_VALUES:
            return "fuse", None
        try:
            return "thin", counts_of(data, self.name)
        except LowdoseError:  # not counts (gain-scaled, dark-subtracted): the fusion needs none
            return "fuse", None

    def __init__(self, data, config: Denoise4DConfig | None = None, name: str = "4D-STEM data") -> None:
        self.config = cfg = config or Denoise4DConfig()
        check_4d(data, name, min_detector=MIN_DETECTOR, min_scan=max(MIN_SCAN, 2 * cfg.radius + 1))
        if cfg.finish == "thin":
            from .thin import check_size

            check_size(data.shape, name)
        self.data = native(data)
        self.name = name
        self.shape = tuple(int(s) for s in data.shape)
        self.rng = np.random.default_rng(cfg.seed)
        torch.manual_seed(cfg.seed)
        self.nets: list[NeighbourNet] = []
        self.best_val: list[float] = []
        self.history: list[Denoise4DProgress] = []
        self._stop = False
        self.scale = self._mean_count()

    def _mean_count(self) -> float:
        acc = np.zeros(self.shape[2:], np.float64)
        for r in range(0, self.shape[0], self.config.chunk_rows):
            block = read_rows(self.data, r, r + self.config.chunk_rows, name=self.name)
            acc += np.maximum(block, 0).sum(axis=(0, 1), dtype=np.float64)
        self.mean_noisy = acc / (self.shape[0] * self.shape[1])  # counts per pixel, (ky, kx)
        mean = float(self.mean_noisy.mean())
        if not mean > 0:
            raise LowdoseError(f"{self.name} holds no counts (mean {mean:g} per pixel); the denoiser needs electron counts")
        return mean

    def _rows(self, data, a: int, b: int) -> np.ndarray:
        block = np.maximum(read_rows(data, a, b, name=self.name), 0)  # a new array: the input may be float32 already
        block /= np.float32(self.scale)
        return block

    def _tiles(self) -> list[np.ndarray]:
        """Normalised training tiles (h, w, ky, kx): the whole scan if it fits memory_mb, else random
        square tiles of the scan (at least 8 x 8 positions each) filling memory_mb."""
        ny, nx, ky, kx = self.shape
        per_position = ky * kx * 4 * 3  # noisy, previous cycle, mixed input
        budget = int(self.config.memory_mb * 2**20 // per_position)
        if ny * nx <= budget:
            return [self._rows(self.data, 0, ny)]
        side = max(8, 2 * self.config.radius + 1, min(ny, nx, int(math.sqrt(budget / 4))))
        tiles = []
        for _ in range(max(1, budget // (side * side))):
            r0 = int(self.rng.integers(0, ny - side + 1))
            c0 = int(self.rng.integers(0, nx - side + 1))
            tile = np.array(self.data[r0 : r0 + side, c0 : c0 + side], np.float32)
            np.maximum(tile, 0, out=tile)
            tile /= np.float32(self.scale)
            tiles.append(tile)
            if not np.isfinite(tiles[-1]).all():
                raise LowdoseError(f"{self.name} has NaN/Inf counts in scan rows {r0}-{r0 + side - 1}; replace or crop them before denoising")
        return tiles

    def stop(self) -> None:
        self._stop = True

    def _loss(self, log_rate: torch.Tensor, target: torch.Tensor, mse: bool) -> torch.Tensor:
        if mse:
            return F.mse_loss(torch.exp(log_rate), target)
        return (torch.exp(log_rate) - target * log_rate).mean()

    def train(self):
        """Generator of :class:`Denoise4DProgress`; returns the list of trained networks (one per cycle)."""
        cfg = self.config
        start = time.perf_counter()
        tiles = self._tiles()
        val = [self.rng.random(t.shape[:2]) < cfg.val_fraction for t in tiles]
        for v in val:
            if not v.any():
                v.flat[self.rng.integers(v.size)] = True
        train_idx = [np.argwhere(~v) for v in val]
        val_idx = [np.argwhere(v) for v in val]
        weights = np.array([len(t) for t in train_idx], float)
        weights /= weights.sum()
        per_cycle = cfg.minutes * 60.0 / cfg.cycles
        r = cfg.radius
        net = NeighbourNet(cfg.depth, cfg.base_channels, r)
        inputs = []
        for i in range(len(tiles)):  # each tile becomes a view of its padded copy: one copy in memory, not two
            inputs.append(reflect_pad_scan(tiles[i], r, r, r, r))
            tiles[i] = inputs[-1][r:-r, r:-r]
        for cycle in range(cfg.cycles):
            if self._stop and cycle:  # the first cycle always keeps at least its untrained network (the neighbours' mean)
                break
            if cycle:
                inputs = []
                for t in tiles:
                    den = cascade(self.nets, lambda a, b, t=t: t[a:b], 0, t.shape[0], t.shape[0], cfg.beta)
                    inputs.append(reflect_pad_scan((1 - cfg.beta) * t + cfg.beta * den, r, r, r, r))
            opt = torch.optim.Adam(net.parameters(), lr=cfg.lr if cycle == 0 else cfg.lr / 2)
            best, best_state = math.inf, None
            clock = time.process_time if cfg.cpu_time else time.perf_counter
            c_start = clock()
            warm = 0 if cycle else (int(cfg.warmup_fraction * cfg.max_steps) if cfg.max_steps else None)
            step, loss_value = 0, math.nan
            while True:
                c_elapsed = clock() - c_start
                done_time = c_elapsed >= per_cycle
                done_steps = cfg.max_steps is not None and step >= cfg.max_steps
                if self._stop or done_time or done_steps or step % cfg.val_every == 0 and step:
                    v_loss = self._validate(net, inputs, tiles, val_idx)
                    if v_loss < best:
                        best, best_state = v_loss, copy.deepcopy(net.state_dict())
                    frac = (cycle + min(1.0, max(c_elapsed / per_cycle, step / cfg.max_steps if cfg.max_steps else 0))) / cfg.cycles
                    rec = Denoise4DProgress("train", cycle, step, min(frac, 1.0), loss_value, v_loss, best, time.perf_counter() - start,
                                            f"cycle {cycle + 1}/{cfg.cycles}, step {step}: loss {loss_value:.4g}, held-out NLL {v_loss:.5g}")
                    self.history.append(rec)
                    self._set_cycle_best(cycle, best, best_state)
                    yield rec
                    if self._stop or done_time or done_steps:
                        break
                mse = cycle == 0 and (step < warm if warm is not None else c_elapsed < cfg.warmup_fraction * per_cycle)
                k = int(self.rng.choice(len(tiles), p=weights))
                pick = train_idx[k][self.rng.integers(0, len(train_idx[k]), cfg.batch)]
                x = torch.from_numpy(np.ascontiguousarray(gather(inputs[k], pick[:, 0], pick[:, 1], r)))
                y = torch.from_numpy(np.ascontiguousarray(tiles[k][pick[:, 0], pick[:, 1]]))
                if self.rng.random() < 0.5:  # a flip of the scan and the detector together keeps the geometry
                    x = torch.flip(x[:, list(range(x.shape[1] - 1, -1, -1))], dims=(-2, -1))
                    y = torch.flip(y, dims=(-2, -1))
                loss = self._loss(net(x), y, mse)
                opt.zero_grad()
                loss.backward()
                opt.step()
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value):
                    self._stop = True
                step += 1
            if best_state is not None:
                net.load_state_dict(best_state)
            net = copy.deepcopy(net)
        return self.nets

    def _set_cycle_best(self, cycle: int, best: float, state) -> None:
        if state is None:
            return
        if len(self.nets) <= cycle:
            self.nets.append(NeighbourNet(self.config.depth, self.config.base_channels, self.config.radius))
            self.best_val.append(math.inf)
        self.nets[cycle].load_state_dict(state)
        self.best_val[cycle] = best

    def _validate(self, net: NeighbourNet, inputs, tiles, val_idx) -> float:
        total, n = 0.0, 0
        batch = eval_batch(len(offsets(net.radius)), tiles[0].shape[2:])
        with torch.no_grad():
            for padded, tile, idx in zip(inputs, tiles, val_idx):
                for b in range(0, len(idx), batch):
                    p = idx[b : b + batch]
                    x = torch.from_numpy(np.ascontiguousarray(gather(padded, p[:, 0], p[:, 1], net.radius)))
                    y = torch.from_numpy(np.ascontiguousarray(tile[p[:, 0], p[:, 1]]))
                    total += float(self._loss(net(x), y, False)) * len(p)
                    n += len(p)
        return total / max(n, 1)

    def apply(self, out=None, data=None):
        """Generator: denoise ``data`` (default: the training data) block by block into ``out`` (default a
        new float32 numpy array of the input's shape), in counts per pixel; returns ``out``."""
        if not self.nets:
            raise LowdoseError("the 4D-STEM denoiser has no trained network yet (training was stopped before its first check)")
        data = self.data if data is None else native(data)
        check_4d(data, self.name, min_detector=MIN_DETECTOR, min_scan=max(MIN_SCAN, 2 * self.config.radius + 1))
        ny = int(data.shape[0])
        if out is None:
            out = np.empty(data.shape, np.float32)
        if tuple(out.shape) != tuple(data.shape):
            raise LowdoseError(f"the output has shape {tuple(out.shape)}, not the input's {tuple(data.shape)}")
        start = time.perf_counter()
        step = self.config.chunk_rows
        acc = np.zeros(data.shape[2:], np.float64)
        finish, counts = self._finish_and_counts(data)
        share = {"none": 1.0, "thin": 0.5}.get(finish, 0.9)  # of the progress bar spent applying the network
        fusion = BandFusion(tuple(data.shape[2:])) if finish == "fuse" else None
        for r0 in range(0, ny, step):
            r1 = min(ny, r0 + step)
            rows = cascade(self.nets, lambda a, b: self._rows(data, a, b), r0, r1, ny, self.config.beta) * np.float32(self.scale)
            acc += rows.sum(axis=(0, 1), dtype=np.float64)
            if fusion is not None:
                fusion.add(np.maximum(read_rows(data, r0, r1, name=self.name), 0), rows)
            out[r0:r1] = rows
            yield Denoise4DProgress("apply", len(self.nets) - 1, r1, share * r1 / ny, math.nan, None, self.best_val[-1], time.perf_counter() - start,
                                    f"denoised scan rows {r0}-{r1 - 1} of {ny}")
        if fusion is not None:
            for r0 in range(0, ny, step):
                r1 = min(ny, r0 + step)
                out[r0:r1] = fusion.fuse(np.maximum(read_rows(data, r0, r1, name=self.name), 0), np.asarray(out[r0:r1], np.float32))
            w = fusion.weights().mean(axis=(1, 2))
            yield Denoise4DProgress("apply", len(self.nets) - 1, ny, 1.0, math.nan, None, self.best_val[-1], time.perf_counter() - start,
                                    "centre counts put back, mean weight per band (fine to coarse): " + ", ".join(f"{v:.2f}" for v in w))
        elif finish == "thin":
            from .thin import network_blend

            est, choice = network_blend(counts, np.asarray(out, np.float32))
            out[...] = est
            yield Denoise4DProgress("apply", len(self.nets) - 1, ny, 1.0, math.nan, None, self.best_val[-1], time.perf_counter() - start,
                                    f"held-out electrons chose: network share {choice.weight:.2f}, {choice.rank} principal components"
                                    + ("" if choice.rings is None else f", {int(np.count_nonzero(choice.rings.shares))} detector rings' sums put back"))
        elif finish == "gain":
            target = self.mean_noisy if data is self.data else mean_of(data)
            gain = mean_gain(target, acc / (ny * data.shape[1])).astype(np.float32)
            for r0 in range(0, ny, step):
                r1 = min(ny, r0 + step)
                out[r0:r1] = np.asarray(out[r0:r1], np.float32) * gain
            yield Denoise4DProgress("apply", len(self.nets) - 1, ny, 1.0, math.nan, None, self.best_val[-1], time.perf_counter() - start,
                                    f"mean pattern matched (gain {float(gain.min()):.3g} to {float(gain.max()):.3g})")
        return out


def iter_denoise4d(data, config: Denoise4DConfig | None = None, out=None, name: str = "4D-STEM data"):
    """Generator: train on ``data`` then denoise it into ``out`` (default a new float32 array); yields
    :class:`Denoise4DProgress` (training, then application) and returns ``out``. Closing the generator
    during training (a napari worker's quit) stops it; use :class:`Denoiser4D` directly to stop training
    and still apply the best weights."""
    den = Denoiser4D(data, config, name)
    yield from den.train()
    result = yield from den.apply(out)
    return result


def denoise4d(data, config: Denoise4DConfig | None = None, out=None):
    """Blocking :func:`iter_denoise4d`."""
    from ..progress import drive

    return drive(iter_denoise4d(data, config, out))
