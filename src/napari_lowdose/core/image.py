"""Checks on pixel data shared by the reader, the writers and every compute function.

Axis order is numpy's throughout the package: ``(..., y, x)``; the last two axes are the image plane.
"""

from __future__ import annotations

import numpy as np

from .errors import InvalidImageError

MIN_SIDE = 2  #: images with a side shorter than this (in pixels) are refused


def describe_shape(shape: tuple[int, ...]) -> str:
    return " x ".join(str(int(s)) for s in shape) if shape else "scalar"


def check_image(data, name: str = "image", *, min_side: int = MIN_SIDE, check_finite: bool = True) -> None:
    """Raise :class:`InvalidImageError` with one clear sentence if ``data`` is not a usable image.

    A usable image is a real-valued (integer or floating) array with at least two dimensions, whose
    last two axes (y, x) are at least ``min_side`` pixels long, and (when ``check_finite``) whose
    pixels are all finite. RGB/RGBA data (a trailing axis of length 3 or 4 stored as colour) is not a
    detector image and is refused by the reader before it reaches here (see :func:`looks_like_rgb`).
    """
    # (not getattr(data, "dtype", np.asarray(data).dtype): that default is evaluated, reading a lazy array whole)
    dtype = np.dtype(data.dtype if hasattr(data, "dtype") else np.asarray(data).dtype)
    shape = tuple(int(s) for s in (data.shape if hasattr(data, "shape") else np.shape(data)))
    if np.issubdtype(dtype, np.complexfloating):
        raise InvalidImageError(
            f"{name} holds complex numbers ({dtype}); napari-lowdose works on real-valued "
            "intensity images (take the amplitude or phase first)"
        )
    if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating) or dtype == np.bool_):
        raise InvalidImageError(f"{name} has data type {dtype}, not a number type")
    if len(shape) < 2:
        raise InvalidImageError(f"{name} has {len(shape)} dimension(s) ({describe_shape(shape)}); an image needs at least 2")
    if 0 in shape:
        raise InvalidImageError(f"{name} is empty (shape {describe_shape(shape)})")
    if shape[-1] < min_side or shape[-2] < min_side:
        raise InvalidImageError(
            f"{name} is too small ({shape[-2]} x {shape[-1]} pixels); each side needs at least {min_side} pixels"
        )
    if check_finite and np.issubdtype(dtype, np.floating):
        arr = np.asarray(data)
        finite = np.isfinite(arr)
        if not finite.all():
            bad = int(arr.size - np.count_nonzero(finite))
            raise InvalidImageError(
                f"{name} has {bad} NaN/Inf pixel(s) out of {arr.size}; replace or crop them before processing"
            )


def looks_like_rgb(shape: tuple[int, ...], dtype) -> bool:
    """True for (y, x, 3|4) arrays of uint8 (how colour images are stored)."""
    return len(shape) == 3 and shape[-1] in (3, 4) and np.dtype(dtype) == np.uint8


def describe(shape, dtype, scale=None, units=None, axis_labels=None) -> list[tuple[str, str]]:
    """Rows (field, text) that describe an image: shape with axis names, type, pixel size and unit.

    ``scale``/``units`` per axis as napari holds them; lengths are shown in Å and nm.
    """
    from .units import to_angstrom_factor

    shape = tuple(int(s) for s in shape)
    ndim = len(shape)
    default = [f"axis{i}" for i in range(ndim - 2)] + ["y", "x"][-ndim:] if ndim else []
    labels = list(axis_labels) if axis_labels and len(axis_labels) == ndim else list(default)
    # napari's default labels are "-2", "-1": name them like the defaults
    labels = [default[i] if str(lab).lstrip("-").isdigit() else str(lab) for i, lab in enumerate(labels)]
    scale = list(scale) if scale is not None and len(scale) == ndim else [1.0] * ndim
    units = [str(u) for u in units] if units is not None and len(units) == ndim else ["pixel"] * ndim
    rows = [
        ("shape", " x ".join(f"{n} ({lab})" for n, lab in zip(shape, labels))),
        ("dtype", str(np.dtype(dtype))),
    ]
    if ndim >= 2:
        fy, fx = to_angstrom_factor(units[-2]), to_angstrom_factor(units[-1])
        if fx and fy:
            py, px = float(scale[-2]) * fy, float(scale[-1]) * fx
            size = f"{px:.6g} Å ({px / 10:.6g} nm)" if abs(px - py) <= 1e-6 * px else f"y {py:.6g} Å, x {px:.6g} Å"
            rows.append(("pixel size", size))
            rows.append(("field of view", f"{shape[-2] * py / 10:.4g} x {shape[-1] * px / 10:.4g} nm"))
            rows.append(("unit", "angstrom (layer.scale is in Å)"))
        else:
            rows.append(("pixel size", "unknown (no calibration in the file)"))
            rows.append(("unit", "pixel"))
    for i in range(ndim - 2):
        rows.append((f"{labels[i]} step", f"{float(scale[i]):.6g} {units[i]}"))
    return rows


def intensity_stats(data) -> dict[str, float]:
    """min, max, mean and median of the finite pixels (float64)."""
    arr = np.asarray(data)
    finite = arr[np.isfinite(arr)] if np.issubdtype(arr.dtype, np.floating) else arr.ravel()
    if finite.size == 0:
        return {"min": float("nan"), "max": float("nan"), "mean": float("nan"), "median": float("nan")}
    return {
        "min": float(finite.min()),
        "max": float(finite.max()),
        "mean": float(finite.mean(dtype=np.float64)),
        "median": float(np.median(finite)),
    }


def check_denoisable(data, name: str = "image", min_side: int = 32, kind: str = "", check_constant: bool = True) -> None:
    """Raise :class:`InvalidImageError` (one sentence) before any work if a denoising model cannot take
    ``data`` (axes ``(..., y, x)``): more than 3 dimensions (a 4D-STEM scan, a stack of stacks), a side
    under ``min_side`` pixels (the model's minimum, 2 ** depth), or a plane that is constant (nothing to
    denoise: an unused detector reads all zeros). ``kind``: what the reader recognised (e.g. "4D-STEM");
    ``check_constant`` False skips reading the pixels (a lazy array)."""
    shape = tuple(int(s) for s in np.shape(data))
    if kind == "4D-STEM":
        raise InvalidImageError(
            f"{name} is 4D-STEM data ({describe_shape(shape)}: a scan of diffraction patterns); the denoising models "
            "take 2-D images or 3-D stacks of images, not diffraction patterns"
        )
    if len(shape) > 3:
        raise InvalidImageError(
            f"{name} has {len(shape)} dimensions ({describe_shape(shape)}); denoising takes 2-D images or 3-D stacks of images"
        )
    check_image(data, name, min_side=min_side, check_finite=False)
    if not check_constant:
        return
    arr = np.asarray(data)
    planes = arr.reshape((-1,) + arr.shape[-2:])
    for i, plane in enumerate(planes):
        lo, hi = plane.min(), plane.max()
        if lo == hi:
            where = f" (plane {i})" if len(planes) > 1 else ""
            raise InvalidImageError(f"{name}{where} is constant (every pixel {lo}): there is nothing to denoise")
