"""The four images of a segmented STEM detector (Thermo DF4 / DPC) as one (4, y, x) image.

* A Velox EMD that holds ``DF4-A`` ... ``DF4-D`` (or ``DPC-A`` ...) opens, in napari, as one 4-channel
  layer "<file> DF4 segments" (axis ``segment`` = A, B, C, D) in place of the four single layers; the
  file's own derived signals (A-C, B-D, iDPC, ...) open as they are (:func:`group_segments`).
* Four files (TIFF or any format :func:`~.read.read_image` reads, one image each) are grouped in the
  order given: A, B, C, D (:func:`read_segments`); they must have the same shape and pixel size.

Segment convention (A faces +x, B +y, C -x, D -y at rotation 0): :mod:`napari_lowdose.core.segmented.dpc`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from ..core.errors import LowdoseError
from .read import ImageData, Images, read_image

KIND_SEGMENTS = "segments"
_SEGMENT = re.compile(r"^(?P<det>DF4|DPC|SEG\w*)[-_ ]?(?P<seg>[ABCD])$", re.IGNORECASE)


def _segment_of(image: ImageData) -> tuple[str, str] | None:
    m = _SEGMENT.match(str(image.metadata.get("signal", "")).strip())
    return (m["det"].upper(), m["seg"].upper()) if m else None


def group_segments(images: Sequence[ImageData]) -> Images:
    """``images`` with every complete set of four same-shaped segments (DF4-A .. DF4-D) replaced by one
    (4, y, x) image at the place of the first; other images, and incomplete sets, stay as they are."""
    out = Images(list(images), getattr(images, "skipped", []))
    found: dict[str, dict[str, int]] = {}
    for i, im in enumerate(out):
        seg = _segment_of(im)
        if seg and im.data.ndim == 2:
            found.setdefault(seg[0], {})[seg[1]] = i
    drop: set[int] = set()
    for det, idx in found.items():
        if set(idx) != set("ABCD"):
            continue
        parts = [out[idx[s]] for s in "ABCD"]
        if len({p.data.shape for p in parts}) != 1 or len({p.scale for p in parts}) != 1:
            continue
        first = parts[0]
        stem = Path(str(first.metadata.get("source", first.name))).stem
        meta = {k: v for k, v in first.metadata.items() if k != "signal"}
        meta.update({"kind": KIND_SEGMENTS, "signal": f"{det} segments", "segments": [p.metadata.get("signal") for p in parts],
                     "description": f"{det} segments A, B, C, D (A faces +x, B +y, C -x, D -y at rotation 0)"})
        grouped = ImageData(np.stack([p.data for p in parts]), f"{stem} {det} segments", (1.0,) + first.scale,
                            ("pixel",) + first.units, ("segment",) + first.axis_labels, meta)
        at = min(idx.values())
        out[at] = grouped
        drop |= {i for i in idx.values() if i != at}
    kept = Images([im for i, im in enumerate(out) if i not in drop], out.skipped)
    return kept


def read_segments(paths: Sequence[str | os.PathLike]) -> ImageData:
    """The segments of one file that holds DF4-A .. DF4-D, or of four single-image files in the order
    A, B, C, D, as one (4, y, x) :class:`ImageData`; LowdoseError with one sentence otherwise."""
    paths = [Path(p) for p in paths]
    if len(paths) == 1:
        images = group_segments(read_image(paths[0]))
        segs = [im for im in images if im.metadata.get("kind") == KIND_SEGMENTS]
        if not segs:
            raise LowdoseError(f"{paths[0].name} holds no segmented-detector images (DF4-A .. DF4-D); give four files A B C D instead")
        return segs[0]
    if len(paths) != 4:
        raise LowdoseError(f"give one file with DF4-A .. DF4-D or four files in the order A B C D, got {len(paths)} files")
    parts = []
    for p in paths:
        images = [im for im in read_image(p) if im.data.ndim == 2]
        if len(images) != 1:
            raise LowdoseError(f"{p.name} must hold exactly one 2-D image to be a segment, it holds {len(images)}")
        parts.append(images[0])
    shapes = [im.data.shape for im in parts]
    if len(set(shapes)) != 1:
        raise LowdoseError("the four segment files must have the same shape, got " + ", ".join(f"{p.name} {s}" for p, s in zip(paths, shapes)))
    sizes = {im.pixel_size for im in parts}
    if len(sizes) != 1:
        raise LowdoseError("the four segment files must have the same pixel size, got " + ", ".join(f"{p.name} {im.pixel_size}" for p, im in zip(paths, parts)))
    first = parts[0]
    meta = {"source": [str(p) for p in paths], "format": first.metadata.get("format"), "kind": KIND_SEGMENTS,
            "segments": [p.name for p in paths], "signal": "segments"}
    return ImageData(np.stack([im.data for im in parts]), f"{paths[0].stem} segments", (1.0,) + first.scale,
                     ("pixel",) + first.units, ("segment",) + first.axis_labels, meta)
