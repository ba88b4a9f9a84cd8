"""``napari-lowdose denoise FILES -o OUTDIR --workers N | --scheduler ADDRESS``: the batch run on Dask.

``cli.cmd_denoise`` hands over to :func:`run_denoise` when either option is given; the serial run stays
in ``cli.py``. The options come from :func:`add_arguments` on the ``denoise`` parser.
"""

from __future__ import annotations

import argparse
import sys

PLUGIN = "napari-lowdose"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("batch on Dask (one task per file; see docs/usage.md)")
    group.add_argument("--workers", type=int, default=None, metavar="N",
                       help="denoise on a Dask LocalCluster started for this run with N single-threaded worker processes")
    group.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="denoise on a running Dask cluster instead (e.g. tcp://head-node:8786); the workers need napari-lowdose installed and the files on a shared filesystem")
    group.add_argument("--retries", type=int, default=2, metavar="N",
                       help="with --workers: times a file whose worker died (killed, out of memory) is tried again on another before it is reported (default 2)")
    group.add_argument("--memory-limit", default="auto", metavar="BYTES",
                       help="with --workers: memory per worker process before Dask restarts it (e.g. 4GB; default: the machine's memory shared out)")


def dashboard_note(link: str) -> str:
    try:
        import bokeh  # noqa: F401 - Dask serves its dashboard only with bokeh installed
    except ImportError:
        return f"{link} (install bokeh>=3.1 to see it)"
    return link


def _short(path: str) -> str:
    """A path relative to the current folder when it lies below it (as the serial run prints them)."""
    import os

    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def run_denoise(args: argparse.Namespace) -> int:
    from .cli import EXIT_ERROR, _Bar
    from .core.errors import LowdoseError
    from .batch.cluster import DenoiseOptions, iter_denoise_files
    from .core.model import load_model

    if args.workers is not None and args.scheduler:
        raise LowdoseError("give --workers (a cluster started for this run) or --scheduler (a running one), not both")
    if args.retries < 0:
        raise LowdoseError(f"--retries must be 0 or more, got {args.retries}")
    if args.workers is not None and args.workers < 1:
        raise LowdoseError(f"--workers must be at least 1, got {args.workers}")
    options = DenoiseOptions(tile=args.tile, overlap=args.overlap, device=args.device, flips=args.flips, refine=args.refine,
                             threads=1 if args.workers else None, guard=getattr(args, "guard", "auto"),
                             gain=getattr(args, "gain", None), offset=getattr(args, "offset", None))
    where = f"a local Dask cluster of {args.workers} worker process(es), one thread each" if args.workers else f"the Dask cluster at {args.scheduler}"
    if float(getattr(args, "adapt", 0) or 0) > 0:
        raise LowdoseError("--adapt adapts the model to one image at a time: run it without --workers/--scheduler")
    auto = args.model in (None, "auto")
    model = load_model(None if auto else args.model)  # a bad model file: one line, before a cluster starts
    if auto:
        print(f"{PLUGIN}: note: on a cluster every file gets one model: '{model.name}' (the default); give --model hrtem for TEM images",
              file=sys.stderr)
    bar = _Bar("denoise")

    def started(link: str) -> None:
        print(f"{PLUGIN}: {len(args.files)} file(s) with model '{model.name}' on {where}; dashboard: {dashboard_note(link) if link else 'none'}",
              file=sys.stderr)
        bar.update(0, len(args.files))

    gen = iter_denoise_files(args.files, args.output, model=model, workers=args.workers, scheduler=args.scheduler, options=options,
                             memory_limit=args.memory_limit, retries=args.retries, on_start=started)
    records = []
    try:
        while True:
            try:
                step = next(gen)
            except StopIteration as stop:
                records = stop.value
                break
            rec = step.record
            # one line per file above the bar: what was written (stdout), or what went wrong (stderr)
            print("\r" + " " * 100 + "\r", end="", file=sys.stderr, flush=True)
            print(f"{PLUGIN}: {'wrote ' + ', '.join(_short(p) for p in rec.outputs) if rec.ok else 'error: ' + rec.error}", file=sys.stdout if rec.ok else sys.stderr, flush=True)
            bar.last = ""
            bar.update(step.done, step.total, f"{len(step.failed)} failed" if step.failed else "")
    finally:
        bar.close()
    failed = [r for r in records if not r.ok]
    if failed:
        print(f"{PLUGIN}: {len(failed)} of {len(records)} file(s) failed: {', '.join(r.path for r in failed)}", file=sys.stderr)
        return EXIT_ERROR
    return 0
