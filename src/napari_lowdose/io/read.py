"""Readers for TIFF, MRC and the native formats of the microscopes (Gatan DM3/DM4, Velox EMD, TIA SER).

Every reader returns an :class:`Images` list of :class:`ImageData`, one per readable signal in the file,
whose ``skipped`` holds one sentence per signal it could not open (naming the file and the signal), or
raises :class:`~napari_lowdose.core.errors.FileFormatError` / :class:`~napari_lowdose.core.errors.InvalidImageError`
with one sentence that names the file and says what is wrong when nothing in it can be opened. One bad
signal never blocks the others. A signal with two or more scan axes and a diffraction pattern per scan
position opens as 4D-STEM data (``metadata["kind"] == "4D-STEM"``, detector axes in pixels); files
written by ``napari-lowdose denoise`` carry their provenance (``metadata["provenance"]``: model, input,
date), which tells the resolution readout that the image is processed.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .mode import acquisition_mode
from ..core.errors import FileFormatError, InvalidImageError, LowdoseError
from ..core.image import check_image, looks_like_rgb
from ..core.units import ANGSTROM, normalise_unit, to_angstrom_factor

PIXEL = "pixel"

TIFF_EXTENSIONS = (".tif", ".tiff")
MRC_EXTENSIONS = (".mrc", ".mrcs", ".map", ".st")
RSCIIO_EXTENSIONS = (".dm3", ".dm4", ".emd", ".ser")
SUPPORTED_EXTENSIONS = TIFF_EXTENSIONS + MRC_EXTENSIONS + RSCIIO_EXTENSIONS
#: 4D-STEM detector formats: refused with a sentence that says what they are
FOUR_D_EXTENSIONS = {".mib": "Quantum Detectors Merlin", ".hdr": "Merlin header", ".blo": "NanoMegas blockfile",
                     ".h5": "HDF5 (py4DSTEM)", ".hdf5": "HDF5"}


@dataclass
class ImageData:
    """An image read from a file, with its calibration.

    ``data`` axes are numpy order ``(..., y, x)``. ``scale``/``units``/``axis_labels`` have one entry
    per axis: spatial axes in Å (``units == "angstrom"``), or 1 ``"pixel"`` when the file holds no
    pixel size; other axes (frames, time) keep their own step and unit.
    """

    data: np.ndarray
    name: str
    scale: tuple[float, ...]
    units: tuple[str, ...]
    axis_labels: tuple[str, ...]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def pixel_size(self) -> float | None:
        """x pixel size in Å, or None when the file did not say."""
        return float(self.scale[-1]) if self.units[-1] == ANGSTROM else None

    def layer_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``napari.layers.Image`` (scale, units, axis_labels, name, metadata)."""
        return {
            "name": self.name,
            "scale": self.scale,
            "units": self.units,
            "axis_labels": self.axis_labels,
            "metadata": dict(self.metadata),
        }


class Images(list):
    """A list of :class:`ImageData` with ``skipped``: one sentence per signal of the file that did not open."""

    def __init__(self, items=(), skipped=()) -> None:
        super().__init__(items)
        self.skipped: list[str] = list(skipped)


KIND_4DSTEM = "4D-STEM"
PROVENANCE_KEY = "napari_lowdose"  #: TIFF metadata key (ImageJ description / tifffile JSON) of the provenance


def is_processed(metadata: dict) -> str:
    """What was done to an image, from its layer/file metadata ("" for raw data): "denoised with MODEL"
    for files written by ``napari-lowdose denoise`` and layers made by the Denoise panel."""
    prov = metadata.get("provenance") if isinstance(metadata, dict) else None
    if isinstance(prov, dict) and prov.get("processing"):
        return f"{prov['processing']} with {prov.get('model', 'a model')}"
    if isinstance(metadata, dict) and metadata.get("denoised_with"):
        return f"denoised with {metadata['denoised_with']}"
    return ""


def _ext(path: str | os.PathLike) -> str:
    return Path(path).suffix.lower()


def _validate(data: np.ndarray, path: Path, what: str = "") -> None:
    label = f"{path.name}{' ' + what if what else ''}"
    if looks_like_rgb(data.shape, data.dtype):
        raise InvalidImageError(
            f"{label} is an RGB colour image ({data.shape[-1]} channels); napari-lowdose needs "
            "single-channel detector images"
        )
    check_image(data, label)


