"""Tiled U-Net inference with overlap blending, on the GPU when there is one, on the CPU always.

* Tiles lie on a product grid: along each axis ``n`` tiles of equal size ``T`` (a multiple of
  2**depth), spread evenly so that neighbours overlap by at least ``overlap`` pixels.
* Each tile's prediction is weighted by a separable window that is 1 inside and falls to 0 across
  each interior overlap with a raised cosine (its outer quarter, where the tile edge is, gets 0);
  image borders get no ramp. The ramps of two neighbours add up to 1, and the result is divided by
  the exact sum of weights anyway, computed per row and column (the grid is a product, so the sum is
  separable): flat regions stay flat, no seam shows.
* Normalisation (the model card's robust percentiles) is computed once per 2-D plane, never per tile.
* The output accumulates in place in the float32 result, so memory is input + output + one batch.
* nD data are done plane by plane over the last two axes; a dask array is read one plane at a time.
* :class:`TiledDenoiser` ``.run(image)`` is a generator that yields a :class:`DenoiseProgress` after
  every batch (a progress tick and a cancel point); ``.partial()`` gives the result so far.
* ``flips`` 2 or 4 average each tile's prediction over flipped copies (a self-ensemble; the models were
  trained with the same flips): 2 adds the up-down flip, which keeps the fast-scan direction; 4 adds the
  left-right ones. 2 or 4 times the work.
* Device ``auto``: CUDA, then Apple MPS, then CPU. channels_last everywhere; on CUDA bf16 (fp16 where
  bf16 is missing) autocast; on out-of-memory the batch, then the tile, is halved and the plane retried.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Generator

import numpy as np
import torch

from .errors import InvalidImageError, LowdoseError
from .image import check_image, looks_like_rgb
from .model import Model, load_model
from .progress import drive
from .refine import REFINE_METHODS, refinement_check, wiener_refine

MIN_TILE = 32
FLIPS = (1, 2, 4)  #: allowed ``flips``: 1 = none, 2 = + up-down, 4 = + left-right and both
_FLIP_DIMS = ((), (2,), (3,), (2, 3))  #: NCHW dims flipped by each copy, in the order they are added


# ------------------------------------------------------------------------------------- devices
def pick_device(device: str | torch.device = "auto") -> torch.device:
    """``auto``: CUDA if available, then Apple MPS, then CPU; or the named device (checked)."""
    if isinstance(device, torch.device):
        return device
    name = str(device).lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise LowdoseError("device 'cuda' was asked for, but PyTorch sees no CUDA GPU here")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise LowdoseError("device 'mps' was asked for, but Apple MPS is not available here")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise LowdoseError(f"unknown device {device!r} (use auto, cpu, cuda, cuda:N or mps)") from exc


def default_tiling(device: torch.device) -> tuple[int, int, int]:
    """(largest tile, overlap, batch) for a device: big tiles on a GPU, memory-bounded tiles on a CPU."""
    if device.type == "cuda":
        return 2048, 64, 4
    if device.type == "mps":
        return 1024, 64, 1
    return 768, 64, 1


def _is_oom(exc: BaseException) -> bool:
    """CUDA out-of-memory, or a CPU allocation failure."""
    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    text = str(exc).lower()
    return (oom is not None and isinstance(exc, oom)) or "out of memory" in text or "can't allocate memory" in text


# ----------------------------------------------------------------------------------- the grid
@dataclass(frozen=True)
class Axis:
    """Tiles along one axis: ``starts`` of tiles of ``size`` pixels covering ``length``."""

    length: int
    size: int
    starts: tuple[int, ...]

    @staticmethod
    def plan(length: int, max_tile: int, overlap: int, multiple: int) -> "Axis":
        """Fewest equal tiles of at most ``max_tile`` (rounded up to ``multiple``) that overlap by at
        least ``overlap``; one tile (padded by the network) when the axis fits in one."""
        max_tile = max(multiple, (max_tile // multiple) * multiple)
        if length <= max_tile:
            return Axis(length, length, (0,))
        overlap = min(overlap, max_tile // 2)
        n = math.ceil((length - overlap) / (max_tile - overlap))
        while True:
            size = math.ceil((length + (n - 1) * overlap) / n / multiple) * multiple
            if size <= max_tile or size >= length:
                break
            n += 1
        size = min(size, length)
        starts = tuple(round(i * (length - size) / (n - 1)) for i in range(n)) if n > 1 else (0,)
        return Axis(length, size, starts)

    def weights(self) -> list[np.ndarray]:
        """Each tile's 1-D weight: 1, with a raised-cosine ramp across each interior overlap."""
        out = []
        for i, s in enumerate(self.starts):
            w = np.ones(self.size, dtype=np.float32)
            if i > 0:
                ov = self.starts[i - 1] + self.size - s
                w[:ov] *= _ramp(ov)
            if i < len(self.starts) - 1:
                ov = s + self.size - self.starts[i + 1]
                w[self.size - ov :] *= _ramp(ov)[::-1]
            out.append(w)
        return out

    def weight_sum(self) -> np.ndarray:
        total = np.zeros(self.length, dtype=np.float64)
        for s, w in zip(self.starts, self.weights()):
            total[s : s + self.size] += w
        return total


