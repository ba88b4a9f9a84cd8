"""One file in, its denoised file(s) out: the unit of work that the serial run, the Dask workers and the
folder watch share, so that they give the same results.

No Dask and no Qt here: :func:`denoise_path` takes a ready :class:`~napari_lowdose.core.tiling.TiledDenoiser`
(the caller loads the model once: per process, or per Dask worker) and returns a small, picklable
:class:`FileRecord` instead of raising for a file it cannot do.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..core.errors import LowdoseError
from ..core.progress import drive

OUTPUT_SUFFIX = "_denoised.tif"


@dataclass
class FileRecord:
    """What happened to one input file: ``ok``, the ``outputs`` written (paths), or ``error`` (one
    sentence); ``seconds`` of work (read + denoise + write), and which ``worker`` (address or ``"local"``)
    and process did it."""

    path: str
    ok: bool
    outputs: list[str] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0
    worker: str = "local"
    pid: int = 0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line for a person: what was written, or what went wrong."""
        if self.ok:
            return f"wrote {', '.join(self.outputs)} ({self.seconds:.1f} s)"
        return f"error: {self.error}"

    def to_dict(self) -> dict:
        return asdict(self)


def output_name(path: Path, signal: str | None = None) -> str:
    """``<stem>_denoised.tif``, or ``<stem>_<signal>_denoised.tif`` for one of several signals in a file."""
    return f"{path.stem}{f'_{signal}' if signal else ''}{OUTPUT_SUFFIX}"


def is_output(path: Path) -> bool:
    """A file this package wrote (so a watch on a folder that is also the output folder skips it)."""
    return path.name.endswith(OUTPUT_SUFFIX)


def check_unique_stems(paths: list[Path]) -> None:
    """Two inputs with the same stem would write the same output: refuse before any work."""
    seen: dict[str, Path] = {}
    for p in paths:
        if p.stem in seen and seen[p.stem] != p:
            raise LowdoseError(f"{seen[p.stem]} and {p} would both write {output_name(p)}; rename one or run them into different output folders")
        seen[p.stem] = p


def guard_step(image, result, denoiser, guard: str = "auto", gain: float | None = None, offset: float | None = None):
    """The guard (core/guard.py) after the network, as ``napari-lowdose denoise --guard`` runs it: ``on``,
    or ``auto`` where :func:`~..core.choose.guard_by_default` says so (``off``: never). ``image`` an
    :class:`~..io.Image`; returns (result, note or None)."""
    import numpy as np

    from ..core.choose import guard_by_default
    from ..core.guard import guard_plane

    plane = image.data if np.ndim(image.data) == 2 else None
    if guard == "off" or (guard == "auto" and not guard_by_default(denoiser.model.card, image.pixel_size, plane)):
        return result, None
    if plane is None:
        return result, "guard not applied: it works on one 2-D image (this one has several planes)"
    again = denoiser.like()  # the model that made ``result``, adapted or not
    out, _, note = guard_plane(np.asarray(plane), result, lambda x: drive(again.run(x)), gain, offset)
    return out, note


def denoise_path(path: str | os.PathLike, outdir: str | os.PathLike | None, denoiser, worker: str = "local", on_step=None,
                 lazy_bytes: int | None = None, guard: str = "auto", gain: float | None = None,
                 offset: float | None = None) -> FileRecord:
    """Read ``path``, denoise every image in it with ``denoiser``, write ``outdir/<stem>_denoised.tif``
    (atomically; ``outdir`` None: beside the input). A bad file (unreadable, an RGB image, NaN pixels,
    a device failure) gives ``ok=False`` and one sentence in ``error``; nothing is written for it.
    A 3-D TIFF or MRC stack larger than ``lazy_bytes`` (default :data:`~.stack.LAZY_BYTES`) is read and
    written plane by plane (:mod:`.stack`), with the same result. ``guard``, ``gain``, ``offset``: the
    guard after the network (:func:`guard_step`; 2-D images only)."""
    from ..io import read_image, write_image
    from .stack import LAZY_BYTES, denoise_stack, open_planes

    path = Path(path)
    out = Path(outdir) if outdir is not None else path.parent
    start = time.perf_counter()
    record = FileRecord(str(path), ok=False, worker=worker, pid=os.getpid())
    lazy_bytes = LAZY_BYTES if lazy_bytes is None else lazy_bytes
    try:
        source = open_planes(path) if path.is_file() and path.stat().st_size > lazy_bytes else None
        if source is not None:
            try:
                out.mkdir(parents=True, exist_ok=True)
                seen = len(denoiser.notes)
                denoise_stack(path, source, out / output_name(path), denoiser, on_step)
                record.notes.extend(denoiser.notes[seen:])
            finally:
                source.close()
            record.outputs.append(str(out / output_name(path)))
            record.ok = True
            record.seconds = time.perf_counter() - start
            return record
        images = read_image(path)
        out.mkdir(parents=True, exist_ok=True)
        results = []
        for image in images:  # every image is denoised before anything is written
            signal = image.metadata.get("signal") if len(images) > 1 else None
            seen = len(denoiser.notes)
            result = drive(denoiser.run(image.data, name=path.name), on_step)
            record.notes.extend(denoiser.notes[seen:])
            result, note = guard_step(image, result, denoiser, guard, gain, offset)
            if note:
                record.notes.append(note)
            z = image.scale[0] if image.data.ndim == 3 and image.units[0] == "angstrom" else None
            results.append((out / output_name(path, signal), result, image.pixel_size, z))
        for target, result, px, z in results:
            write_image(target, result, pixel_size=px, z_size=z)
            record.outputs.append(str(target))
        record.ok = True
    except LowdoseError as exc:
        record.error = str(exc)
    except (RuntimeError, MemoryError, OSError) as exc:  # a device failure, out of memory, a full disk: this file only
        record.error = f"{path.name}: {type(exc).__name__}: {exc}".splitlines()[0]
    record.seconds = time.perf_counter() - start
    return record