def _spatial(scale_a: float | None, ndim: int, lead_scale=(), lead_units=(), lead_labels=()):
    """scale/units/labels for (lead..., y, x) given the in-plane pixel size in Å (or None)."""
    nlead = ndim - 2
    lead_scale = tuple(lead_scale) or (1.0,) * nlead
    lead_units = tuple(lead_units) or (PIXEL,) * nlead
    lead_labels = tuple(lead_labels) or tuple(("t", "z", "c")[i] if i < 3 else f"axis{i}" for i in range(nlead))
    if scale_a is None or not np.isfinite(scale_a) or scale_a <= 0:
        plane_scale, plane_units = (1.0, 1.0), (PIXEL, PIXEL)
    else:
        plane_scale, plane_units = (float(scale_a), float(scale_a)), (ANGSTROM, ANGSTROM)
    return lead_scale + plane_scale, lead_units + plane_units, lead_labels + ("y", "x")


# ----------------------------------------------------------------------------------------- TIFF
def _tiff_pixel_size(tif, page) -> tuple[float | None, float | None, str | None]:
    """(y, x) pixel size in Å and the unit as written, from ImageJ, shaped or resolution metadata."""
    unit = None
    ij = tif.imagej_metadata or {}
    if ij.get("unit"):
        unit = ij["unit"]
    else:
        try:
            shaped = tif.shaped_metadata
        except Exception:  # noqa: BLE001 - tifffile raises various errors on odd descriptions
            shaped = None
        if shaped and shaped[0].get("unit"):
            unit = shaped[0]["unit"]
    tags = page.tags
    xres, yres = tags.get("XResolution"), tags.get("YResolution")
    if unit is None:
        res_unit = tags.get("ResolutionUnit")
        code = int(res_unit.value) if res_unit is not None else 2
        unit = {3: "cm", 2: "inch"}.get(code)
        if code == 2 and xres is not None and tuple(xres.value) in ((72, 1), (96, 1), (300, 1), (1, 1)):
            unit = None  # a screen/print DPI written by default, not a calibration
    factor = to_angstrom_factor(unit)
    if factor is None or xres is None:
        return None, None, unit

    def size(tag):
        num, den = tag.value
        return factor * den / num if num else None

    return size(yres or xres), size(xres), unit


def read_tiff(path: Path) -> list[ImageData]:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            if not tif.series:
                raise FileFormatError(f"{path.name} holds no image data")
            series = tif.series[0]
            data = series.asarray()
            axes = series.axes
            py, px, unit = _tiff_pixel_size(tif, series.pages[0] if series.pages else tif.pages[0])
            photometric = getattr(series.pages[0], "photometric", None) if series.pages else None
            ij = tif.imagej_metadata or {}
            prov_text = ij.get(PROVENANCE_KEY)
            if prov_text is None:
                try:
                    shaped = tif.shaped_metadata
                except Exception:  # noqa: BLE001 - odd descriptions
                    shaped = None
                prov_text = shaped[0].get(PROVENANCE_KEY) if shaped else None
    except LowdoseError:
        raise
    except Exception as exc:  # noqa: BLE001 - tifffile raises many types on corrupt files
        raise FileFormatError(f"cannot read TIFF {path.name}: {exc}") from exc

    if "S" in axes and data.shape[axes.index("S")] in (3, 4) or (photometric is not None and int(photometric) == 2):
        raise InvalidImageError(f"{path.name} is an RGB colour image; napari-lowdose needs single-channel detector images")
    data = np.squeeze(data) if data.ndim > 2 else data
    _validate(data, path)
    lead_scale, lead_units = (), ()
    if data.ndim == 3 and ij.get("spacing") and to_angstrom_factor(unit):
        lead_scale, lead_units = (float(ij["spacing"]) * to_angstrom_factor(unit),), (ANGSTROM,)
    labels = tuple(a.lower() for a in axes if a not in "S") if len(axes) == data.ndim else ()
    scale, units, labels = _spatial(px, data.ndim, lead_scale, lead_units, labels[:-2] if labels else ())
    if py and px and abs(py - px) > 1e-6 * px and units[-1] == ANGSTROM:
        scale = scale[:-2] + (py, px)
    meta = {"source": str(path), "format": "TIFF", "unit_in_file": unit}
    if prov_text:
        try:
            meta["provenance"] = json.loads(prov_text)
        except (TypeError, ValueError):
            pass  # someone else's key of the same name: not ours
    return Images([ImageData(data, path.stem, scale, units, labels, meta)])


