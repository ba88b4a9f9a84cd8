"""Writing 4D-STEM results block by block (bounded memory), atomically: ``.npy`` (a memory-mapped
NumPy file), ``.h5`` (HDF5, dataset ``data`` chunked by scan row) or ``.zarr`` (a zarr group with array
``data``), float32, axes (scan y, scan x, ky, kx). HDF5 and zarr carry the calibrations and provenance as
attributes (``format = "napari-lowdose 4D-STEM"``), which :func:`~napari_lowdose.io.read4d.read_4dstem`
reads back; ``.npy`` has no room for them.

Atomic: everything is written under a temporary name beside the target and renamed over it only when
complete, so an error or a Cancel never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from ..core.errors import FileFormatError
from .read4d import FORMAT_4D
from .write import atomic_write

OUTPUT_EXTENSIONS = (".npy", ".h5", ".hdf5", ".zarr")


def _attrs(calibration: dict | None, provenance: dict | None) -> dict:
    out = {"format": FORMAT_4D}
    for key, value in (calibration or {}).items():
        if value is not None:
            out[key] = value
    if provenance:
        out["provenance"] = json.dumps(provenance, default=str)
    return out


@contextlib.contextmanager
def open_4d_output(path: str | os.PathLike, shape: tuple[int, int, int, int], calibration: dict | None = None,
                   provenance: dict | None = None) -> Iterator:
    """Yield a writable float32 array of ``shape`` (``out[r0:r1] = rows`` writes scan rows) that becomes
    ``path`` when the ``with`` block ends without an error."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in OUTPUT_EXTENSIONS:
        raise FileFormatError(f"cannot write {path.name}: 4D-STEM results are written as {', '.join(OUTPUT_EXTENSIONS)}")
    shape = tuple(int(s) for s in shape)
    if ext == ".npy":
        with atomic_write(path) as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
            yield out
            out.flush()
            del out
    elif ext in (".h5", ".hdf5"):
        import h5py

        with atomic_write(path) as tmp:
            with h5py.File(tmp, "w") as fh:
                fh.attrs["format"] = FORMAT_4D
                dset = fh.create_dataset("data", shape=shape, dtype=np.float32, chunks=(1, *shape[1:]))
                for key, value in _attrs(calibration, provenance).items():
                    if isinstance(value, list):
                        numbers = all(isinstance(v, (int, float)) for v in value)
                        value = np.asarray(value, float) if numbers else ", ".join(map(str, value))
                    dset.attrs[key] = value
                yield dset
    else:
        try:
            import zarr
        except ImportError as exc:
            raise FileFormatError(f"writing {path.name} needs the zarr package (pip install zarr)") from exc
        folder = path.parent if str(path.parent) else Path(".")
        if not folder.is_dir():
            raise FileFormatError(f"cannot write {path}: folder {folder} does not exist")
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=folder))
        try:
            group = zarr.open_group(str(tmp), mode="w")
            arr = group.create_array("data", shape=shape, dtype=np.float32, chunks=(1, *shape[1:])) if hasattr(group, "create_array") \
                else group.create_dataset("data", shape=shape, dtype=np.float32, chunks=(1, *shape[1:]))
            arr.attrs.update(_attrs(calibration, provenance))
            group.attrs["format"] = FORMAT_4D
            yield arr
            old = None
            if path.exists():
                old = path.with_name(f".{path.name}.old")
                os.replace(path, old)
            os.replace(tmp, path)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
