"""Big stacks plane by plane: a 3-D TIFF or MRC (frames, or z) is read one plane at a time and its
denoised planes are written as they finish, so a task holds one plane in and one plane out, whatever
the number of planes (memory measured in the commit that added this: see docs/usage.md).

Used by :func:`~.task.denoise_path` for files larger than ``lazy_bytes``; the result is the same as
reading the file whole (the denoiser normalises and tiles each plane on its own either way) and the
output file is the same as :func:`~napari_lowdose.io.write_image` writes (float32, ImageJ TIFF, pixel
size and z step kept), written atomically.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..core.errors import FileFormatError, InvalidImageError
from ..core.image import check_image

LAZY_BYTES = 256 * 2**20  #: files larger than this are streamed plane by plane (when they are 3-D TIFF / MRC stacks)


@dataclass
class PlaneSource:
    """A 3-D stack opened without reading it: ``plane(i)`` reads plane ``i`` (y, x); ``pixel_size`` and
    ``z_size`` in Å (None when the file has none, or the stack is frames, not z); ``close()`` when done."""

    shape: tuple[int, int, int]
    dtype: np.dtype
    pixel_size: float | None
    z_size: float | None
    plane: Callable[[int], np.ndarray]
    close: Callable[[], None]


def _tiff(path: Path) -> PlaneSource | None:
    import tifffile

    from ..core.units import to_angstrom_factor
    from ..io.read import _tiff_pixel_size

    try:
        tif = tifffile.TiffFile(path)
    except Exception as exc:  # noqa: BLE001 - tifffile raises many types on corrupt files
        raise FileFormatError(f"cannot read TIFF {path.name}: {exc}") from exc
    try:
        series = tif.series[0] if tif.series else None
        pages = list(series.pages) if series is not None else []
        if series is None or len(pages) < 2 or any(p is None for p in pages):
            tif.close()
            return None
        plane_shape = tuple(int(s) for s in pages[0].shape)
        if len(plane_shape) != 2 or getattr(pages[0], "photometric", 1) == 2 or any(tuple(p.shape) != plane_shape for p in pages):
            tif.close()
            return None  # colour, or pages that are not one (y, x) plane each: read whole
        _, px, unit = _tiff_pixel_size(tif, pages[0])
        ij = tif.imagej_metadata or {}
        factor = to_angstrom_factor(unit)
        z = float(ij["spacing"]) * factor if ij.get("spacing") and factor else None
    except FileFormatError:
        raise
    except Exception as exc:  # noqa: BLE001
        tif.close()
        raise FileFormatError(f"cannot read TIFF {path.name}: {exc}") from exc

    def plane(i: int) -> np.ndarray:
        try:
            return pages[i].asarray()
        except Exception as exc:  # noqa: BLE001
            raise FileFormatError(f"cannot read TIFF {path.name} (plane {i}): {exc}") from exc

    px = px if px and np.isfinite(px) and px > 0 else None
    return PlaneSource((len(pages), *plane_shape), np.dtype(pages[0].dtype), px, z, plane, tif.close)


def _mrc(path: Path) -> PlaneSource | None:
    import mrcfile

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # mrcfile warns on truncated files
            mrc = mrcfile.mmap(path, mode="r", permissive=False)
    except Exception as exc:  # noqa: BLE001
        raise FileFormatError(f"cannot read MRC {path.name}: {exc}") from exc
    data = mrc.data
    if data is None or data.ndim != 3 or data.shape[0] < 2:
        mrc.close()
        return None
    vs = mrc.voxel_size
    vx, vz = float(vs.x), float(vs.z)
    stack = bool(mrc.is_image_stack()) or path.suffix.lower() == ".mrcs"
    z = None if (stack or vz <= 0) else vz
    return PlaneSource(tuple(int(s) for s in data.shape), np.dtype(data.dtype), vx if vx > 0 else None, z,
                       lambda i: np.array(data[i]), mrc.close)


def open_planes(path: Path) -> PlaneSource | None:
    """A :class:`PlaneSource` for a 3-D TIFF or MRC stack; None for anything else (to be read whole)."""
    from ..io.read import MRC_EXTENSIONS, TIFF_EXTENSIONS

    ext = path.suffix.lower()
    if ext in TIFF_EXTENSIONS:
        return _tiff(path)
    if ext in MRC_EXTENSIONS:
        return _mrc(path)
    return None


def denoise_stack(path: Path, source: PlaneSource, target: Path, denoiser, on_step=None) -> None:
    """Denoise ``source`` plane by plane into ``target`` (float32 TIFF, atomically)."""
    import tifffile

    from ..core.progress import drive
    from ..io import atomic_write

    n, ny, nx = source.shape
    check_image(_Shape(source), path.name, check_finite=False)

    def planes():
        for i in range(n):
            plane = source.plane(i)
            if np.issubdtype(plane.dtype, np.floating) and not np.isfinite(plane).all():
                bad = int(plane.size - np.count_nonzero(np.isfinite(plane)))
                raise InvalidImageError(f"{path.name} (plane {i}) has {bad} NaN/Inf pixel(s); replace or crop them before denoising")
            yield drive(denoiser.run(plane, name=f"{path.name} plane {i}"), on_step)

    kwargs: dict = {"compression": "zlib"}
    metadata: dict = {"axes": "ZYX"}
    if source.pixel_size:
        px_nm = float(source.pixel_size) / 10.0
        kwargs["resolution"] = (1.0 / px_nm, 1.0 / px_nm)
        metadata["unit"] = "nm"
        if source.z_size:
            metadata["spacing"] = float(source.z_size) / 10.0
    with atomic_write(target) as tmp:
        tifffile.imwrite(tmp, data=planes(), shape=(n, ny, nx), dtype=np.float32, imagej=True, metadata=metadata, **kwargs)


class _Shape:
    """shape/dtype stand-in, so :func:`check_image` vets a stack without reading it."""

    def __init__(self, source: PlaneSource) -> None:
        self.shape, self.dtype = source.shape, source.dtype