# ------------------------------------------------------------------------------------------ MRC
def read_mrc(path: Path) -> list[ImageData]:
    import mrcfile

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # mrcfile warns on truncated files
            with mrcfile.open(path, mode="r", permissive=False) as mrc:
                data = np.array(mrc.data)
                vs = mrc.voxel_size
                vx, vy, vz = float(vs.x), float(vs.y), float(vs.z)
                stack = bool(mrc.is_image_stack()) or path.suffix.lower() == ".mrcs"
    except Exception as exc:  # noqa: BLE001 - mrcfile raises ValueError/RuntimeWarning/OSError
        raise FileFormatError(f"cannot read MRC {path.name}: {exc}") from exc
    if data.ndim == 3 and data.shape[0] == 1:
        data = data[0]
    _validate(data, path)
    lead_scale, lead_units, lead_labels = (), (), ()
    if data.ndim == 3:
        if stack or vz <= 0:
            lead_scale, lead_units, lead_labels = (1.0,), (PIXEL,), ("frame",)
        else:
            lead_scale, lead_units, lead_labels = (vz,), (ANGSTROM,), ("z",)
    scale, units, labels = _spatial(vx if vx > 0 else None, data.ndim, lead_scale, lead_units, lead_labels)
    if vx > 0 and vy > 0 and abs(vx - vy) > 1e-6 * vx:
        scale = scale[:-2] + (vy, vx)
    meta = {"source": str(path), "format": "MRC", "voxel_size_A": (vx, vy, vz)}
    return Images([ImageData(data, path.stem, scale, units, labels, meta)])


# ------------------------------------------------------------- DM3 / DM4 / EMD / SER (rosettasciio)
def _rsciio_reader(ext: str) -> Callable:
    if ext in (".dm3", ".dm4"):
        from rsciio.digitalmicrograph import file_reader
    elif ext == ".emd":
        from rsciio.emd import file_reader
    else:
        from rsciio.tia import file_reader
    return file_reader


def _signal_title(sig: dict, fallback: str) -> str:
    md = sig.get("metadata") or {}
    title = (md.get("General") or {}).get("title") or ""
    return str(title).strip() or fallback


def _diffraction_axes(signal_axes) -> bool:
    """Two signal axes that are not lengths: a detector (diffraction) plane, reciprocal units or none."""
    return len(signal_axes) == 2 and not any(to_angstrom_factor(a.get("units")) for a in signal_axes)


def _describe_skipped(sig: dict, signal_axes, nav) -> str:
    units = ", ".join(sorted({str(a.get("units") or "no unit") for a in signal_axes})) or "no axes"
    signal_type = ((sig.get("metadata") or {}).get("Signal") or {}).get("signal_type") or ""
    if len(signal_axes) == 1:
        what = f"{signal_type.replace('_', ' ')} spectrum" if signal_type else "spectrum or line profile"
        article = "an" if what[0].lower() in "aeiou" else "a"
        return f"is {article} {what}, not an image (axis unit {units})"
    if len(signal_axes) == 2:
        return f"has no spatial image axes (axis units {units})"
    return f"is a {len(signal_axes)}-D signal (axis units {units}), not an image"


def _four_d_stem(sig, data, title, path, fmt, nav, signal_axes, stem, many) -> ImageData:
    """A scan of diffraction patterns as 4D-STEM data: scan axes calibrated (Å where they are lengths),
    the detector axes in pixels with their calibration kept in the metadata."""
    lead_scale = tuple(
        float(a.get("scale") or 1.0) * (to_angstrom_factor(a.get("units")) or 1.0) for a in nav
    )
    lead_units = tuple(ANGSTROM if to_angstrom_factor(a.get("units")) else PIXEL for a in nav)
    labels = tuple(str(a.get("name") or f"scan{i}").lower() for i, a in enumerate(nav)) + ("qy", "qx")
    detector = [{"name": a.get("name"), "scale": a.get("scale"), "units": str(a.get("units"))} for a in signal_axes]
    scan = " x ".join(str(int(n)) for n in data.shape[:-2])
    meta = {
        "source": str(path),
        "format": fmt,
        "signal": title,
        "kind": KIND_4DSTEM,
        "detector_axes": detector,
        "description": f"4D-STEM data: a {scan} scan of {data.shape[-2]} x {data.shape[-1]} diffraction patterns",
    }
    name = f"{stem} {title}" if many else stem
    return ImageData(data, name, lead_scale + (1.0, 1.0), lead_units + (PIXEL, PIXEL), labels, meta)


