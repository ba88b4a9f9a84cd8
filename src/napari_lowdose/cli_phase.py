"""``napari-lowdose phase``: the projected potential (V·Å) or phase (rad) from the four segments of a
segmented STEM detector (DF4 / DPC), by integrated DPC or the learned reconstruction; written as a
float32 TIFF or MRC of the scan's shape with its pixel size."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from .cli_simulate import number
from .core.errors import LowdoseError

CONVENTION = ("Segment order A B C D: at rotation 0, A faces +x (increasing column), B faces +y (increasing row), "
              "C faces -x, D faces -y, so that A-C ~ dphi/dx and B-D ~ dphi/dy. A detector turned by --rotation DEG has A turned "
              "from +x towards +y; --flip for one wired mirror-wise (B faces -y).")


def add_parser(sub) -> None:
    ph = sub.add_parser(
        "phase",
        help="projected potential (V·Å) from the four segments of a DF4/DPC detector: iDPC or learned",
        description="Reconstruct the projected potential (or the phase) from a segmented STEM detector: four images A B C D "
        "(TIFF, MRC, DM, ...) or one Velox EMD holding DF4-A .. DF4-D. " + CONVENTION + " DPC loses the mean: the output has mean 0.",
    )
    ph.add_argument("files", nargs="+", type=Path, metavar="FILE", help="A.tif B.tif C.tif D.tif, or one FILE.emd with DF4-A .. DF4-D")
    ph.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.tif", help="output TIFF or MRC (float32, the scan's shape and pixel size)")
    ph.add_argument("--method", default="idpc", choices=["idpc", "learned"], help="integrated DPC (default) or the bundled learned model")
    ph.add_argument("--rotation", default="auto", metavar="DEG|auto", help="scan/detector rotation in degrees, or auto (minimum curl; default)")
    ph.add_argument("--flip", action="store_true", help="the detector is wired mirror-wise (B faces -y at rotation 0)")
    ph.add_argument("--thickness", type=number, default=None, metavar="Å", help="specimen thickness in Å, if known (learned method)")
    ph.add_argument("--tilt", nargs=2, type=number, default=None, metavar=("MRAD", "MRAD"), help="specimen tilt (x, y) in mrad, if known (learned method)")
    ph.add_argument("--voltage", type=number, default=300.0, metavar="kV", help="accelerating voltage in kV (default 300)")
    ph.add_argument("--convergence", type=number, default=25.0, metavar="MRAD", help="probe semi-angle in mrad (default 25)")
    ph.add_argument("--inner", type=number, default=6.0, metavar="MRAD", help="segments' inner collection semi-angle in mrad (default 6)")
    ph.add_argument("--pixel-size", type=number, default=None, metavar="Å", help="scan step in Å (default: from the file)")
    ph.add_argument("--high-pass", type=number, default=0.0, metavar="1/Å", help="damp spatial frequencies below this in the integration (default 0)")
    ph.add_argument("--phase", action="store_true", help="write the phase in rad instead of the projected potential in V·Å")
    ph.add_argument("--model", default=None, metavar="MODEL.safetensors", help="a segmented model other than the bundled one (learned method)")
    ph.set_defaults(func=run)


def config_from_args(args: argparse.Namespace, pixel_size: float | None):
    from .core.segmented import DetectorGeometry
    from .core.segmented.reconstruct import PhaseConfig, parse_rotation

    px = args.pixel_size if args.pixel_size is not None else pixel_size
    if px is None:
        raise LowdoseError("the segment images carry no pixel size; give the scan step with --pixel-size Å")
    if args.thickness is not None and not (math.isfinite(args.thickness) and args.thickness > 0):
        raise LowdoseError(f"--thickness must be a positive number of Å, got {args.thickness}")
    geo = DetectorGeometry(voltage_kv=args.voltage, convergence_mrad=args.convergence, inner_mrad=args.inner)
    return PhaseConfig(method=args.method, rotation_deg=parse_rotation(args.rotation), flip=args.flip, pixel_size=px, geometry=geo,
                       high_pass=args.high_pass, thickness=args.thickness, tilt_mrad=tuple(args.tilt) if args.tilt else None, model=args.model)


def run(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from . import __version__
    from .core.segmented.reconstruct import reconstruct_phase
    from .io import write_image
    from .core.segmented.reconstruct import parse_rotation
    from .io.segments import read_segments

    parse_rotation(args.rotation)  # a bad rotation fails before any file is read
    seg = read_segments(args.files)
    config = config_from_args(args, seg.pixel_size)
    result = reconstruct_phase(seg.data, config)
    out = result.phase if args.phase else result.potential
    what = "phase (rad)" if args.phase else "projected potential (V·Å)"
    prov = {"processing": f"phase reconstruction ({config.method})", "model": config.method if config.method == "idpc" else (config.model or "segmented (bundled)"),
            "input": [str(p) for p in args.files], "rotation_deg": round(result.rotation_deg, 3), "quantity": what,
            "version": __version__, "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    write_image(args.output, out.astype("float32"), pixel_size=config.pixel_size, provenance=prov)
    how = "found by minimum curl" if result.rotation_found else "given"
    print(f"{args.output}: {what} by {config.method}, {out.shape[0]} x {out.shape[1]} at {config.pixel_size:g} Å/px, rotation {result.rotation_deg:.1f}° ({how})")
    return 0
