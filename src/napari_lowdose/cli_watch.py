"""``napari-lowdose watch DIR``: denoise each new image of an acquisition folder once it is complete.

The logic is :class:`~napari_lowdose.batch.watch.FolderWatcher`; this module parses the options, loads
the model once, prints one line per file (``wrote …`` on stdout, ``error: …`` on stderr) and stops
cleanly on Ctrl-C (a file being denoised then is not written, and is done again on the next start).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

PLUGIN = "napari-lowdose"


def add_parser(sub) -> None:
    w = sub.add_parser(
        "watch",
        help="watch a folder and denoise each new image once it is completely written (Ctrl-C stops)",
        description="Poll DIR and denoise each new image (TIFF, MRC, DM3/DM4, EMD, SER) once its size and modification time have "
        "stayed the same for --settle seconds and it reads cleanly, writing OUTDIR/<stem>_denoised.tif atomically. What was done "
        f"is remembered in OUTDIR/.napari-lowdose-watch.json, so a restart does not do it again.",
    )
    w.add_argument("folder", type=Path, metavar="DIR", help="the acquisition folder (its subfolders are not watched)")
    w.add_argument("-o", "--output", type=Path, default=None, metavar="OUTDIR", help="output folder (default: DIR/denoised)")
    w.add_argument("--model", default=None, help="haadf (the default) or hrtem: a bundled model; or a file NAME.safetensors with NAME.json")
    w.add_argument("--pattern", default="*", metavar="GLOB", help="only file names matching GLOB, e.g. '*.dm4' (default: every readable type)")
    w.add_argument("--interval", type=float, default=1.0, metavar="S", help="seconds between looks at the folder (default 1)")
    w.add_argument("--settle", type=float, default=2.0, metavar="S",
                   help="seconds a file's size and time must stay unchanged before it is read (default 2; raise it for slow network shares)")
    w.add_argument("--tile", type=int, default=None, help="tile size in pixels (default: chosen for the device)")
    w.add_argument("--overlap", type=int, default=None, help="overlap between tiles in pixels")
    w.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    w.add_argument("--flips", type=int, default=1, choices=[1, 2, 4], help="average over flipped copies (2x or 4x the time)")
    w.add_argument("--refine", default="auto", choices=["auto", "none", "wiener"], help="post-processing, as for denoise")
    w.set_defaults(func=run)


def run(args: argparse.Namespace, sleep=time.sleep, clock=time.monotonic) -> int:
    from .batch.task import denoise_path
    from .batch.watch import FolderWatcher
    from .core.errors import LowdoseError
    from .core.model import load_model
    from .core.tiling import TiledDenoiser

    if not args.interval > 0:
        raise LowdoseError(f"--interval must be a positive number of seconds, got {args.interval}")
    if not args.folder.is_dir():
        raise LowdoseError(f"{args.folder}: no such folder to watch")
    outdir = args.output if args.output is not None else args.folder / "denoised"
    watcher = FolderWatcher(args.folder, outdir, pattern=args.pattern, settle=args.settle, clock=clock)
    model = load_model(args.model)
    denoiser = TiledDenoiser(model, tile=args.tile, overlap=args.overlap, device=args.device, flips=args.flips, refine=args.refine)
    print(f"{PLUGIN}: watching {args.folder} for {args.pattern} every {args.interval:g} s; model '{model.name}' on {denoiser.device}; "
          f"outputs in {outdir} ({len(watcher.done)} file(s) done before); Ctrl-C stops", file=sys.stderr, flush=True)
    done = failed = 0
    try:
        for event in watcher.run(lambda path: denoise_path(path, outdir, denoiser), interval=args.interval, sleep=sleep):
            if event.kind == "done":
                done += 1
                print(f"{PLUGIN}: {event.path.name}: {event.line}", flush=True)
            elif event.kind == "failed":
                failed += 1
                print(f"{PLUGIN}: error: {event.line}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        pass
    print(f"\n{PLUGIN}: stopped; {done} file(s) denoised, {failed} failed this run; state in {watcher.state_path}", file=sys.stderr, flush=True)
    return 0