def _ramp(n: int) -> np.ndarray:
    """0 over the first quarter, raised cosine over the middle half, 1 over the last quarter;
    ramp(j) + ramp(n-1-j) == 1, so two neighbours' weights add up to one."""
    if n <= 0:
        return np.ones(0, dtype=np.float32)
    t = np.clip((np.arange(n) + 0.5 - n / 4) / (n / 2), 0.0, 1.0)
    return (0.5 - 0.5 * np.cos(np.pi * t)).astype(np.float32)


@dataclass(frozen=True)
class TileGrid:
    y: Axis
    x: Axis

    @staticmethod
    def plan(shape: tuple[int, int], tile: int, overlap: int, multiple: int) -> "TileGrid":
        return TileGrid(Axis.plan(shape[0], tile, overlap, multiple), Axis.plan(shape[1], tile, overlap, multiple))

    @property
    def count(self) -> int:
        return len(self.y.starts) * len(self.x.starts)

    def tiles(self):
        """(y0, x0, wy, wx) for every tile, row by row."""
        wys, wxs = self.y.weights(), self.x.weights()
        for sy, wy in zip(self.y.starts, wys):
            for sx, wx in zip(self.x.starts, wxs):
                yield sy, sx, wy, wx


# --------------------------------------------------------------------------------- the engine
@dataclass(frozen=True)
class DenoiseProgress:
    """Yielded after every batch: ``done`` of ``total`` tiles over all planes; ``message`` says what
    was adapted (e.g. a smaller tile after running out of GPU memory)."""

    done: int
    total: int
    plane: int
    planes: int
    message: str = ""


def _validate(image, name: str) -> tuple[tuple[int, ...], np.dtype]:
    shape = tuple(int(s) for s in image.shape)
    dtype = np.dtype(image.dtype)
    if looks_like_rgb(shape, dtype):
        raise InvalidImageError(f"{name} is an RGB colour image; denoising needs a single-channel detector image")
    check_image(_Probe(shape, dtype), name, min_side=2, check_finite=False)
    return shape, dtype


