"""Checks on 4D-STEM arrays and reading them in blocks, for numpy and dask arrays alike.

Axis order everywhere in :mod:`napari_lowdose.core.fourd`: ``(scan y, scan x, ky, kx)``: the first two
axes are the probe positions of the scan (rows, columns), the last two the detector pixels of one
diffraction pattern (rows, columns). Counts are electrons (or detector counts) per detector pixel.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidImageError
from ..image import describe_shape

MIN_DETECTOR = 16  #: px, smallest detector side the denoiser accepts
MIN_SCAN = 3  #: positions, smallest scan side the neighbour denoiser accepts (a 3 x 3 neighbourhood)


def is_dask(data) -> bool:
    """True for a dask array (checked by type name, so dask need not be imported)."""
    return type(data).__module__.split(".")[0] == "dask"


def check_4d(data, name: str = "4D-STEM data", *, min_detector: int = 1, min_scan: int = 1) -> None:
    """Raise :class:`InvalidImageError` with one sentence if ``data`` is not a usable 4D-STEM array.

    Usable: real numbers, exactly four axes (scan y, scan x, ky, kx), not empty, a detector of at least
    ``min_detector`` px per side and a scan of at least ``min_scan`` positions per side. NaN/Inf are
    checked where the data are read (:func:`read_rows` with ``check_finite``), not here: a lazy array
    is never loaded whole for a check."""
    # only objects without a shape/dtype (lists) are converted: a lazy or memory-mapped array is never read here
    shape = tuple(int(s) for s in (data.shape if hasattr(data, "shape") else np.shape(data)))
    dtype = np.dtype(data.dtype if hasattr(data, "dtype") else np.asarray(data).dtype)
    if np.issubdtype(dtype, np.complexfloating) or not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
        raise InvalidImageError(f"{name} has data type {dtype}; 4D-STEM data must be real counts or intensities")
    if len(shape) != 4:
        raise InvalidImageError(
            f"{name} has {len(shape)} axes ({describe_shape(shape)}); 4D-STEM data needs exactly 4: scan y, scan x, detector ky, kx"
        )
    if 0 in shape:
        raise InvalidImageError(f"{name} is empty (shape {describe_shape(shape)})")
    if min(shape[2:]) < min_detector:
        raise InvalidImageError(
            f"{name} has a {shape[2]} x {shape[3]} px detector; the 4D-STEM denoiser needs at least {min_detector} x {min_detector} px patterns"
        )
    if min(shape[:2]) < min_scan:
        raise InvalidImageError(
            f"{name} has a {shape[0]} x {shape[1]} scan; the neighbour denoiser needs at least {min_scan} x {min_scan} positions"
        )


def native(data):
    """``data`` with a native-endian dtype (Merlin and other detectors write big-endian counts, which
    torch cannot take); lazy arrays stay lazy."""
    dtype = np.dtype(data.dtype)
    if dtype.byteorder in ("=", "|") or dtype.isnative:
        return data
    return data.astype(dtype.newbyteorder("="))


def check_finite_block(block: np.ndarray, name: str, where: str = "") -> None:
    if np.issubdtype(block.dtype, np.floating):
        bad = block.size - int(np.count_nonzero(np.isfinite(block)))
        if bad:
            raise InvalidImageError(f"{name} has {bad} NaN/Inf count(s){where}; replace or crop them before denoising")


def read_rows(data, r0: int, r1: int, halo: int = 0, *, name: str = "4D-STEM data", check_finite: bool = True) -> np.ndarray:
    """Scan rows ``[r0 - halo, r1 + halo)`` of ``data`` as float32 numpy, clipped to the scan (no padding);
    a dask array computes only those rows."""
    a, b = max(0, r0 - halo), min(int(data.shape[0]), r1 + halo)
    block = np.asarray(data[a:b], dtype=np.float32)
    if check_finite:
        check_finite_block(block, name, f" in scan rows {a}-{b - 1}")
    return block


def reflect_pad_scan(block: np.ndarray, top: int = 1, bottom: int = 1, left: int = 1, right: int = 1) -> np.ndarray:
    """Pad the scan axes by reflection without repeating the edge (row -1 is row 1): a position's padded
    neighbours are always other positions, never itself, so the blind spot holds at the scan edges."""
    pad = ((top, bottom), (left, right), (0, 0), (0, 0))
    if block.shape[0] < 2 and (top or bottom) or block.shape[1] < 2 and (left or right):
        return np.pad(block, pad, mode="edge")
    return np.pad(block, pad, mode="reflect")
