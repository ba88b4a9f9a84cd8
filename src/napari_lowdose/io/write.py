"""Writers for TIFF and MRC that keep the pixel size, written atomically.

Atomic: the file is written to a temporary name in the same folder, flushed to disk, then renamed over
the final name (``os.replace``), so a crash or an error never leaves a half-written file under the
final name, and an existing file is only replaced by a complete new one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..core.errors import FileFormatError
from ..core.files import default_file_mode
from ..core.image import check_image
from .read import MRC_EXTENSIONS, PROVENANCE_KEY, TIFF_EXTENSIONS

WRITE_EXTENSIONS = TIFF_EXTENSIONS + MRC_EXTENSIONS

# MRC stores only these modes; other types are converted to the nearest one of the same family.
_MRC_TYPES = {np.dtype(t) for t in (np.int8, np.int16, np.uint16, np.float32, np.float16)}
_IMAGEJ_TYPES = {np.dtype(t) for t in (np.uint8, np.uint16, np.float32)}


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, on error delete it."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileFormatError(f"cannot write {path}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, default_file_mode())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _mrc_dtype(data: np.ndarray) -> np.dtype:
    """The MRC mode for ``data``: its own type if MRC has it, else the smallest integer mode its values
    fit in (integers stay integers), else float32."""
    dtype = np.dtype(data.dtype)
    if dtype in _MRC_TYPES:
        return dtype
    if dtype == np.bool_:
        return np.dtype(np.int8)
    if np.issubdtype(dtype, np.integer) and data.size:
        lo, hi = int(data.min()), int(data.max())
        for candidate in (np.int16, np.uint16):
            info = np.iinfo(candidate)
            if info.min <= lo and hi <= info.max:
                return np.dtype(candidate)
    return np.dtype(np.float32)


def write_mrc(path: Path, data: np.ndarray, pixel_size: float | None, z_size: float | None = None, provenance: dict | None = None) -> None:
    """MRC with ``voxel_size`` = (x, y, z) in Å; 3-D data without a z step is written as an image stack."""
    import mrcfile

    out = np.ascontiguousarray(data, dtype=_mrc_dtype(data))
    with atomic_write(path) as tmp:
        with mrcfile.new(tmp, overwrite=True) as mrc:
            mrc.set_data(out)
            if out.ndim == 3 and not z_size:
                mrc.set_image_stack()
            px = float(pixel_size) if pixel_size else 0.0
            mrc.voxel_size = (px, px, float(z_size) if (z_size and out.ndim == 3) else (px if out.ndim == 3 else 0.0))


def write_tiff(path: Path, data: np.ndarray, pixel_size: float | None, z_size: float | None = None, provenance: dict | None = None) -> None:
    """TIFF with the pixel size as resolution tags plus ``unit='nm'`` metadata (ImageJ or tifffile), and
    ``provenance`` (what made the image: processing, model, input, date) as one JSON line under the key
    ``napari_lowdose`` of the same metadata, which the reader puts back into ``metadata["provenance"]``.

    ImageJ-compatible files are written for uint8/uint16/float32; other types keep their type in a
    plain TIFF with tifffile's JSON metadata, which this reader (and tifffile) reads back.
    """
    import tifffile

    kwargs: dict = {"compression": "zlib"}
    axes = {2: "YX", 3: "ZYX"}.get(data.ndim)
    metadata: dict = {}
    if axes:
        metadata["axes"] = axes
    if pixel_size:
        px_nm = float(pixel_size) / 10.0
        kwargs["resolution"] = (1.0 / px_nm, 1.0 / px_nm)
        metadata["unit"] = "nm"
        if z_size and data.ndim == 3:
            metadata["spacing"] = float(z_size) / 10.0
    if provenance:
        metadata[PROVENANCE_KEY] = json.dumps(provenance, default=str)  # one line: ImageJ keeps key=value lines
    imagej = np.dtype(data.dtype) in _IMAGEJ_TYPES and data.ndim <= 6
    with atomic_write(path) as tmp:
        tifffile.imwrite(tmp, np.asarray(data), imagej=imagej, metadata=metadata, **kwargs)


_WRITERS: dict[str, Callable] = {**{e: write_tiff for e in TIFF_EXTENSIONS}, **{e: write_mrc for e in MRC_EXTENSIONS}}


def write_image(path: str | os.PathLike, data, pixel_size: float | None = None, z_size: float | None = None,
                provenance: dict | None = None) -> Path:
    """Write ``data`` (axes ``(..., y, x)``) to TIFF or MRC by extension; ``pixel_size``/``z_size`` in Å;
    ``provenance`` (TIFF only; MRC has no room for it) records what made the image."""
    path = Path(path)
    ext = path.suffix.lower()
    writer = _WRITERS.get(ext)
    if writer is None:
        raise FileFormatError(f"cannot write {path.name}: napari-lowdose writes {', '.join(WRITE_EXTENSIONS)}")
    arr = np.asarray(data)
    check_image(arr, path.name, min_side=1, check_finite=False)
    if arr.ndim > 3:
        raise FileFormatError(f"cannot write {path.name}: {arr.ndim}-D data; TIFF/MRC writing supports 2-D and 3-D")
    writer(path, arr, pixel_size, z_size, provenance)
    return path