class _Probe:
    """Shape/dtype stand-in so :func:`check_image` can vet a lazy array without loading it."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, dtype


class TiledDenoiser:
    """Runs a :class:`~napari_lowdose.core.model.Model` over images of any size, tile by tile.

    ``tile``/``overlap``/``batch`` ``None`` pick values for the device (:func:`default_tiling`);
    ``tile`` larger than the image means one pass. ``precision``: ``auto`` (bf16/fp16 autocast on
    CUDA, fp32 elsewhere), ``fp32``, ``bf16`` or ``fp16``. ``flips`` (1, 2 or 4): average each tile's
    prediction over that many flipped copies (2: + up-down, which keeps the fast-scan axis; 4: + left-right).
    ``refine``: post-processing of each finished plane, ``"auto"`` (what the model card says),
    ``"none"`` or ``"wiener"`` (:func:`~.refine.wiener_refine`: for white noise only, e.g. HRTEM).
    """

    def __init__(
        self,
        model: Model | None = None,
        tile: int | None = None,
        overlap: int | None = None,
        batch: int | None = None,
        device: str | torch.device = "auto",
        precision: str = "auto",
        flips: int = 1,
        refine: str = "auto",
    ) -> None:
        if flips not in FLIPS:
            raise LowdoseError(f"flips must be one of {FLIPS}, got {flips!r}")
        if refine != "auto" and refine not in REFINE_METHODS:
            raise LowdoseError(f"refine must be 'auto' or one of {REFINE_METHODS}, got {refine!r}")
        self.flips = int(flips)
        self.device = pick_device(device)
        self.model = model if model is not None else load_model(None)
        self.refine = self.model.card.refine if refine == "auto" else refine
        d_tile, d_overlap, d_batch = default_tiling(self.device)
        self.tile = int(tile) if tile is not None else d_tile
        self.overlap = int(overlap) if overlap is not None else min(d_overlap, self.tile // 4)
        self.batch = int(batch) if batch is not None else d_batch
        if self.tile < MIN_TILE:
            raise LowdoseError(f"tile must be at least {MIN_TILE} pixels, got {self.tile}")
        if self.overlap < 0 or self.overlap >= self.tile:
            raise LowdoseError(f"overlap must be in [0, tile), got {self.overlap} for tile {self.tile}")
        if self.batch < 1:
            raise LowdoseError(f"batch must be at least 1, got {self.batch}")
        self.precision = precision
        # channels_last: oneDNN (CPU) and cuDNN (GPU) convolutions run faster on NHWC here (measured:
        # the U-Net forward goes from ~50 to ~61 GFLOP/s on this project's 2-core CPU)
        self.net = self.model.net.to(self.device).eval().to(memory_format=torch.channels_last)
        self.notes: list[str] = []
        self._out: np.ndarray | None = None
        self._plane_acc: np.ndarray | None = None
        self._plane_index: tuple[int, ...] | None = None
        self._plane_norm: tuple[np.ndarray, np.ndarray, float, float] | None = None

    def like(self, model: Model | None = None) -> "TiledDenoiser":
        """A new denoiser with this one's settings (tile, overlap, batch, device, precision, flips,
        refinement) for ``model`` (default: this one's): e.g. an adapted model, or more runs whose notes
        and partial results must not mix with this one's."""
        return TiledDenoiser(model if model is not None else self.model, tile=self.tile, overlap=self.overlap, batch=self.batch,
                             device=self.device, precision=self.precision, flips=self.flips, refine=self.refine)

    # -------------------------------------------------------------------------- autocast
    def _autocast(self):
        dev = self.device.type
        prec = self.precision
        if prec == "auto":
            prec = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if dev == "cuda" else "fp32"
        if prec == "fp32":
            return torch.autocast(device_type=dev if dev in ("cuda", "cpu") else "cpu", enabled=False)
        dtype = torch.bfloat16 if prec == "bf16" else torch.float16
        return torch.autocast(device_type=dev, dtype=dtype)

    # -------------------------------------------------------------------------------- run
    def run(self, image, name: str = "image") -> Generator[DenoiseProgress, None, np.ndarray]:
        """Denoise ``image`` (..., y, x): yields progress after every batch, returns float32 of its shape."""
        shape, dtype = _validate(image, name)
        seen = len(self.notes)  # progress messages carry this run's notes only, not an earlier image's
        lead = shape[:-2]
        planes = list(np.ndindex(*lead)) if lead else [()]
        self._out = np.zeros(shape, dtype=np.float32)  # zeros: a partial preview shows nothing unfinished
        multiple = self.model.card.architecture.multiple
        tile = self.tile
        grid = TileGrid.plan(shape[-2:], tile, self.overlap, multiple)
        total = grid.count * len(planes)
        done = 0
        for p, index in enumerate(planes):
            plane = image[index] if index else image
            plane = np.asarray(plane.compute() if hasattr(plane, "compute") else plane)
            if np.issubdtype(plane.dtype, np.floating) and not np.isfinite(plane).all():
                bad = int(plane.size - np.count_nonzero(np.isfinite(plane)))
                where = f" (plane {index})" if index else ""
                raise InvalidImageError(f"{name}{where} has {bad} NaN/Inf pixel(s); replace or crop them before denoising")
            batch = self.batch
            while True:
                try:
                    for step in self._plane(plane, index, grid, batch):
                        done += step
                        yield DenoiseProgress(min(done, total), total, p, len(planes), self.notes[-1] if len(self.notes) > seen else "")
                    break
                except (RuntimeError, MemoryError) as exc:  # only running out of memory is retried
                    if not (_is_oom(exc) or isinstance(exc, MemoryError)):
                        raise
                    if self.device.type == "cuda":
                        torch.cuda.empty_cache()
                    done -= self._plane_done
                    if batch > 1:
                        batch //= 2
                        note = f"out of {self.device.type.upper()} memory: batch halved to {batch}, plane {p} restarted"
                    elif tile // 2 >= max(MIN_TILE, multiple):
                        tile //= 2
                        grid = TileGrid.plan(shape[-2:], tile, min(self.overlap, tile // 4), multiple)
                        total = done + grid.count * (len(planes) - p)
                        note = f"out of {self.device.type.upper()} memory: tile halved to {tile}, plane {p} restarted"
                    else:
                        raise LowdoseError(f"out of {self.device.type.upper()} memory even with the smallest tile ({tile} px)") from exc
                    self.notes.append(note)
                    yield DenoiseProgress(done, total, p, len(planes), note)
            if self.refine == "wiener":
                note = self._refine(plane, index, p)
                if note:
                    yield DenoiseProgress(done, total, p, len(planes), note)
        self._plane_acc = None
        return self._out

    def _refine(self, plane: np.ndarray, index, p: int) -> str:
        """Wiener-refines the finished plane in place, unless its noise is not white; returns a note then."""
        out = self._out[index] if index else self._out
        check = refinement_check(plane, out)
        if check.reason:
            note = f"Wiener refinement skipped on plane {p}: {check.reason}"
            self.notes.append(note)
            return note
        out[...] = wiener_refine(plane, out, noise_variance=check.noise_variance)
        return ""

    def _plane(self, plane: np.ndarray, index, grid: TileGrid, batch: int):
        """Yields the number of tiles finished after each batch; fills ``self._out[index]``."""
        offset, scale = self.model.card.normalization.stats(plane)
        acc = self._out[index] if index else self._out
        acc[...] = 0.0
        wsum_y, wsum_x = grid.y.weight_sum(), grid.x.weight_sum()
        self._plane_acc, self._plane_index = acc, index
        self._plane_norm = (wsum_y, wsum_x, offset, scale)
        self._plane_done = 0
        size_y, size_x = grid.y.size, grid.x.size
        pending = []
        for tile in grid.tiles():
            pending.append(tile)
            if len(pending) == batch:
                self._run_batch(plane, pending, size_y, size_x, offset, scale, acc)
                self._plane_done += len(pending)
                yield len(pending)
                pending = []
        if pending:
            self._run_batch(plane, pending, size_y, size_x, offset, scale, acc)
            self._plane_done += len(pending)
            yield len(pending)
        # exact normalisation by the summed weights, then back to the image's intensity scale
        acc /= (wsum_y[:, None] * wsum_x[None, :]).astype(np.float32)
        acc *= np.float32(scale)
        acc += np.float32(offset)
        self._plane_acc = None

    def _run_batch(self, plane, tiles, size_y, size_x, offset, scale, acc) -> None:
        x = np.stack([plane[y0 : y0 + size_y, x0 : x0 + size_x] for y0, x0, _, _ in tiles]).astype(np.float32)
        x -= np.float32(offset)
        x /= np.float32(scale)
        t = torch.from_numpy(x[:, None]).to(self.device).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), self._autocast():
            y = None
            for dims in _FLIP_DIMS[: self.flips]:
                p = self.net.predict(torch.flip(t, dims) if dims else t).float()
                p = torch.flip(p, dims) if dims else p
                y = p if y is None else y.add_(p)
            if self.flips > 1:
                y /= self.flips
        y = y.cpu().numpy()[:, 0]
        for (y0, x0, wy, wx), pred in zip(tiles, y):
            acc[y0 : y0 + size_y, x0 : x0 + size_x] += pred * wy[:, None] * wx[None, :]

    def partial(self) -> np.ndarray | None:
        """The result so far (a copy): finished planes, and the current plane's covered part blended."""
        if self._out is None:
            return None
        out = self._out.copy()
        if self._plane_acc is not None and self._plane_norm is not None:
            wsum_y, wsum_x, offset, scale = self._plane_norm
            part = out[self._plane_index] if self._plane_index else out
            covered = part != 0
            part[covered] = part[covered] / (wsum_y[:, None] * wsum_x[None, :])[covered] * scale + offset
        return out


def iter_denoise(image, model: Model | None = None, tile=None, overlap=None, device="auto", batch=None, precision="auto", flips: int = 1, refine: str = "auto"):
    """Generator form of :func:`denoise` (yields :class:`DenoiseProgress`, returns the result)."""
    return (yield from TiledDenoiser(model, tile, overlap, batch, device, precision, flips, refine).run(image))


def denoise(image, model: Model | str | None = None, tile: int | None = None, overlap: int | None = None, device: str = "auto", flips: int = 1,
            refine: str = "auto") -> np.ndarray:
    """Denoise ``image`` (2-D or nD, numpy or dask) with ``model``: None: the bundled default (HAADF-STEM);
    ``"haadf"`` or ``"hrtem"``: that bundled model; a file path; or a :class:`~.model.Model`.

    Returns float32 of the input's shape. ``tile=None`` picks a tile for the device; a tile larger
    than the image means one pass. ``flips`` 2 or 4 average over flipped copies (2x or 4x the time;
    measured on the held-out images: docs/model.md, "Averaging over flips"). ``refine``: ``"auto"``
    (the model card's choice: ``"wiener"`` for the bundled HRTEM model), ``"none"`` or ``"wiener"``
    (docs/model.md, "Wiener refinement").
    """
    if isinstance(model, (str,)) or hasattr(model, "__fspath__"):
        model = load_model(model)
    return drive(iter_denoise(image, model, tile, overlap, device, flips=flips, refine=refine))
