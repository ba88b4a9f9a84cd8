"""Command-line work on files, kept out of cli.py: ``denoise`` (checks before any work, provenance in
the output), ``resolution`` (processed files, the half-data FRC) and ``view``'s file opening (one bad file
never blocks the others). Each prints one line per problem and never a traceback."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

from .core.errors import LowdoseError
from .core.progress import drive

PLUGIN = "napari-lowdose"
EXIT_ERROR = 2


def report_skipped(images) -> None:
    """One stderr line per signal of a file that did not open (io.read.Images.skipped)."""
    for sentence in getattr(images, "skipped", []):
        print(f"{PLUGIN}: note: skipped: {sentence}", file=sys.stderr)


def info_rows(image, rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``rows`` (core.image.describe's) with what the reader recognised: 4D-STEM data and its detector
    calibration (instead of an image's pixel size), the provenance of a file `denoise` wrote."""
    meta = image.metadata
    if meta.get("kind"):
        rows = [(k, v) for k, v in rows if k not in ("pixel size", "unit")]
        rows.append(("kind", str(meta.get("description") or meta["kind"])))
    for axis in meta.get("detector_axes") or []:
        rows.append((f"detector {axis.get('name') or 'axis'}", f"{axis.get('scale')} {axis.get('units')} per pixel"))
    prov = meta.get("provenance")
    if isinstance(prov, dict):
        rows.append(("provenance", ", ".join(f"{k} {v}" for k, v in prov.items() if v not in (None, "", []))))
    return rows


def provenance(model, path: Path, image, denoiser, notes=()) -> dict:
    """What made a denoised file: kept in its TIFF metadata, read back into the layer's metadata.
    ``notes``: what the denoiser said about this image (e.g. a skipped refinement)."""
    return {
        "processing": "denoised",
        "model": model.card.name,
        "model_file": str(model.path) if getattr(model, "path", None) is not None else None,
        "input": str(Path(path).resolve()),
        "signal": image.metadata.get("signal"),
        "refine": denoiser.refine,
        "flips": denoiser.flips,
        "notes": list(notes),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "software": f"{PLUGIN} {_version()}",
    }


def _version() -> str:
    from . import __version__

    return __version__


# ------------------------------------------------------------------------------------- denoise
def _model_for(args, image, cache: dict):
    """(model, why) for one image: the named model, or with ``--model auto`` the bundled model for the
    mode the file records (STEM: haadf, TEM: hrtem; the default when it records none) and its pixel size;
    ``--model haadf`` / ``hrtem`` name a modality: its bundled model for the image's pixel size."""
    from .core.choose import choose_model
    from .core.model import load_model

    pixel_size = image.pixel_size if image is not None else None
    if args.model in ("haadf", "hrtem"):  # a modality: its best bundled model for this pixel size
        mode = "stem" if args.model == "haadf" else "tem"
        name, why = choose_model(mode, pixel_size)
        why = None if name == args.model else f"{name}: the {args.model} model for this pixel size ({pixel_size:.3g} Å)"
    elif args.model not in (None, "auto"):
        name, why = args.model, None
    else:
        name, why = choose_model(image.metadata.get("mode") if image is not None else None, pixel_size)
    if name not in cache:
        cache[name] = load_model(name)
    return cache[name], why


