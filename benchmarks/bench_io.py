"""Reader/writer overhead: napari-lowdose's read_image / write_image vs the bare library call.

    python benchmarks/bench_io.py [--size 2048] [--repeat 7]

Prints medians and the ratio ours / baseline measured in this one run (1.0 = no overhead).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import mrcfile
import numpy as np
from _timing import median_seconds
import tifffile

from napari_lowdose.io import read_image, write_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    data = rng.poisson(5.0, (args.size, args.size)).astype(np.uint16)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = []
        # writes: ours = atomic (temp file + fsync + rename) with calibration; baseline = plain call
        rows.append(("write TIFF (zlib)", median_seconds(lambda: write_image(tmp / "a.tif", data, pixel_size=1.0), args.repeat),
                     "tifffile.imwrite", median_seconds(lambda: tifffile.imwrite(tmp / "b.tif", data, compression="zlib"), args.repeat)))
        rows.append(("write MRC", median_seconds(lambda: write_image(tmp / "a.mrc", data, pixel_size=1.0), args.repeat),
                     "mrcfile.write", median_seconds(lambda: mrcfile.write(tmp / "b.mrc", data, overwrite=True), args.repeat)))
        rows.append(("read TIFF", median_seconds(lambda: read_image(tmp / "a.tif"), args.repeat),
                     "tifffile.imread", median_seconds(lambda: tifffile.imread(tmp / "a.tif"), args.repeat)))
        rows.append(("read MRC", median_seconds(lambda: read_image(tmp / "a.mrc"), args.repeat),
                     "mrcfile.read", median_seconds(lambda: mrcfile.read(tmp / "a.mrc"), args.repeat)))
    print(f"image {args.size}x{args.size} uint16, median of {args.repeat}")
    print(f"{'operation':<20}{'ours (ms)':>11}  {'baseline':<18}{'(ms)':>8}{'ratio':>8}")
    for name, ours, base_name, base in rows:
        print(f"{name:<20}{ours * 1e3:>11.1f}  {base_name:<18}{base * 1e3:>8.1f}{ours / base:>8.2f}")


if __name__ == "__main__":
    main()
