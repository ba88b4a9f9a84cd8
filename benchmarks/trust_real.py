"""The trust check on the real files in ../shared/real-data: each denoised with the bundled haadf model
(tiled, CPU), then :func:`napari_lowdose.core.trust.check` with the gain and offset estimated from the
image; prints the report and draws docs/images/trust-real.png (noisy, denoised, agreement map,
likelihood map, one row per file). Denoised images are cached in /tmp/trust-real/.

    PYTHONPATH=src python benchmarks/trust_real.py [--data ../shared/real-data] [--crop 512]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

FILES = ("16_STOimage_1.ser", "Acquisition_18.emd", "multi_signal.dm3")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "real-data")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "images" / "trust-real.png")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/trust-real"))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from napari_lowdose.core.model import load_model
    from napari_lowdose.core.tiling import denoise
    from napari_lowdose.core.trust import check
    from napari_lowdose.io import read_image

    args.cache.mkdir(parents=True, exist_ok=True)
    model = load_model("haadf")
    rows, reports = [], {}
    for name in FILES:
        img = read_image(args.data / name)[0]
        noisy = np.asarray(img.data, np.float64)
        cached = args.cache / f"{name}.haadf.npy"
        if cached.exists():
            den = np.load(cached)
        else:
            t0 = time.perf_counter()
            den = denoise(noisy.astype(np.float32), model, device="cpu")
            print(f"{name}: denoised in {time.perf_counter() - t0:.0f} s")
            np.save(cached, den)
        t0 = time.perf_counter()
        rep = check(noisy, den, img.pixel_size)
        d = rep.to_dict()
        d["seconds"] = round(time.perf_counter() - t0, 1)
        d["flags"] = d["flags"][:8]
        reports[name] = d
        print(f"{name}: {img.data.shape}, {img.pixel_size:.4f} Å/px; gain {d['gain']:.4g}, offset {d['offset']:.5g}, read {d['read_noise']:.3g} ADU "
              f"({d['gain_source']}); flags {d['flag_counts']}; blobs {d['blobs']}; removed spacings {d['removed_spacings'][:8]}; "
              f"agreement {d['agreement']}; autocorrelation {d['autocorrelation']}; {d['seconds']} s\n   -> {d['message']}")
        rows.append((name, noisy, den, rep))
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1, ensure_ascii=False))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 4, figsize=(16, 4.1 * len(rows)), constrained_layout=True)
    for r, (name, noisy, den, rep) in enumerate(rows):
        ny, nx = noisy.shape
        c = min(ny, nx, 256)  # a 256² crop from the centre, so atoms are visible
        sl = (slice((ny - c) // 2, (ny - c) // 2 + c), slice((nx - c) // 2, (nx - c) // 2 + c))
        lo, hi = np.percentile(noisy[sl], (0.5, 99.5))
        axes[r, 0].imshow(noisy[sl], cmap="gray", vmin=lo, vmax=hi)
        axes[r, 0].set_title(f"{name}: noisy (centre {c}²)")
        axes[r, 1].imshow(den[sl], cmap="gray", vmin=lo, vmax=hi)
        axes[r, 1].set_title(f"haadf model: {'ok' if rep.ok else 'FLAGGED'}")
        a = rep.maps["agreement"]
        m = max(float(np.percentile(np.abs(a), 99.9)), 5.0)
        im = axes[r, 2].imshow(a, cmap="PiYG_r", vmin=-m, vmax=m)
        axes[r, 2].set_title(f"agreement (whole image), flag > {rep.thresholds['agreement']:.1f}")
        fig.colorbar(im, ax=axes[r, 2], shrink=0.8)
        L = rep.maps["likelihood"][sl]
        m = max(float(np.percentile(np.abs(L), 99.9)), 0.05)
        im = axes[r, 3].imshow(L, cmap="PiYG", vmin=-m, vmax=m)
        neg = sum(b.delta_l < 0 for b in rep.blobs)
        axes[r, 3].set_title(f"likelihood ΔL (centre): {len(rep.blobs)} blobs, {neg} < 0")
        fig.colorbar(im, ax=axes[r, 3], shrink=0.8)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.savefig(args.out, dpi=70)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
