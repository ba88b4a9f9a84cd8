"""tk-r-em and ours on the real instrument files in ../shared/real-data/ (no truth): a figure, noisy | ours
| tk-r-em, to look at (ours: the bundled model ``denoise --model auto`` picks from the file's metadata).

    PYTHONPATH=src python benchmarks/peers/real_files.py [--data ../shared/real-data] [--out benchmarks/peers/out]
        [--reuse] [--figure docs/images/real-peers.png] [--model haadf=FILE]

Writes OUT/real_tkrem.npz (restored float32 images, one key per file and signal: ``FILE::SIGNAL``),
OUT/real_tkrem.json (per key: file, signal, shape, pixel size in Å, tk-r-em network, why, seconds) and
OUT/real_tkrem.png. Files are read with napari_lowdose.io.read_image; stacks give their first plane;
images under 64 px on a side, constant (empty) signals and non-image signals are skipped (listed in the JSON with the reason).

Choice of network: every usable image in the folder is STEM (HAADF/ADF/BF, by the folder's README and
the files' own signal titles), so ``sfr_*stem``; high- or low-resolution family from the pixel size by
:func:`tkrem.model_for` (<= 1 Å: ``sfr_hrstem``, else ``sfr_lrstem``). The one TEM file
(fei_example_tem_stack.emd) is 3 x 3 px and is skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tkrem import model_for, restore  # noqa: E402

from napari_lowdose.io import read_image  # noqa: E402

HERE = Path(__file__).resolve().parent
MIN_SIDE = 64
TEM_FILES = {"fei_example_tem_stack.emd"}  #: by the folder's README: the one TEM (parallel-beam) file


def collect(data_dir: Path) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    images, info = {}, {}
    for path in sorted(p for p in data_dir.iterdir() if p.is_file()):
        if path.suffix.lower() in (".md", ".emi", ".hdr"):
            continue
        try:
            found = read_image(path)
        except Exception as e:  # noqa: BLE001 -- a file we cannot read is listed, not fatal
            info[path.name] = {"file": path.name, "skipped": f"{type(e).__name__}: {e}"}
            continue
        for im in found:
            key = f"{path.name}::{im.name}"
            a = np.asarray(im.data)
            while a.ndim > 2:
                a = a[0]
            rec = {"file": path.name, "signal": im.name, "file_shape": list(np.shape(im.data)), "pixel_A": im.pixel_size,
                   "mode": im.metadata.get("mode")}
            if a.ndim != 2 or min(a.shape) < MIN_SIDE:
                rec["skipped"] = f"shape {list(a.shape)}: not a 2-D image of at least {MIN_SIDE} px a side"
            elif float(np.ptp(a)) == 0.0:
                rec["skipped"] = f"constant image (every pixel {a.flat[0]:g}): an empty detector signal"
            else:
                modality = "tem" if path.name in TEM_FILES else "stem"
                rec["model"] = model_for(modality, im.pixel_size)
                rec["why"] = (f"{modality.upper()} file, pixel {im.pixel_size:.3g} Å "
                              f"{'<=' if rec['model'].startswith('sfr_hr') else '>'} 1 Å" if im.pixel_size else
                              f"{modality.upper()} file, no pixel size: high-resolution network")
                rec["shape"] = list(a.shape)
                images[key] = a.astype(np.float32)
            info[key] = rec
    return images, info


def figure(images: dict[str, np.ndarray], results: dict[str, dict[str, np.ndarray]], info: dict, path: Path,
           crop: int = 192) -> None:
    """One row per image: noisy | each method; images over ``crop`` px a side show their centre ``crop``
    px at full resolution (atomic columns visible); grey levels: 0.5-99.5 percentiles of each panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in images if all(k in r for r in results.values())]
    methods = list(results)
    fig, axs = plt.subplots(len(keys), 1 + len(methods), figsize=(2.6 * (1 + len(methods)), 2.7 * len(keys)), squeeze=False)
    for row, k in zip(axs, keys):
        a = images[k]
        cut = (slice(None), slice(None))
        if max(a.shape) > crop:
            y0, x0 = max(0, (a.shape[0] - crop) // 2), max(0, (a.shape[1] - crop) // 2)
            cut = (slice(y0, y0 + crop), slice(x0, x0 + crop))
        panels = [(a, "noisy")] + [(results[m][k], f"{m}: {info[k].get(m + '_model', '')}") for m in methods]
        for ax, (im, title) in zip(row, panels):
            im = im[cut]
            lo, hi = np.percentile(im, (0.5, 99.5))
            ax.imshow(im, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_title(title, fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
        px = info[k]["pixel_A"]
        row[0].set_title(f"{k.split('::')[0][:30]}\n{px:.3g} Å/px" if px else k.split("::")[0][:30], fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def ours(images: dict[str, np.ndarray], info: dict, replace: dict[str, str]) -> dict[str, np.ndarray]:
    """Each image as ``denoise`` runs it by default: the bundled model ``--model auto`` picks (file's mode
    and pixel size), then the Gaussian guard where the image lies outside the model's range (``--guard
    auto``; gain and offset estimated from the image, as nothing else is known of these files)."""
    from napari_lowdose.core.choose import choose_model, guard_by_default
    from napari_lowdose.core.guard import guard_plane
    from napari_lowdose.core.model import load_model
    from napari_lowdose.core.tiling import denoise

    out = {}
    for k, a in images.items():
        name, why = choose_model(info[k].get("mode"), info[k]["pixel_A"])
        model = load_model(replace.get(name, name))
        t = time.perf_counter()
        out[k] = denoise(a, model)
        note = "no guard (--guard auto: inside the model's range)"
        if guard_by_default(model.card, info[k]["pixel_A"], a):
            out[k], _, note = guard_plane(a, out[k], lambda x: denoise(x, model))
        info[k].update(ours_model=name, ours_why=why, ours_guard=note, ours_seconds=round(time.perf_counter() - t, 2))
        print(f"{k}: {note}", flush=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(HERE.parents[2] / "shared" / "real-data"))
    p.add_argument("--out", default=str(HERE / "out"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--figure", default=None, help="also write this figure: noisy | ours | tk-r-em (e.g. docs/images/real-peers.png)")
    p.add_argument("--model", action="append", default=[], metavar="NAME=FILE", help="replace a bundled model of ours")
    p.add_argument("--reuse", action="store_true",
                   help="keep the restored images already in OUT/real_tkrem.npz (same keys), run tk-r-em only for the rest")
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    images, info = collect(Path(a.data))
    restored, old = {}, {}
    if a.reuse and (out / "real_tkrem.json").exists() and (out / "real_tkrem.npz").exists():
        old_info = json.loads((out / "real_tkrem.json").read_text())
        with np.load(out / "real_tkrem.npz") as z:
            restored = {k: z[k] for k in z.files if k in images and old_info.get(k, {}).get("model") == info[k]["model"]}
        for k in restored:
            info[k]["seconds_for_group"] = old_info[k].get("seconds_for_group")
    for model in sorted({info[k]["model"] for k in images if k not in restored}):
        keys = [k for k in images if info[k]["model"] == model and k not in restored]
        t = time.perf_counter()
        restored.update(restore({k: images[k] for k in keys}, model, threads=a.threads))
        dt = time.perf_counter() - t
        for k in keys:
            info[k]["seconds_for_group"] = round(dt, 1)
        print(f"{model}: {len(keys)} image(s) in {dt:.1f} s (one process, model load included)", flush=True)
    np.savez(out / "real_tkrem.npz", **restored)
    (out / "real_tkrem.json").write_text(json.dumps(info, indent=1))
    for k in restored:
        info[k]["tk-r-em_model"] = info[k]["model"]
    results = {"ours": ours(images, info, dict(m.split("=", 1) for m in a.model)), "tk-r-em": restored}
    (out / "real_tkrem.json").write_text(json.dumps(info, indent=1))
    figure(images, results, info, Path(a.figure) if a.figure else out / "real_tkrem.png")
    for k, rec in info.items():
        print(k, "->", rec.get("model") or rec.get("skipped"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