def cmd_denoise(args, bar_class) -> int:
    from .batch.task import guard_step
    from .core.choose import range_note
    from .core.image import check_denoisable
    from .core.tiling import TiledDenoiser
    from .io import read_image, write_image

    from .core.tiling import pick_device

    pick_device(args.device)  # a bad device: one line, before any file is read
    models: dict = {}
    if args.model not in (None, "auto"):
        _model_for(args, None, models)  # a bad model file fails before any file is read
    min_side = 32
    # every file and signal is read and checked before the model runs on any of them
    jobs, failed = [], 0
    for path in args.files:
        try:
            images = read_image(path)
        except LowdoseError as exc:
            failed += 1
            print(f"{PLUGIN}: error: {exc}", file=sys.stderr)
            continue
        report_skipped(images)
        for image in images:
            label = f"{path.name} signal '{image.metadata['signal']}'" if len(images) > 1 and image.metadata.get("signal") else path.name
            try:
                model, why = _model_for(args, image, models) if image.metadata.get("kind") != "4D-STEM" else (None, None)
                min_side = model.card.architecture.multiple if model is not None else min_side
                check_denoisable(image.data, label, min_side=min_side, kind=image.metadata.get("kind", ""))
            except LowdoseError as exc:
                failed += 1
                print(f"{PLUGIN}: error: {exc}", file=sys.stderr)
                continue
            jobs.append((path, images, image, label, model, why))
    args.output.mkdir(parents=True, exist_ok=True)
    adapt_seconds = float(getattr(args, "adapt", 0.0) or 0.0)
    for path, images, image, label, model, why in jobs:
        try:
            denoiser = TiledDenoiser(model, tile=args.tile, overlap=args.overlap, device=args.device, flips=args.flips, refine=args.refine)
            flips = f", averaged over {denoiser.flips} flips" if denoiser.flips > 1 else ""
            refine = ", Wiener refinement" if denoiser.refine == "wiener" else ""
            print(f"{PLUGIN}: {label}: model '{model.name}'" + (f": {why}," if why else "") +
                  f" on {denoiser.device}, tile {denoiser.tile}, overlap {denoiser.overlap}{flips}{refine}", file=sys.stderr)
            note = range_note(model.card, image.pixel_size)
            if note:
                print(f"{PLUGIN}: warning: {label}: {note}", file=sys.stderr)
            if adapt_seconds > 0:
                denoiser = _adapted(denoiser, model, image, label, adapt_seconds, args, bar_class)
            suffix = f"_{image.metadata['signal']}" if len(images) > 1 and image.metadata.get("signal") else ""
            out_path = args.output / f"{path.stem}{suffix}_denoised.tif"
            bar = bar_class(f"{path.name}{suffix}")
            seen = len(denoiser.notes)
            try:
                result = drive(denoiser.run(image.data, name=path.name), lambda s: bar.update(s.done, s.total, s.message))
            finally:
                bar.close()
            notes = list(denoiser.notes[seen:])
            result, guard_note = guard_step(image, result, denoiser, getattr(args, "guard", "off"),
                                            getattr(args, "gain", None), getattr(args, "offset", None))
            if guard_note:
                notes.append(guard_note)
            for n in notes:
                print(f"{PLUGIN}: note: {n}", file=sys.stderr)
            z = image.scale[0] if image.data.ndim == 3 and image.units[0] == "angstrom" else None
            prov = provenance(denoiser.model, path, image, denoiser, notes)
            write_image(out_path, result, pixel_size=image.pixel_size, z_size=z, provenance=prov)
            print(f"{PLUGIN}: wrote {out_path}")
        except LowdoseError as exc:
            failed += 1
            print(f"{PLUGIN}: error: {exc}", file=sys.stderr)
        except (RuntimeError, MemoryError) as exc:  # e.g. a device failure: report, go on with the rest
            failed += 1
            print(f"{PLUGIN}: error: {path.name}: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
    if failed:
        print(f"{PLUGIN}: {failed} file(s) or signal(s) of {len(args.files)} file(s) failed", file=sys.stderr)
        return EXIT_ERROR
    return 0


def _adapted(denoiser, model, image, label, seconds, args, bar_class):
    """The denoiser with the model adapted to this image (its first plane), self-supervised, when that
    beats the starting weights on a held-out strip; ``denoiser`` unchanged otherwise."""
    import numpy as np

    from .core.adapt import iter_adapt

    plane = np.asarray(image.data if image.data.ndim == 2 else image.data.reshape(-1, *image.data.shape[-2:])[0], np.float32)
    bar = bar_class(f"adapt {label}")
    try:
        adapted, report = drive(iter_adapt(plane, model, seconds=seconds, device=denoiser.device.type if hasattr(denoiser.device, "type") else "cpu"),
                                lambda p: bar.update(int(p.fraction * 100), 100, p.message))
    except LowdoseError as exc:  # e.g. too small to adapt on: denoise with the model as it is
        print(f"{PLUGIN}: note: {label}: not adapted: {exc}", file=sys.stderr)
        return denoiser
    finally:
        bar.close()
    print(f"{PLUGIN}: note: {label}: {report.note()}", file=sys.stderr)
    if adapted is model:
        return denoiser
    return denoiser.like(adapted)


# ---------------------------------------------------------------------------------- resolution
def cmd_resolution(args, pick_images, plane_of) -> int:
    from .core.spectrum import ResolutionConfig, resolution
    from .io.read import is_processed

    if args.pixel_size is not None and not args.pixel_size > 0:
        raise LowdoseError(f"--pixel-size must be a positive number of Å, got {args.pixel_size}")
    if (args.gain is not None or args.offset is not None or args.model is not None) and not args.denoised:
        raise LowdoseError("--model, --gain and --offset go with --denoised (the half-data FRC of the denoised result)")
    config = ResolutionConfig(factor=args.factor)
    images = pick_images(args.file, args.signal)  # reports the signals that did not open
    results = []
    for image in images:
        px = args.pixel_size if args.pixel_size is not None else image.pixel_size
        plane = plane_of(image, args.plane)
        processed = is_processed(image.metadata)
        if args.denoised:
            if processed:
                raise LowdoseError(
                    f"{args.file.name} is already processed ({processed}); --denoised takes the raw input ({_input_hint(image)})"
                )
            results.append((image, _half_data(plane, px, args)))
        else:
            results.append((image, resolution(plane, pixel_size=px, config=config, processed=processed or None)))
    if args.json:
        objs = [{"file": str(args.file), "name": im.name, **rep.to_dict(curves=args.curves)} for im, rep in results]
        print(json.dumps(objs[0] if len(objs) == 1 else objs, indent=2))
    else:
        for im, rep in results:
            print(f"{args.file}: {im.name}")
            for line in rep.summary().splitlines():
                print(f"  {line}")
    return 0


def _input_hint(image) -> str:
    prov = image.metadata.get("provenance") or {}
    return f"its input was {prov['input']}" if prov.get("input") else "the file it was made from"


class _HalfDataReport:
    """The half-data FRC with the model's name, in the shape cmd_resolution prints."""

    def __init__(self, result, model_name: str) -> None:
        self.result, self.model_name = result, model_name

    def to_dict(self, curves: bool = False) -> dict:
        return {"denoised_with": self.model_name, "cutoff": None,
                "note": "the spectral cutoff of a denoised image is not its resolution; this is the half-data FRC",
                **self.result.to_dict(curves)}

    def summary(self) -> str:
        return f"denoised with {self.model_name}\n{self.result.summary()}\n({self.result.METHOD})"


def _half_data(plane, px, args):
    from .core.halfmap import half_data_frc
    from .core.model import load_model
    from .core.tiling import TiledDenoiser

    model = load_model(args.model)
    denoiser = TiledDenoiser(model, device=args.device)
    result = half_data_frc(plane, lambda half: drive(denoiser.run(half)), pixel_size=px, gain=args.gain, offset=args.offset,
                           seed=args.seed)
    return _HalfDataReport(result, model.card.name)


# ---------------------------------------------------------------------------------------- view
def open_files(viewer, files) -> int:
    """Open each file on its own: a file that fails is reported (one line) and the others still open.
    Returns the number of files that failed."""
    from .io import read_image
    from .io.segments import group_segments

    failed = 0
    for path in files:
        try:
            images = group_segments(read_image(path))  # DF4-A .. DF4-D: one 4-channel layer
        except LowdoseError as exc:
            failed += 1
            print(f"{PLUGIN}: error: {exc}", file=sys.stderr)
            continue
        report_skipped(images)
        for image in images:
            viewer.add_image(image.data, **image.layer_kwargs())
    return failed
