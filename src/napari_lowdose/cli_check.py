"""``napari-lowdose check NOISY DENOISED``: does a denoised image agree with the noisy data it came from?
Gain and offset estimated from NOISY unless given; prints a summary (or JSON with --json) and can write
the agreement, residual and likelihood maps as TIFFs. Exit 0 when the check passes, 1 when it flags
something, 2 on bad input."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .core.errors import LowdoseError


def add_parser(sub) -> None:
    ck = sub.add_parser(
        "check",
        help="check a denoised image against its noisy data: agreement and atom-likelihood maps, removed lattice (exit 1 if flagged)",
        description="Test DENOISED against NOISY in detected electrons: the local deviance of the residual (agreement map), "
        "the SBD atom likelihood of each blob of DENOISED, and lattice reflections left in the residual. Exit status 0: "
        "agrees within the noise; 1: something flagged; 2: bad input.",
    )
    ck.add_argument("noisy", type=Path, metavar="NOISY", help="the noisy image (detector ADU), as recorded")
    ck.add_argument("denoised", type=Path, metavar="DENOISED", help="the denoised image, same shape and intensity scale")
    ck.add_argument("--gain", type=float, default=None, metavar="ADU/e", help="detector gain (ADU per electron); default: estimated")
    ck.add_argument("--offset", type=float, default=None, metavar="ADU", help="detector dark level (ADU); default: estimated")
    ck.add_argument("--pixel-size", type=float, default=None, metavar="Å", help="pixel size in Å (default: from NOISY's file)")
    ck.add_argument("--alpha", type=float, default=0.01, help="false-alarm rate per test per image (default 0.01)")
    ck.add_argument("--json", action="store_true", help="print the report as JSON")
    ck.add_argument("--maps", type=Path, default=None, metavar="DIR", help="write agreement.tif, residual_z.tif and likelihood.tif to DIR")
    ck.set_defaults(func=run)


def _plane(path: Path):
    from .io import read_image

    images = read_image(path)
    img = images[0]
    data = img.data
    if getattr(data, "ndim", 0) != 2:
        raise LowdoseError(f"{path.name} holds {getattr(data, 'shape', '?')}: the check needs one 2-D image")
    return img


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from .core.trust import check
    from .io import write_image

    if (args.gain is None) != (args.offset is None):
        raise LowdoseError("give both --gain and --offset, or neither (then both are estimated from NOISY)")
    if not 0 < args.alpha < 1:
        raise LowdoseError(f"--alpha must lie between 0 and 1, got {args.alpha}")
    noisy, den = _plane(args.noisy), _plane(args.denoised)
    px = args.pixel_size if args.pixel_size is not None else getattr(noisy, "pixel_size", None)
    report = check(np.asarray(noisy.data), np.asarray(den.data), px, gain=args.gain, offset=args.offset, alpha=args.alpha)
    if args.maps is not None:
        args.maps.mkdir(parents=True, exist_ok=True)
        for name, m in report.maps.items():
            write_image(args.maps / f"{name}.tif", np.asarray(m, np.float32), pixel_size=px)
    d = report.to_dict()
    if args.json:
        print(json.dumps(d, indent=1, ensure_ascii=False))
    else:
        se = "" if d["gain_se"] in (None, 0) else f" ± {d['gain_se']:.0%}"
        print(f"gain {d['gain']:.4g}{se} ADU/e-, offset {d['offset']:.4g} ADU, read noise {d['read_noise']:.3g} ADU ({d['gain_source']})")
        print(f"blobs {d['blobs']['n']} ({d['blobs']['negative']} with ΔL < 0, {d['blobs']['flagged']} flagged); "
              f"flags: {', '.join(f'{k} {v}' for k, v in d['flag_counts'].items())}")
        print(("ok: " if d["ok"] else "FLAGGED: ") + d["message"])
    return 0 if d["ok"] else 1
