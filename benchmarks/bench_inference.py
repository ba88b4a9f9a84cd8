"""Tiled U-Net inference: speed vs one pass, achieved GFLOP/s vs the best 3x3 convolution, peak memory.

    python benchmarks/bench_inference.py [--size 2048] [--repeat 3] [--device auto]
    python benchmarks/bench_inference.py --memory [--memory-size 8192] [--narrow]

All ratios come from one run on one machine:
1. default tiling / one pass of the same model (tile larger than the image), images per second;
2. achieved GFLOP/s of the one-pass forward (flops_per_pixel x pixels / time) / the best GFLOP/s of a
   single 3x3 convolution (the shapes the U-Net uses, timed alone) on the same device;
3. ``--memory``: peak resident memory of a fresh process that denoises an --memory-size² float32 image,
   minus the process's memory before the image was made, vs input + output + 1 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
from _timing import median_seconds
import torch

from napari_lowdose.core.model import Model, load_model
from napari_lowdose.core.tiling import TiledDenoiser, denoise, pick_device
from napari_lowdose.core.unet import UNetConfig, flops_per_pixel


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def best_conv_gflops(device: torch.device, channels=(48, 96), size=512, repeat=5) -> tuple[float, str]:
    """Best GFLOP/s of one 3x3 convolution (channels -> same channels) at the given size, over both
    memory layouts (NCHW and channels_last)."""
    best, label = 0.0, ""
    for c, layout in ((c, layout) for c in channels for layout in ("NCHW", "channels_last")):
        conv = torch.nn.Conv2d(c, c, 3, padding=1).to(device).eval()
        x = torch.randn(1, c, size, size, device=device)
        if layout == "channels_last":
            conv, x = conv.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)

        def run():
            with torch.inference_mode():
                conv(x)
            sync(device)

        t = median_seconds(run, repeat)
        gflops = 2 * 9 * c * c * size * size / t / 1e9
        if gflops > best:
            best, label = gflops, f"conv {c}->{c} 3x3 at {size}², {layout}"
    return best, label


def speed(args) -> None:
    device = pick_device(args.device)
    model = load_model(None)
    image = np.random.default_rng(0).poisson(5.0, (args.size, args.size)).astype(np.float32)
    default = TiledDenoiser(model, device=device)

    def one_pass():
        denoise(image, model, tile=1 << 20, device=device)
        sync(device)

    def tiled():
        denoise(image, model, device=device)
        sync(device)

    t_one = median_seconds(one_pass, args.repeat)
    t_tiled = median_seconds(tiled, args.repeat)
    flops = flops_per_pixel(model.card.architecture) * image.size
    achieved = flops / t_one / 1e9
    conv, conv_label = best_conv_gflops(device)
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads; image {args.size}², median of {args.repeat}")
    print(f"one pass:        {t_one * 1e3:9.1f} ms")
    print(f"default tiling:  {t_tiled * 1e3:9.1f} ms  (tile {default.tile}, overlap {default.overlap})")
    print(f"speed ratio tiled / one pass = {t_one / t_tiled:.3f}  (goal >= 0.9)")
    print(f"forward: {flops / image.size / 1e3:.1f} kFLOP/px, {achieved:.1f} GFLOP/s; best single conv {conv:.1f} GFLOP/s ({conv_label})")
    print(f"GFLOP/s ratio U-Net / best conv = {achieved / conv:.3f}  (goal >= 0.8)")


def _memory_child(size: int, narrow: bool) -> None:
    import resource

    def rss_mb() -> float:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    torch.manual_seed(0)
    model = Model.new(UNetConfig(base_channels=16)) if narrow else load_model(None)
    base = rss_mb()
    image = np.random.default_rng(0).random((size, size), dtype=np.float32)
    t0 = time.perf_counter()
    out = denoise(image, model, device="cpu")
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB -> MB on Linux
    print(json.dumps({
        "size": size,
        "model": model.card.architecture.to_dict(),
        "baseline_mb": round(base, 1),
        "peak_mb": round(peak, 1),
        "input_mb": image.nbytes / 2**20,
        "output_mb": out.nbytes / 2**20,
        "seconds": round(seconds, 1),
    }))


def memory(args) -> None:
    cmd = [sys.executable, __file__, "--memory-child", str(args.memory_size)] + (["--narrow"] if args.narrow else [])
    res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    used = res["peak_mb"] - res["baseline_mb"]
    budget = res["input_mb"] + res["output_mb"] + 1024
    print(f"{res['size']}² float32, model {res['model']['base_channels']} channels, {res['seconds']} s")
    print(f"peak memory above the process baseline: {used:.0f} MB; input + output + 1 GB = {budget:.0f} MB; ratio {used / budget:.2f} (goal < 1)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--memory-size", type=int, default=8192)
    parser.add_argument("--narrow", action="store_true", help="memory run with a 16-channel U-Net (same tiling)")
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        _memory_child(args.memory_child, args.narrow)
    elif args.memory:
        memory(args)
    else:
        speed(args)


if __name__ == "__main__":
    main()
