"""Reading 4D-STEM files: Quantum Detectors Merlin ``.mib`` (+ ``.hdr``), NanoMegas ``.blo``, EMD
(Prismatic, py4DSTEM / EMD 1.0 ``.h5``, Velox ``.emd``) through rosettasciio, ``.npy``, and the ``.h5``
/ ``.zarr`` files ``napari-lowdose denoise4d`` writes.

The result, :class:`FourDData`, always has axes (scan y, scan x, detector ky, detector kx) in numpy order
and a native-endian dtype (Merlin's big-endian counts are converted). The scan step is in Å where the
file gives a length; the detector step is in mrad or Å⁻¹ where the file gives an angle or a reciprocal
length, else the detector is in pixels. Files larger than ``LAZY_BYTES`` are opened lazily (a dask array:
nothing is read until a block is needed), so a dataset larger than memory opens in seconds.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import FileFormatError, InvalidImageError
from ..core.fourd.data import check_4d, native
from ..core.units import ANGSTROM, normalise_unit, to_angstrom_factor

LAZY_BYTES = 256 * 2**20  #: files above this size open lazily (dask) unless told otherwise
LAZY_CHUNK = 64 * 2**20  #: bytes per dask chunk (whole scan rows) of a lazily read .npy file
FOURD_EXTENSIONS = (".mib", ".hdr", ".blo", ".emd", ".h5", ".hdf5", ".npy", ".zarr")
FORMAT_4D = "napari-lowdose 4D-STEM"  #: the ``format`` attribute of the .h5/.zarr files written here
PIXEL = "pixel"
INV_ANGSTROM = "1/Å"
MRAD = "mrad"


@dataclass
class FourDData:
    """A 4D-STEM dataset: ``data`` (scan y, scan x, ky, kx), numpy or dask; ``scan_step`` (y, x) in Å or
    None; ``detector_step`` (ky, kx) in ``detector_unit`` per px ("mrad", "1/Å") or None ("pixel")."""

    data: Any
    name: str
    scan_step: tuple[float, float] | None = None
    detector_step: tuple[float, float] | None = None
    detector_unit: str = PIXEL
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def lazy(self) -> bool:
        return type(self.data).__module__.split(".")[0] == "dask"

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return tuple(int(s) for s in self.data.shape)

    def calibration(self) -> dict[str, Any]:
        """Calibrations as plain values (for file attributes and layer metadata)."""
        return {
            "axes": ["scan_y", "scan_x", "ky", "kx"],
            "scan_step_angstrom": list(self.scan_step) if self.scan_step else None,
            "detector_step": list(self.detector_step) if self.detector_step else None,
            "detector_unit": self.detector_unit,
        }

    def layer_kwargs(self) -> dict[str, Any]:
        """napari Image layer keyword arguments: scan axes in Å (or pixels), detector axes in pixels (the
        detector calibration is in the metadata: napari has one unit per axis but no mrad)."""
        scan = self.scan_step or (1.0, 1.0)
        unit = ANGSTROM if self.scan_step else PIXEL
        return {
            "name": self.name,
            "scale": (float(scan[0]), float(scan[1]), 1.0, 1.0),
            "units": (unit, unit, PIXEL, PIXEL),
            "axis_labels": ("scan y", "scan x", "ky", "kx"),
            "metadata": {"kind": "4D-STEM", **self.metadata, **self.calibration()},
        }


def _detector_unit(unit) -> tuple[str, float] | None:
    """(unit, factor) turning a detector step in ``unit`` into mrad or 1/Å, or None (not calibrated)."""
    u = normalise_unit(unit).replace(" ", "")
    if u in ("mrad", "milliradian", "milliradians"):
        return MRAD, 1.0
    if u in ("rad", "radian", "radians"):
        return MRAD, 1e3
    if u.startswith("1/") or u.endswith(("^-1", "-1", "⁻¹")):
        length = re.sub(r"^1/|\^-1$|-1$|⁻¹$", "", u)
        f = to_angstrom_factor(length)
        if f:
            return INV_ANGSTROM, 1.0 / f
    return None


def _calibrate(axes: list[dict]) -> tuple[tuple[float, float] | None, tuple[float, float] | None, str]:
    scan, det = axes[-4:-2], axes[-2:]
    fy, fx = (to_angstrom_factor(a.get("units")) for a in scan)
    scan_step = (float(scan[0]["scale"]) * fy, float(scan[1]["scale"]) * fx) if fy and fx else None
    dy, dx = (_detector_unit(a.get("units")) for a in det)
    if dy and dx and dy[0] == dx[0]:
        return scan_step, (float(det[0]["scale"]) * dy[1], float(det[1]["scale"]) * dx[1]), dy[0]
    return scan_step, None, PIXEL


_MIB_BYTES = {"U01": 1, "U08": 1, "U16": 2, "U32": 4, "U64": 8}


def _check_complete(path: Path) -> None:
    """Refuse a truncated Merlin or blockfile file (rosettasciio would read what is there, quietly
    shrinking the scan or padding it): its size must hold every frame its header announces."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(512)
    if path.suffix.lower() == ".mib":
        fields = head.decode("ascii", "replace").split(",")
        if len(fields) < 7 or fields[0] != "MQ1":
            raise FileFormatError(f"{path.name} is not a Merlin .mib file (no MQ1 frame header)")
        if fields[6].strip().startswith("R"):
            return  # RAW mode: rosettasciio's own message follows
        try:
            frame = int(fields[2]) + int(fields[4]) * int(fields[5]) * _MIB_BYTES[fields[6].strip()]
        except (ValueError, KeyError):
            raise FileFormatError(f"{path.name}: the Merlin frame header cannot be read ({','.join(fields[:7])})") from None
        hdr = path.with_suffix(".hdr")
        announced = None
        if hdr.exists():
            m = re.search(r"Frames in Acquisition \(Number\):\s*(\d+)", hdr.read_text(errors="replace"))
            announced = int(m.group(1)) if m else None
        if size % frame or (announced and size // frame < announced):
            what = f"of the {announced} its header announces" if announced else f"frames of {frame} bytes"
            raise FileFormatError(f"{path.name} is truncated: it holds {size // frame} complete frame(s) {what} ({size} bytes)")
    elif path.suffix.lower() == ".blo":
        from rsciio.blockfile._api import get_header_dtype_list

        dt = np.dtype(get_header_dtype_list("<"))
        if len(head) < dt.itemsize:
            raise FileFormatError(f"{path.name} is truncated: {size} bytes is shorter than a blockfile header")
        h = np.frombuffer(head[: dt.itemsize], dt)[0]
        need = int(h["Data_offset_2"]) + int(h["NX"]) * int(h["NY"]) * (int(h["DP_SZ"]) ** 2 + 6)
        if size < need:
            raise FileFormatError(f"{path.name} is truncated: {size} bytes of the {need} its header announces")


def _rsciio(path: Path, lazy: bool) -> list[dict]:
    if path.suffix.lower() in (".mib", ".blo"):
        _check_complete(path)
    ext = path.suffix.lower()
    if ext in (".mib", ".hdr"):
        from rsciio.quantumdetector import file_reader
        fmt = "Quantum Detectors Merlin"
    elif ext == ".blo":
        from rsciio.blockfile import file_reader
        fmt = "NanoMegas blockfile"
    else:
        from rsciio.emd import file_reader
        fmt = "EMD/HDF5"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return file_reader(str(path), lazy=lazy)
    except NotImplementedError as exc:
        if "RAW" in str(exc):
            raise FileFormatError(
                f"{path.name} is a Merlin file saved in RAW mode (undecoded counter bits), which napari-lowdose cannot read; "
                "save the acquisition again with RAW output off (counting mode)"
            ) from exc
        raise FileFormatError(f"cannot read {fmt} file {path.name}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - each rsciio plugin raises its own types
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FileFormatError(f"cannot read {fmt} file {path.name} (damaged, truncated or not this format): {text}") from exc


def _scan_of_patterns(axes: list[dict]) -> bool:
    """A 4-axis signal is a scan of diffraction patterns unless its last two axes are lengths (an image)
    while its first two are not both lengths (a stack of images: DPC components, detector series)."""
    if len(axes) != 4:
        return True  # no axis information: trust the shape
    is_len = [bool(to_angstrom_factor(a.get("units"))) for a in axes]
    return not (is_len[2] and is_len[3]) or (is_len[0] and is_len[1])


def _pick(signals: list[dict], path: Path, index: int | None) -> tuple[Any, list[dict], str]:
    """The 4D (or 5D, with ``index``) signal of a file: data, axes, title."""
    found = []
    for sig in signals:
        shape = tuple(getattr(sig["data"], "shape", ()))
        title = str(((sig.get("metadata") or {}).get("General") or {}).get("title") or "").strip()
        found.append((len(shape), shape, title, sig))
    fours = [f for f in found if f[0] == 4 and _scan_of_patterns(list(f[3]["axes"]))]
    fives = [f for f in found if f[0] == 5]
    if fours:
        return fours[0][3]["data"], list(fours[0][3]["axes"]), fours[0][2]
    if fives:
        _, shape, title, sig = fives[0]
        axes = list(sig["axes"])
        lead = str(axes[0].get("name") or "first-axis")
        if index is None:
            raise InvalidImageError(
                f"{path.name} holds 5-D data {shape} ('{title}'); 4D-STEM needs 4 axes: choose one of its {shape[0]} '{lead}' planes (index 0-{shape[0] - 1})"
            )
        if not 0 <= index < shape[0]:
            raise InvalidImageError(f"{path.name}: plane {index} does not exist; '{lead}' has planes 0-{shape[0] - 1}")
        return sig["data"][index], axes[1:], title
    shapes = ", ".join(" x ".join(map(str, f[1])) for f in found) or "no signals"
    raise InvalidImageError(f"{path.name} holds no 4D-STEM data (scan y, scan x, ky, kx): its signals are {shapes}")


class NpyRows:
    """A read-only array-like over a C-order ``.npy`` file that reads the scan rows it is sliced for with
    plain file reads: unlike a memory map, the pages read do not stay in the process's resident memory,
    so streaming a file larger than RAM through it (dask, the denoiser) keeps the memory at one block.
    Axis 0 takes an integer or a slice; the other axes anything numpy takes."""

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype, offset: int) -> None:
        self.path, self.shape, self.dtype, self.offset = Path(path), tuple(int(s) for s in shape), np.dtype(dtype), int(offset)
        self.ndim = len(self.shape)
        self._row = int(np.prod(self.shape[1:], dtype=np.int64))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            i = next(j for j, k in enumerate(key) if k is Ellipsis)
            key = key[:i] + (slice(None),) * (self.ndim - len(key) + 1) + key[i + 1 :]
        first, rest = (key[0] if key else slice(None)), key[1:]
        if isinstance(first, (int, np.integer)):
            i = int(first) + (self.shape[0] if first < 0 else 0)
            if not 0 <= i < self.shape[0]:
                raise IndexError(f"index {int(first)} is out of bounds for axis 0 with size {self.shape[0]}")
            return self._read(i, i + 1)[0][rest]
        if not isinstance(first, slice):
            raise TypeError(f"{self.path.name}: rows of a streamed .npy file are taken by an integer or a slice, not {type(first).__name__}")
        wanted = range(*first.indices(self.shape[0]))
        if not wanted:
            return self._read(0, 0)[(slice(None),) + rest]
        lo, hi = min(wanted), max(wanted) + 1
        stop = wanted.stop - lo
        return self._read(lo, hi)[(slice(wanted.start - lo, stop if stop >= 0 else None, wanted.step),) + rest]

    def _read(self, a: int, b: int) -> np.ndarray:
        count = (b - a) * self._row
        with open(self.path, "rb") as fh:
            fh.seek(self.offset + a * self._row * self.dtype.itemsize)
            flat = np.fromfile(fh, dtype=self.dtype, count=count)
        if flat.size != count:
            raise FileFormatError(f"{self.path.name} is truncated: scan rows {a}-{b - 1} are not all in the file")
        return flat.reshape((b - a,) + self.shape[1:])

    def __array__(self, dtype=None, copy=None):
        out = self._read(0, self.shape[0])
        return out if dtype is None else out.astype(dtype, copy=False)


def _npy_rows(path: Path, arr) -> NpyRows | None:
    """An :class:`NpyRows` over the file of a C-order memory-mapped .npy array (None otherwise)."""
    if not isinstance(arr, np.memmap) or not arr.flags.c_contiguous or arr.dtype.hasobject:
        return None
    return NpyRows(path, arr.shape, arr.dtype, arr.offset)


def _read_npy(path: Path, lazy: bool):
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        raise FileFormatError(f"cannot read {path.name} as a NumPy .npy file (damaged or truncated): {exc}") from exc
    if lazy:
        import dask.array as da

        if arr.ndim != 4:
            return da.from_array(arr, chunks="auto")
        rows = _npy_rows(path, arr)
        row_bytes = int(np.prod(arr.shape[1:], dtype=np.int64)) * arr.dtype.itemsize
        chunk = max(1, min(arr.shape[0], int(LAZY_CHUNK // max(row_bytes, 1))))
        arr = da.from_array(rows if rows is not None else arr, chunks=(chunk,) + arr.shape[1:], meta=np.empty((0,) * 4, arr.dtype))
    return arr


def _read_own_h5(path: Path, lazy: bool):
    import h5py

    try:
        fh = h5py.File(path, "r")
    except Exception as exc:  # noqa: BLE001
        raise FileFormatError(f"cannot read HDF5 file {path.name} (damaged or truncated): {exc}") from exc
    if fh.attrs.get("format") != FORMAT_4D:
        fh.close()
        return None
    dset = fh["data"]
    attrs = dict(dset.attrs)
    if lazy:
        import dask.array as da

        data = da.from_array(dset, chunks=dset.chunks or "auto")  # the file stays open while the array lives
    else:
        data = dset[()]
        fh.close()
    return data, attrs


def _read_zarr(path: Path, lazy: bool):
    try:
        import zarr
    except ImportError as exc:
        raise FileFormatError(f"reading {path.name} needs the zarr package (pip install zarr)") from exc
    try:
        group = zarr.open_group(str(path), mode="r")
        arr = group["data"]
    except Exception as exc:  # noqa: BLE001
        raise FileFormatError(f"cannot read {path.name} as a napari-lowdose 4D-STEM zarr store: {exc}") from exc
    import dask.array as da

    data = da.from_zarr(arr) if lazy else arr[...]
    return data, dict(arr.attrs)


def _from_attrs(data, attrs: dict, path: Path, fmt: str) -> FourDData:
    scan = attrs.get("scan_step_angstrom")
    det = attrs.get("detector_step")
    scan_t = tuple(float(v) for v in scan) if scan is not None and len(scan) == 2 and np.all(np.isfinite(scan)) and min(scan) > 0 else None
    det_t = tuple(float(v) for v in det) if det is not None and len(det) == 2 and np.all(np.isfinite(det)) and min(det) > 0 else None
    unit = str(attrs.get("detector_unit") or PIXEL) if det_t else PIXEL
    meta = {"source": str(path), "format": fmt}
    if attrs.get("provenance"):
        meta["provenance"] = attrs["provenance"]
    return FourDData(data, path.stem, scan_t, det_t, unit, meta)


def read_4dstem(path: str | os.PathLike, lazy: bool | None = None, index: int | None = None) -> FourDData:
    """Read the 4D-STEM dataset in ``path``; ``lazy`` None: lazily when the file is over ``LAZY_BYTES``;
    ``index``: the plane of a 5-D file (Prismatic depth series) to take. Raises
    :class:`~napari_lowdose.core.errors.LowdoseError` with one sentence naming the file otherwise."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in FOURD_EXTENSIONS:
        raise FileFormatError(f"{path.name}: not a 4D-STEM file napari-lowdose reads ({', '.join(FOURD_EXTENSIONS)})")
    if ext == ".hdr":
        path = path.with_suffix(".mib")
        ext = ".mib"
    if not path.exists():
        raise FileFormatError(f"{path}: no such file")
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    if size == 0:
        raise FileFormatError(f"{path.name} is empty (0 bytes)")
    if lazy is None:
        lazy = size > LAZY_BYTES
    if ext == ".zarr":
        data, attrs = _read_zarr(path, lazy)
        result = _from_attrs(data, attrs, path, "zarr")
    elif ext == ".npy":
        result = FourDData(_read_npy(path, lazy), path.stem, metadata={"source": str(path), "format": "NumPy .npy"})
    else:
        own = _read_own_h5(path, lazy) if ext in (".h5", ".hdf5") else None
        if own is not None:
            result = _from_attrs(own[0], own[1], path, FORMAT_4D + " HDF5")
        else:
            data, axes, title = _pick(_rsciio(path, lazy), path, index)
            scan_step, det_step, unit = _calibrate(axes)
            meta = {"source": str(path), "format": ext.lstrip(".").upper(), "signal": title,
                    "axes_in_file": [{"name": a.get("name"), "scale": float(a.get("scale") or 1), "units": str(a.get("units"))} for a in axes]}
            result = FourDData(data, path.stem, scan_step, det_step, unit, meta)
    check_4d(result.data, path.name)
    result.metadata.setdefault("dtype_in_file", str(np.dtype(result.data.dtype)))
    result.data = native(result.data)
    if not result.lazy:
        result.data = np.asarray(result.data)
    return result