def read_rsciio(path: Path) -> Images:
    ext = path.suffix.lower()
    fmt = {".dm3": "Gatan DM3", ".dm4": "Gatan DM4", ".emd": "EMD", ".ser": "TIA SER"}[ext]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            signals = _rsciio_reader(ext)(str(path))
    except Exception as exc:  # noqa: BLE001 - each rsciio plugin raises its own types
        raise FileFormatError(f"cannot read {fmt} file {path.name}: {exc}") from exc

    images = Images()
    many = len(signals) > 1
    for k, sig in enumerate(signals):
        title = _signal_title(sig, f"signal {k}")
        label = f"{path.name} signal '{title}'"
        try:
            image = _one_signal(sig, title, label, path, fmt, many)
        except InvalidImageError as exc:  # this signal only: the others still open
            images.skipped.append(str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 - a malformed signal dict
            images.skipped.append(f"{label} cannot be read: {type(exc).__name__}: {exc}")
            continue
        images.append(image)
    if not images:
        reasons = [r[len(path.name) + 1 :] if r.startswith(path.name + " ") else r for r in images.skipped]
        raise FileFormatError(f"{path.name} holds no image napari-lowdose can open: " + "; ".join(reasons or ["no signals"]))
    return images


def _one_signal(sig: dict, title: str, label: str, path: Path, fmt: str, many: bool) -> ImageData:
    """One rosettasciio signal as ImageData, or InvalidImageError with one sentence naming it."""
    data = np.asarray(sig["data"])
    axes = sig.get("axes") or []
    signal_axes = [a for a in axes if not a.get("navigate", False)]
    nav = [a for a in axes if a.get("navigate", False)]
    spatial = [a for a in signal_axes if to_angstrom_factor(a.get("units"))]
    if _diffraction_axes(signal_axes) and len(nav) >= 2 and data.ndim == len(nav) + 2:
        check_image(data, label)
        return _four_d_stem(sig, data, title, path, fmt, nav, signal_axes, path.stem, many)
    if len(signal_axes) != 2 or len(spatial) != 2 or data.ndim < 2:
        raise InvalidImageError(f"{label} {_describe_skipped(sig, signal_axes, nav)}")
    ax_y, ax_x = spatial[-2], spatial[-1]
    px = float(ax_x["scale"]) * to_angstrom_factor(ax_x.get("units"))
    py = float(ax_y["scale"]) * to_angstrom_factor(ax_y.get("units"))
    lead_scale = tuple(float(a.get("scale") or 1.0) for a in nav)
    lead_units = tuple(
        ANGSTROM if to_angstrom_factor(a.get("units")) else (normalise_unit(a.get("units")) or PIXEL) for a in nav
    )
    lead_scale = tuple(
        s * to_angstrom_factor(a.get("units")) if to_angstrom_factor(a.get("units")) else s for s, a in zip(lead_scale, nav)
    )
    lead_labels = tuple(str(a.get("name") or ("frame" if len(nav) == 1 else f"axis{i}")).lower() for i, a in enumerate(nav))
    if data.ndim != len(nav) + 2:
        raise InvalidImageError(f"{label} has an unexpected shape {data.shape} for its {len(axes)} axes")
    _validate(data, path, f"signal '{title}'")
    scale, units, labels = _spatial(px, data.ndim, lead_scale, lead_units, lead_labels)
    scale = scale[:-2] + (py, px)
    name = f"{path.stem} {title}" if many else path.stem
    meta = {
        "source": str(path),
        "format": fmt,
        "signal": title,
        "unit_in_file": str(ax_x.get("units")),
    }
    mode = acquisition_mode(sig.get("original_metadata"))
    if mode:
        meta["mode"] = mode  # "stem" or "tem", as the instrument recorded it (io/mode.py)
    return ImageData(data, name, scale, units, labels, meta)


def read_image(path: str | os.PathLike) -> Images:
    """Read every image in ``path`` (TIFF, MRC, DM3/DM4, EMD, SER) with its pixel size in Å; signals that
    cannot be opened are listed in the result's ``skipped`` (one sentence each)."""
    path = Path(path)
    ext = _ext(path)
    if ext == ".emi":
        data_files = sorted(path.parent.glob(f"{path.stem}_*.ser"))
        hint = f"open {data_files[0].name}" if data_files else "open its data file NAME_1.ser"
        raise FileFormatError(f"{path.name} is the index file of a TIA series; {hint}, which holds the image")
    if ext in FOUR_D_EXTENSIONS:
        raise FileFormatError(
            f"{path.name} is a {FOUR_D_EXTENSIONS[ext]} file (4D-STEM data); open it in the 4D-STEM panel or with napari-lowdose denoise4d"
        )
    if ext not in SUPPORTED_EXTENSIONS:
        raise FileFormatError(
            f"{path.name}: unsupported file type '{ext or '(none)'}'; napari-lowdose reads "
            + ", ".join(SUPPORTED_EXTENSIONS)
        )
    if not path.exists():
        raise FileFormatError(f"{path}: no such file")
    if path.is_dir():
        raise FileFormatError(f"{path}: is a folder, not a file")
    if path.stat().st_size == 0:
        raise FileFormatError(f"{path.name} is empty (0 bytes)")
    if ext in TIFF_EXTENSIONS:
        return read_tiff(path)
    if ext in MRC_EXTENSIONS:
        return read_mrc(path)
    return read_rsciio(path)
