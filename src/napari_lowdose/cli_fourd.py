"""``napari-lowdose denoise4d``: self-supervised denoising of a 4D-STEM file with the scan-neighbour
blind-spot U-Net (core/fourd), trained on the file itself, written block by block as float32 in the
input's shape (scan y, scan x, ky, kx) to .npy, .h5 or .zarr (HDF5 and zarr keep the calibrations).
Ctrl-C during training keeps the best weights so far and goes on to write the result."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from .core.errors import LowdoseError

PLUGIN = "napari-lowdose"


def add_parser(sub) -> None:
    p = sub.add_parser(
        "denoise4d",
        help="denoise a 4D-STEM file (Merlin .mib, .blo, EMD/py4DSTEM .h5, .npy) self-supervised; writes float32 .npy/.h5/.zarr",
        description="Train the scan-neighbour blind-spot U-Net on the file itself (each diffraction pattern predicted from its scan "
        "neighbours, Poisson likelihood) and denoise every pattern. The output has the input's shape, float32, in counts per pixel. "
        "Ctrl-C during training keeps the best weights so far and writes the result.",
    )
    p.add_argument("input", type=Path, metavar="INPUT", help="4D-STEM file: .mib (+.hdr), .blo, .emd, .h5, .npy, or a .h5/.zarr written by denoise4d")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="OUT.npy, OUT.h5 or OUT.zarr (h5/zarr for data larger than memory)")
    p.add_argument("--minutes", type=float, default=3.0, help="training time in minutes, all cycles together (default 3)")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps per cycle (with --minutes: whichever comes first)")
    p.add_argument("--cycles", type=int, default=1, help="refinement cycles: cycle n trains on (1 - beta) x noisy + beta x cycle n-1's result (default 1)")
    p.add_argument("--beta", type=float, default=0.5, help="weight of the previous cycle's result in the next cycle's input (default 0.5)")
    p.add_argument("--neighbours", type=int, default=24, choices=[8, 24], help="scan neighbours the network sees: 8 (3 x 3, as the seed) or 24 (5 x 5; default)")
    p.add_argument("--finish", default="auto", choices=["auto", "fuse", "thin", "gain", "none"], help="auto (default): thin where the scan holds counts and fits in memory, else fuse; fuse: put the centre's own counts back band by band; gain: only match the mean pattern; none: the raw blind-spot prediction; thin: blend the fused prediction with principal components and put back the rings' summed residuals, all chosen on held-out electrons (counts only; the scan in memory)")
    p.add_argument("--index", type=int, default=None, help="plane of a 5-D file (e.g. a Prismatic depth series) to denoise")
    p.add_argument("--memory-mb", type=float, default=512.0, help="RAM for the training tiles in MB (default 512)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling and of the weights (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .core.fourd.denoise import Denoise4DConfig, Denoiser4D
    from .core.progress import drive
    from .io.read4d import read_4dstem
    from .io.write4d import OUTPUT_EXTENSIONS, open_4d_output

    if args.output.suffix.lower() not in OUTPUT_EXTENSIONS:
        raise LowdoseError(f"cannot write {args.output.name}: denoise4d writes {', '.join(OUTPUT_EXTENSIONS)}")
    if args.output.resolve() == args.input.resolve():
        raise LowdoseError(f"the output {args.output.name} would overwrite the input; choose another name")
    if not (math.isfinite(args.minutes) and args.minutes > 0):
        raise LowdoseError(f"--minutes must be a positive number, got {args.minutes}")
    cfg = Denoise4DConfig(minutes=args.minutes, max_steps=args.steps, cycles=args.cycles, beta=args.beta, radius=1 if args.neighbours == 8 else 2,
                          finish=args.finish, memory_mb=args.memory_mb, seed=args.seed)
    ds = read_4dstem(args.input, index=args.index)
    ny, nx, ky, kx = ds.shape
    print(f"{PLUGIN}: {args.input.name}: {ny} x {nx} scan of {ky} x {kx} patterns ({ds.data.dtype}{', lazy' if ds.lazy else ''}); "
          f"training for {args.minutes:g} min, {args.cycles} cycle(s)", file=sys.stderr)
    den = Denoiser4D(ds.data, cfg, name=args.input.name)
    gen = den.train()
    try:
        for rec in gen:
            print(f"{PLUGIN}: {rec.message}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{PLUGIN}: interrupted: writing the result with the best weights so far", file=sys.stderr)
    provenance = {"processing": "denoise4d", "input": str(args.input), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  "config": {k: v for k, v in cfg.__dict__.items()}, "best_heldout_nll": den.best_val}
    with open_4d_output(args.output, ds.shape, ds.calibration(), provenance) as out:
        last = [None]
        drive(den.apply(out), lambda r: last.__setitem__(0, r))
    print(f"{args.output}: denoised {ny} x {nx} x {ky} x {kx} float32 ({last[0].message if last[0] else ''})")
    return 0
