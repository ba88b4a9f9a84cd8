"""Virtual detectors on 4D-STEM data: circle and annulus masks on the detector plane, virtual
bright-field / annular dark-field images and the mean diffraction pattern, for numpy and dask arrays.

Axis order ``(scan y, scan x, ky, kx)``. A region's centre is in detector pixels ``(ky, kx)``; its radii
are in detector pixels, or in the detector's calibrated unit (mrad or Å⁻¹) when ``step`` (that unit per
pixel) is given. Virtual images keep the input's kind: a dask array gives a lazy dask result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import LowdoseError
from .data import check_4d, is_dask


@dataclass(frozen=True)
class DetectorRegion:
    """A circle (``inner == 0``) or an annulus on the detector.

    ``center``: (ky, kx) in detector pixels (fractional allowed). ``inner``/``outer``: radii, in detector
    pixels when ``unit == "px"``, else in ``unit`` (e.g. "mrad" or "1/Å") converted with the detector's
    step (unit per pixel) when the mask is made. A pixel belongs to the region when the distance from
    its centre to ``center`` is in ``[inner, outer)``."""

    center: tuple[float, float]
    outer: float
    inner: float = 0.0
    unit: str = "px"

    def __post_init__(self) -> None:
        vals = (*self.center, self.inner, self.outer)
        if len(self.center) != 2 or not all(math.isfinite(float(v)) for v in vals):
            raise LowdoseError(f"a detector region needs a (ky, kx) centre and finite radii, got centre {self.center}, radii {self.inner}, {self.outer}")
        if not 0 <= self.inner < self.outer:
            raise LowdoseError(f"a detector region needs 0 <= inner radius < outer radius, got {self.inner:g} and {self.outer:g} {self.unit}")

    def radii_px(self, step: float | None = None) -> tuple[float, float]:
        """(inner, outer) in detector pixels; ``step`` = calibrated unit per pixel for ``unit != "px"``."""
        if self.unit == "px":
            return float(self.inner), float(self.outer)
        if not step or not math.isfinite(step) or step <= 0:
            raise LowdoseError(f"radii in {self.unit} need the detector's calibration ({self.unit} per pixel); this dataset has none, give the radii in px")
        return float(self.inner) / step, float(self.outer) / step


def detector_mask(shape: tuple[int, int], region: DetectorRegion, step: float | None = None) -> np.ndarray:
    """Boolean (ky, kx) mask of ``region`` on a detector of ``shape`` pixels."""
    inner, outer = region.radii_px(step)
    ky = np.arange(shape[0])[:, None] - float(region.center[0])
    kx = np.arange(shape[1])[None, :] - float(region.center[1])
    r = np.hypot(ky, kx)
    return (r >= inner) & (r < outer)


def _masked_sum(block: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """(h, w) float64 sums of the detector pixels ``idx`` (flat indices) of a (h, w, ky, kx) block, one
    scan row at a time: no float copy of the block (a dask chunk of a multi-GB file stays its own size)."""
    h, w = int(block.shape[0]), int(block.shape[1])
    out = np.empty((h, w), np.float64)
    for i in range(h):
        out[i] = np.asarray(block[i]).reshape(w, -1)[:, idx].sum(axis=1, dtype=np.float64)
    return out


def virtual_image(data, mask: np.ndarray):
    """The (scan y, scan x) image of summed counts inside ``mask`` (float64 numpy, or a lazy dask array)."""
    check_4d(data)
    mask = np.asarray(mask)
    if mask.shape != tuple(data.shape[2:]):
        raise LowdoseError(f"the detector mask is {mask.shape[0]} x {mask.shape[1]} px but the patterns are {data.shape[2]} x {data.shape[3]} px")
    idx = np.flatnonzero(mask)
    if is_dask(data):
        if len(data.chunks[2]) > 1 or len(data.chunks[3]) > 1:
            data = data.rechunk({2: -1, 3: -1})
        return data.map_blocks(_masked_sum, idx, drop_axis=(2, 3), dtype=np.float64)
    return _masked_sum(data, idx)  # numpy or a memory map: row by row


def mean_pattern(data):
    """The mean diffraction pattern (ky, kx), float64 numpy (or lazy dask)."""
    check_4d(data)
    if is_dask(data):
        return data.mean(axis=(0, 1), dtype=np.float64)
    acc = np.zeros(data.shape[2:], np.float64)
    for r in range(data.shape[0]):
        acc += np.asarray(data[r]).sum(axis=0, dtype=np.float64)
    return acc / (data.shape[0] * data.shape[1])


@dataclass(frozen=True)
class ScanProgress:
    """Progress of a computation over the scan: ``rows`` of ``total`` scan rows read; ``message`` in words."""

    rows: int
    total: int
    message: str

    @property
    def fraction(self) -> float:
        return self.rows / max(self.total, 1)


def _row_step(data, target_bytes: int = 64 * 2**20) -> int:
    """Scan rows per block: a dask array's row chunk, else about ``target_bytes`` of the data's type."""
    if is_dask(data):
        return max(1, int(data.chunks[0][0]))
    row = int(np.prod(data.shape[1:], dtype=np.int64)) * np.dtype(data.dtype).itemsize
    return max(1, int(target_bytes // max(row, 1)))


def iter_mean_pattern(data, what: str = "mean pattern"):
    """Generator: :func:`mean_pattern` a block of scan rows at a time (a dask array is computed block by
    block, so memory stays at one block); yields :class:`ScanProgress`, returns the (ky, kx) float64 mean."""
    check_4d(data)
    ny = int(data.shape[0])
    acc = np.zeros(tuple(data.shape[2:]), np.float64)
    step = _row_step(data)
    for r0 in range(0, ny, step):
        r1 = min(ny, r0 + step)
        acc += np.asarray(mean_pattern(data[r0:r1])) * ((r1 - r0) * data.shape[1])
        yield ScanProgress(r1, ny, f"{what}: {r1} of {ny} scan rows read")
    return acc / (ny * data.shape[1])


def iter_virtual_image(data, mask: np.ndarray, what: str = "virtual image"):
    """Generator: :func:`virtual_image` a block of scan rows at a time; yields :class:`ScanProgress`,
    returns the (scan y, scan x) float64 image."""
    check_4d(data)
    virtual_image(data[:1, :1], mask)  # the mask's shape is checked before anything is read
    ny = int(data.shape[0])
    out = np.empty(tuple(data.shape[:2]), np.float64)
    step = _row_step(data)
    for r0 in range(0, ny, step):
        r1 = min(ny, r0 + step)
        out[r0:r1] = np.asarray(virtual_image(data[r0:r1], mask))
        yield ScanProgress(r1, ny, f"{what}: {r1} of {ny} scan rows read")
    return out


def bright_disc(pattern: np.ndarray, threshold: float = 0.5) -> tuple[tuple[float, float], float]:
    """Centre (ky, kx) px and radius px of the bright-field disc of a mean pattern: the pixels above
    ``threshold`` x the (99.9th-percentile) maximum, their centre of mass and the radius of a disc of the
    same area."""
    p = np.asarray(pattern, np.float64)
    if p.ndim != 2 or not np.isfinite(p).all():
        raise LowdoseError("the bright-disc finder needs a finite 2-D mean pattern")
    top = float(np.percentile(p, 99.9))
    inside = p >= threshold * top
    if top <= 0 or not inside.any():
        return ((p.shape[0] - 1) / 2, (p.shape[1] - 1) / 2), min(p.shape) / 8
    yy, xx = np.nonzero(inside)
    return (float(yy.mean()), float(xx.mean())), float(math.sqrt(inside.sum() / math.pi))


def standard_regions(pattern: np.ndarray) -> tuple[DetectorRegion, DetectorRegion]:
    """(bright field, annular dark field) regions from a mean pattern: BF = the bright disc (radius
    x 1.0), ADF = an annulus from 1.3 x to 2.6 x the disc radius (clipped to the detector)."""
    (cy, cx), r = bright_disc(pattern)
    edge = min(cy, cx, pattern.shape[0] - 1 - cy, pattern.shape[1] - 1 - cx)
    outer = max(min(2.6 * r, edge + 0.5), 1.3 * r + 1.0)
    return DetectorRegion((cy, cx), r), DetectorRegion((cy, cx), outer, 1.3 * r)
