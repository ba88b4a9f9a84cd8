"""Command line: ``napari-lowdose`` (the main job: napari with the sample data and the plugin's widgets)
and batch subcommands on the same core.

Errors are one line on stderr and a non-zero exit code, never a traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from .core.errors import LowdoseError
from .core.progress import drive

#: core.losses.NAMED, kept here so that parsing arguments does not import torch (a test checks they agree)
LOSS_NAMES = ("l1", "l2", "psnr", "fourier", "seed")
#: "auto" and core.refine.REFINE_METHODS, kept here so that parsing arguments does not import the spectrum code (a test checks they agree)
REFINE_CHOICES = ("auto", "none", "wiener")

PLUGIN = "napari-lowdose"
EXIT_ERROR = 2  # a clear, expected error (bad file, bad argument)
EXIT_CRASH = 1  # an unexpected error


def cmd_view(args: argparse.Namespace) -> int:
    from ._display import has_display, virtual_display

    if has_display():
        return _run_viewer(args, args.screenshot)
    screenshot = args.screenshot or Path("napari-lowdose.png")
    print(f"{PLUGIN}: no display found; rendering on a virtual display (Xvfb) and saving a screenshot to {screenshot}")
    with virtual_display():
        return _run_viewer(args, screenshot)


def _run_viewer(args: argparse.Namespace, screenshot: Path | None) -> int:
    import napari

    viewer = napari.Viewer(title=f"napari-lowdose {__version__}", show=screenshot is None)
    if screenshot is not None:  # laid out as a shown window (docks, grid), but never on screen
        from qtpy.QtCore import Qt

        viewer.window._qt_window.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
        viewer.window._qt_window.show()
        viewer.window._qt_window.resize(1400, 900)
    failed = 0
    if args.files:
        from ._cli_files import open_files

        failed = open_files(viewer, args.files)  # each file on its own: a bad one is reported, the others open
    elif not args.no_sample:
        viewer.open_sample(PLUGIN, "lowdose_pair")
    viewer.layers.selection = set(viewer.layers)  # the Resolution panel compares them all
    widgets = dock_plugin_widgets(viewer)
    denoiser = widgets.get("Denoise")
    if denoiser is not None and not args.no_denoise and len(viewer.layers):
        denoiser.layer_combo.setCurrentIndex(0)  # the sample's low-dose image (or the first file)
        denoiser.run()
    from ._viewer import grid, scale_bar

    if len(viewer.layers) >= 2:
        if denoiser is not None:
            denoiser.side_by_side.setChecked(True)  # the panel's box says what the grid shows
        else:
            grid(viewer).enabled = True
    scale_bar(viewer).visible = True  # physical units from layer.scale / layer.units
    for layer in viewer.layers:
        scale = tuple(round(float(s), 6) for s in layer.scale)
        print(f"{PLUGIN}: layer '{layer.name}' {layer.data.shape} {layer.data.dtype}, scale {scale} {tuple(str(u) for u in layer.units)}")
    if screenshot is not None:
        import time

        from qtpy.QtWidgets import QApplication

        end = time.monotonic() + 3.0  # let the widgets' first readouts arrive
        limit = time.monotonic() + 600.0
        def denoising() -> bool:  # the denoise run, then its trust check, both on workers
            return denoiser is not None and (denoiser.worker is not None or getattr(denoiser, "_trust_busy", False))

        while time.monotonic() < end or (denoising() and time.monotonic() < limit):
            QApplication.processEvents()
            time.sleep(0.02)
        if denoiser is not None and denoiser.status.text():
            print(f"{PLUGIN}: {denoiser.status.text()}")
        from ._viewer import fit_grid

        viewer.layers.selection = set(viewer.layers)  # the Resolution panel: raw, reference and denoised
        print(f"{PLUGIN}: grid {fit_grid(viewer)}")  # the grid's rows and columns that fill this canvas
        readout = widgets.get("Resolution")
        end = time.monotonic() + 2.0
        # its readouts finish before the screenshot, and no worker outlives the viewer
        while time.monotonic() < end or (readout is not None and readout.busy() and time.monotonic() < limit):
            QApplication.processEvents()
            time.sleep(0.02)
        viewer.reset_view()
        viewer.screenshot(str(screenshot), canvas_only=False)
        print(f"{PLUGIN}: wrote {screenshot}")
        viewer.close()
        return EXIT_ERROR if failed else 0
    from qtpy.QtCore import QTimer

    from ._viewer import fit_grid

    # the grid's rows and columns follow the canvas as layers come (the denoised one) and go
    viewer.layers.events.inserted.connect(lambda event=None: QTimer.singleShot(0, lambda: fit_grid(viewer)))
    viewer.layers.events.removed.connect(lambda event=None: QTimer.singleShot(0, lambda: fit_grid(viewer)))
    QTimer.singleShot(500, lambda: fit_grid(viewer))
    napari.run()
    return EXIT_ERROR if failed else 0


def dock_plugin_widgets(viewer) -> dict:
    """Dock every widget this plugin's manifest contributes; returns {display name: widget}."""
    from npe2 import PluginManager

    pm = PluginManager.instance()
    manifest = pm.get_manifest(PLUGIN)
    from ._viewer import arrange_docks, tabbed

    docked, docks = {}, {}
    for contribution in manifest.contributions.widgets or []:
        name = contribution.display_name
        # tabbed in groups: the window fits the screen and the canvas keeps its height
        dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name, tabify=tabbed(name, docks))
        docked[name], docks[name] = widget, dock
    arrange_docks(viewer, docks)
    return docked


# ------------------------------------------------------------------------------------------ info
def cmd_info(args: argparse.Namespace) -> int:
    from .core.image import describe, intensity_stats
    from .io import read_image

    status = 0
    for path in args.files:
        try:
            images = read_image(path)
        except LowdoseError as exc:
            print(f"{PLUGIN}: error: {exc}", file=sys.stderr)
            status = EXIT_ERROR
            continue
        from ._cli_files import report_skipped

        report_skipped(images)
        for image in images:
            print(f"{path}: {image.name}")
            rows = describe(image.data.shape, image.data.dtype, image.scale, image.units, image.axis_labels)
            stats = intensity_stats(image.data)
            rows.append(("intensity", f"min {stats['min']:.6g}, max {stats['max']:.6g}, mean {stats['mean']:.6g}"))
            rows.append(("format", str(image.metadata.get("format", ""))))
            from ._cli_files import info_rows

            rows = info_rows(image, rows)  # 4D-STEM, detector calibration, provenance
            width = max(len(k) for k, _ in rows)
            for key, text in rows:
                print(f"  {key:<{width}}  {text}")
    return status


# ----------------------------------------------------------------------------- resolution, fftmask
def _pick_images(path: Path, signal: str | None):
    from .io import read_image

    from ._cli_files import report_skipped

    images = read_image(path)
    report_skipped(images)  # the signals that did not open, by name
    if signal is not None:
        chosen = [im for im in images if im.metadata.get("signal") == signal or im.name == signal]
        if not chosen:
            names = ", ".join(repr(im.metadata.get("signal") or im.name) for im in images)
            raise LowdoseError(f"{path.name} has no signal {signal!r}; it has {names}")
        return chosen
    return images


def _plane(image, plane: int):
    data = image.data
    flat = data.reshape((-1,) + data.shape[-2:])
    if not -flat.shape[0] <= plane < flat.shape[0]:
        raise LowdoseError(f"{image.name} has {flat.shape[0]} planes; --plane {plane} is out of range")
    return flat[plane]


def cmd_resolution(args: argparse.Namespace) -> int:
    from ._cli_files import cmd_resolution as run

    return run(args, _pick_images, _plane)


def cmd_fftmask(args: argparse.Namespace) -> int:
    import numpy as np

    from .core.spectrum import iter_fft_mask
    from .io import write_image

    if not 0.0 < args.cutoff <= 1.5:
        raise LowdoseError(f"--cutoff is a fraction of Nyquist in (0, 1.5], got {args.cutoff}")
    images = _pick_images(args.file, args.signal)
    if len(images) > 1:
        names = ", ".join(repr(im.metadata.get("signal") or im.name) for im in images)
        raise LowdoseError(f"{args.file.name} holds {len(images)} images ({names}); choose one with --signal")
    (image,) = images
    def report(step) -> None:
        if step.total > 1:
            print(f"\r{PLUGIN}: fftmask {step.done}/{step.total}", end="", file=sys.stderr, flush=True)

    out = drive(iter_fft_mask(image.data, args.cutoff, args.notch), report)
    if np.issubdtype(image.data.dtype, np.integer):  # same dtype family as the input
        info = np.iinfo(image.data.dtype)
        out = np.clip(np.rint(out), info.min, info.max).astype(image.data.dtype)
    z = image.scale[0] if image.data.ndim == 3 and image.units[0] == "angstrom" else None
    path = write_image(args.output, out, pixel_size=image.pixel_size, z_size=z)
    print(f"{PLUGIN}: wrote {path} ({out.dtype}, pixel size {image.pixel_size or 'unknown'} Å, cutoff {args.cutoff:g} of Nyquist{', notch' if args.notch else ''})")
    return 0


# ------------------------------------------------------------------------------------ denoise
class _Bar:
    """A one-line progress bar on stderr (no dependency)."""

    def __init__(self, label: str, width: int = 30) -> None:
        self.label, self.width, self.last = label, width, ""

    def update(self, done: int, total: int, note: str = "") -> None:
        filled = int(self.width * done / max(total, 1))
        line = f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total}"
        if line != self.last:
            print(line + (f"  {note}" if note else ""), end="", file=sys.stderr, flush=True)
            self.last = line

    def close(self) -> None:
        print(file=sys.stderr, flush=True)


def cmd_denoise(args: argparse.Namespace) -> int:
    from ._cli_files import cmd_denoise as run

    if args.workers or args.scheduler:  # a batch on Dask: cli_batch.py
        from .cli_batch import run_denoise

        return run_denoise(args)
    return run(args, _Bar)


# -------------------------------------------------------------------------------------- train
def cmd_train(args: argparse.Namespace) -> int:
    import json
    import logging
    import platform
    import shlex
    import time

    import torch

    from .core.losses import LossConfig
    from .core.model import Model, load_model, save_model, weights_path
    from .core.train import SimDistribution, SimTrainConfig, iter_train_simulated
    from .core.unet import UNetConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    log_path = args.output.with_suffix(".log")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    log = logging.getLogger("napari_lowdose.train")
    log.setLevel(logging.INFO)
    log.handlers[:] = [logging.FileHandler(log_path, mode="w")]
    log.handlers[0].setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    start = load_model(args.init) if args.init else None
    started_from = None if start is None else {"model": str(args.init), "name": start.name, "training": dict(start.card.training)}
    cfg = SimTrainConfig(
        steps=args.steps,
        batch=args.batch,
        patch=args.patch,
        lr=args.lr,
        seed=args.seed,
        max_seconds=args.minutes * 60 if args.minutes else None,
        validation_images=args.validation_images,
        ema=args.ema,
        distribution=SimDistribution(modalities=tuple(args.modalities), hrtem_camera_psf=tuple(args.hrtem_camera_psf), hrtem_counting=args.hrtem_counting,
                                     atomic_fraction=args.atomic_fraction, atomic_particles=args.atomic_particles,
                                     atomic_corrected=args.atomic_corrected,
                                     atomic_haadf_detected=tuple(args.atomic_detected) if args.atomic_detected else None,
                                     atomic_read_noise_e=args.atomic_read_noise,
                                     atomic_pixel_size=tuple(args.atomic_pixel_size), atomic_counting=args.atomic_counting,
                                     atomic_artifact_scale=tuple(args.atomic_artifacts) if args.atomic_artifacts else None),
        loss=LossConfig.named(args.loss),
        architecture=start.card.architecture if start else UNetConfig(depth=args.depth, base_channels=args.channels),
        normalization=start.card.normalization if start else SimTrainConfig().normalization,
    )
    command = " ".join(shlex.quote(a) for a in [PLUGIN, *args.argv])
    log.info("command: %s", command)
    log.info("config: %s", json.dumps(cfg.to_dict()))
    if start:
        log.info("starting from %s (%s)", args.init, start.name)
    bar = _Bar("train")
    checkpoint = args.output.parent / (args.output.name + "-best")  #: NAME-best.safetensors/.json, rewritten at each new best
    losses: list[float] = []
    curve: list[dict] = []

    def report(p) -> None:
        if p.step == 0:  # a continuation: the starting weights, scored before any step
            curve.append({"step": 0, "seconds": 0.0, "val_psnr_db": round(p.val_psnr, 3)})
            log.info("step 0 (the starting weights) validation PSNR %.3f dB", p.val_psnr)
            return
        losses.append(p.loss)
        note = f"loss {sum(losses[-50:]) / len(losses[-50:]):.4f}"
        if p.val_psnr is not None:
            curve.append({"step": p.step, "seconds": round(p.seconds, 1), "val_psnr_db": round(p.val_psnr, 3)})
            log.info("step %d/%d validation PSNR %.3f dB (best %.3f, step %s)", p.step, p.steps, p.val_psnr, p.best_val_psnr, p.best_step)
        if p.best_weights is not None:  # a checkpoint: a run stopped or crashed later keeps its best weights
            ck = Model.new(cfg.architecture, cfg.normalization, name=args.name,
                           description=f"checkpoint of a training run: best validation weights so far (step {p.best_step})",
                           trained_on={"distribution": cfg.to_dict()["distribution"]},
                           training={"command": command, "checkpoint_step": p.best_step, "validation_psnr_db": round(p.best_val_psnr, 3)})
            ck.net.load_state_dict(p.best_weights)
            save_model(ck, checkpoint)
            log.info("checkpoint %s (step %d)", weights_path(checkpoint).name, p.best_step)
        if p.step % 50 == 0 or p.step == 1:
            log.info("step %d/%d loss %.5f (mean of last 50: %s) %.0f s", p.step, p.steps, p.loss, note[5:], p.seconds)
        bar.update(p.step, p.steps, note + (f", val {p.best_val_psnr:.2f} dB" if p.best_val_psnr else ""))

    t0 = time.perf_counter()
    try:
        model = drive(iter_train_simulated(cfg, model=start, device=args.device), report)
    finally:
        bar.close()
    wall = time.perf_counter() - t0
    result = model.card.training
    model.card.name = args.name
    kinds = {"haadf": "HAADF-STEM (with scan artifacts)", "hrtem": "HRTEM (phase contrast through a CTF)"}
    model.card.description = args.description or (
        f"U-Net (the seed's Noise2Noise architecture) trained on the project's simulator: {' and '.join(kinds[m] for m in cfg.distribution.modalities)} "
        "images of Au/Pt particles on amorphous carbon over wide ranges of pixel size, dose, optics and detector; "
        + (f"{cfg.distribution.atomic_fraction:.0%} of the scenes made of atoms (crystals in zone axes, nanoparticles on amorphous supports, "
           "defects; 0.05-1 Å/px); " if cfg.distribution.atomic_fraction > 0 else "")
        + "target: the noise- and artifact-free image along the same scan."
    )
    model.card.trained_on = {
        "data": "napari_lowdose.core.simulate via napari_lowdose.core.train.SimDistribution",
        "distribution": cfg.to_dict()["distribution"],
        "target": "noise- and artifact-free image in detector units, along the acquisition's scan (its stretch and jitter kept)",
    }
    model.card.training = {
        "command": command,
        "started_from": started_from,
        "seed": cfg.seed,
        "steps": result["steps"],
        "batch": cfg.batch,
        "patch": cfg.patch,
        "learning_rate": cfg.lr,
        "loss": cfg.loss.describe(),
        "ema": cfg.ema,
        "best_step": result["best_step"],
        "start_validation_psnr_db": result.get("start_validation_psnr_db"),
        "final_loss_mean_last_50": round(sum(losses[-50:]) / max(1, len(losses[-50:])), 5),
        "wall_time_s": round(wall, 1),
        "hardware": f"{platform.machine()}, {torch.get_num_threads()} CPU threads" if args.device == "cpu" else str(args.device),
        "torch": torch.__version__,
        "validation_curve": curve,
    }
    model.card.metrics = {"validation_psnr_db": result["best_validation_psnr_db"], "validation_images": cfg.validation_images}
    path = save_model(model, args.output)
    log.info("wrote %s", path)
    for handler in log.handlers:
        handler.close()
    print(f"{PLUGIN}: wrote {path} and {path.with_suffix('.json')} ({result['steps']} steps, {wall / 60:.1f} min, best validation PSNR {result['best_validation_psnr_db']:.2f} dB); log: {log_path}")
    return 0


# ----------------------------------------------------------------------------------- finetune
def _single_plane(path: Path, role: str):
    from .io import read_image

    images = read_image(path)
    if len(images) > 1:
        raise LowdoseError(f"{path.name} holds {len(images)} images; give a file with one image as {role}")
    data = images[0].data
    if data.ndim != 2:
        raise LowdoseError(f"{path.name} is {data.ndim}D {tuple(data.shape)}; fine-tuning takes single 2D images as {role}")
    return images[0]


def cmd_finetune(args: argparse.Namespace) -> int:
    import numpy as np

    from .core.finetune import FinetuneConfig, FineTuner, prepare_pair
    from .core.losses import LossConfig
    from .core.model import load_model, save_model

    if args.reference and len(args.reference) != len(args.noisy):
        raise LowdoseError(f"give one --reference per --noisy ({len(args.noisy)} noisy, {len(args.reference)} reference)")
    if not args.reference and not args.self_supervised:
        raise LowdoseError("give --reference files (one per --noisy), or --self-supervised to train on the noisy images alone")
    if args.reference and args.self_supervised:
        raise LowdoseError("--self-supervised trains on the noisy images alone; leave out --reference")
    config = FinetuneConfig(
        steps=args.steps,
        minutes=None if args.steps and args.minutes is None else (args.minutes or 3.0),
        lr=args.lr,
        batch=args.batch,
        patch=args.patch,
        loss=LossConfig.named(args.loss),
        self_supervised=args.self_supervised,
        clean_reference=not args.raw_reference,
        seed=args.seed,
    )
    pairs = []
    for i, noisy_path in enumerate(args.noisy):
        noisy = _single_plane(noisy_path, "--noisy")
        ref = _single_plane(args.reference[i], "--reference") if args.reference else None
        name = noisy_path.name + (f" / {args.reference[i].name}" if ref is not None else "")
        pair = prepare_pair(np.asarray(noisy.data), None if ref is None else np.asarray(ref.data), name=name, correct_shift=not args.no_shift)
        pairs.append(pair)
    base = load_model(args.base)
    tuner = FineTuner(base, pairs, config, device=args.device)
    for pair in tuner.pairs:
        print(f"{PLUGIN}: {pair.report()}", file=sys.stderr)
    print(f"{PLUGIN}: fine-tuning '{base.name}' on {len(pairs)} image(s) for "
          f"{f'{config.steps} steps' if config.steps else ''}{' or ' if config.steps and config.minutes else ''}{f'{config.minutes:g} min' if config.minutes else ''}"
          f" ({'self-supervised, ' + tuner.likelihood if config.self_supervised else config.loss.describe()})", file=sys.stderr)
    bar = _Bar("finetune")
    interrupted = False
    try:
        drive(tuner.run(), lambda p: bar.update(int(1000 * p.fraction), 1000, p.message))
    except KeyboardInterrupt:
        interrupted = True
        tuner.reason = "interrupted"
    finally:
        bar.close()
    model = tuner.best_model()
    model.card.name = args.name or f"{base.name} fine-tuned"
    model.card.metrics = {**(model.card.metrics or {}), "finetune_validation_psnr_db": tuner.summary()["best_validation_psnr_db"]}
    path = save_model(model, args.output)
    s = tuner.summary()
    print(f"{PLUGIN}: {'interrupted; ' if interrupted else ''}wrote {path} (best of {s['steps']} steps at step {s['best_step']}, "
          f"validation {s['best_validation_psnr_db']} dB{', self-supervised score' if config.self_supervised else ''})")
    return 130 if interrupted else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PLUGIN,
        description="Denoise low-dose STEM/TEM images. With no command: open napari with the sample data and the plugin's widgets.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    view = sub.add_parser("view", help="open napari with files (default: the sample pair) and the plugin's widgets")
    view.add_argument("files", nargs="*", type=Path, help="TIFF, MRC, DM3/DM4, EMD or SER files")
    view.add_argument("--no-sample", action="store_true", help="do not open the sample data")
    view.add_argument("--no-denoise", action="store_true", help="do not denoise the first image on start")
    view.add_argument("--screenshot", type=Path, default=None, help="save a screenshot to this PNG and exit")
    view.set_defaults(func=cmd_view)

    info = sub.add_parser("info", help="print shape, dtype, pixel size and unit of image files")
    info.add_argument("files", nargs="+", type=Path, help="image files (TIFF, MRC, DM3/DM4, EMD, SER); every signal of each is described")
    info.set_defaults(func=cmd_info)

    res = sub.add_parser("resolution", help="resolution cutoff, x/y anisotropy and FRC of an image")
    res.add_argument("file", type=Path, help="image file (TIFF, MRC, DM3/DM4, EMD, SER); with --denoised the raw input")
    res.add_argument("--pixel-size", type=float, default=None, metavar="Å", help="pixel size in Å (default: from the file)")
    res.add_argument("--json", action="store_true", help="print a JSON object (cutoffs in cycles/pixel, resolutions in Å)")
    res.add_argument("--curves", action="store_true", help="with --json: include the radial profiles and the FRC curve")
    res.add_argument("--factor", type=float, default=3.0, help="cutoff where the profile exceeds FACTOR x noise (default 3)")
    res.add_argument("--plane", type=int, default=0, help="plane of a stack to measure (default 0)")
    res.add_argument("--signal", default=None, help="signal of a multi-signal file (e.g. HAADF)")
    res.add_argument("--denoised", action="store_true",
                     help="the half-data FRC of the denoised result: split FILE's counts binomially, denoise each half with --model, FRC at 1/7")
    res.add_argument("--model", default=None, help="with --denoised: haadf (default) or hrtem, bundled; or NAME.safetensors")
    res.add_argument("--gain", type=float, default=None, help="with --denoised: intensity units per counted electron (default: integer counts as they are, else estimated)")
    res.add_argument("--offset", type=float, default=None, help="with --denoised: intensity of zero counts (default 0 with --gain, else estimated)")
    res.add_argument("--seed", type=int, default=0, help="with --denoised: seed of the binomial split (default 0)")
    res.add_argument("--device", default="auto", help="with --denoised: auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    res.set_defaults(func=cmd_resolution)

    fm = sub.add_parser("fftmask", help="low-pass an image with the FFT mask and write it (TIFF or MRC)")
    fm.add_argument("file", type=Path, help="image file (TIFF, MRC, DM3/DM4, EMD, SER)")
    fm.add_argument("-o", "--output", type=Path, required=True, help="output .tif/.tiff/.mrc")
    fm.add_argument("--cutoff", type=float, default=0.65, help="kept radius as a fraction of Nyquist (default 0.65)")
    fm.add_argument("--notch", action="store_true", help="also remove the every-other-column line artifact")
    fm.add_argument("--signal", default=None, help="signal of a multi-signal file (e.g. HAADF)")
    fm.set_defaults(func=cmd_fftmask)

    dn = sub.add_parser("denoise", help="denoise files with the U-Net (tiled), writing OUTDIR/<stem>_denoised.tif")
    dn.add_argument("files", nargs="+", type=Path, help="image files (TIFF, MRC, DM3/DM4, EMD, SER); every image signal of each is denoised")
    dn.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR",
                    help="folder for the results, <stem>[_<signal>]_denoised.tif, with the provenance (model, input, date) in their metadata")
    dn.add_argument("--model", default="auto", help="auto (the default: the bundled model for the mode the file records, STEM: haadf, TEM: hrtem; "
                    "haadf when it records none), haadf or hrtem (bundled), or a file NAME.safetensors with NAME.json")
    dn.add_argument("--adapt", type=float, default=0.0, metavar="SECONDS",
                    help="first adapt the model to each image for this long (self-supervised, on the image itself); "
                    "the adapted weights are used only if they beat the model on a held-out strip (default 0: off)")
    dn.add_argument("--guard", default="auto", choices=["auto", "on", "off"],
                    help="blend the network with a Gaussian or a lattice (Wiener) filter as much as the image's own electrons prefer "
                    "(Poisson thinning, 5 extra network runs on a 256 px crop); auto (default): where the image lies outside the model's "
                    "trained range, with models trained on electron counts (haadf-atomic), and on images of counts without scan noise")
    dn.add_argument("--gain", type=float, default=None, metavar="ADU/e", help="detector gain for the guard (default: estimated from the image)")
    dn.add_argument("--offset", type=float, default=None, metavar="ADU", help="detector offset for the guard (default: estimated)")
    dn.add_argument("--tile", type=int, default=None, help="tile size in pixels (default: chosen for the device)")
    dn.add_argument("--overlap", type=int, default=None, help="overlap between tiles in pixels")
    dn.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    dn.add_argument("--flips", type=int, default=1, choices=[1, 2, 4],
                    help="average over flipped copies (2: + up-down, 4: + left-right; 2x or 4x the time, slightly better)")
    dn.add_argument("--refine", default="auto", choices=list(REFINE_CHOICES),
                    help="post-processing: auto (the model card's choice; the bundled hrtem model: wiener), none, or wiener "
                         "(puts back detail the network smoothed away; white noise only, e.g. HRTEM; not for STEM)")
    dn.set_defaults(func=cmd_denoise)
    from . import cli_batch
    cli_batch.add_arguments(dn)

    tr = sub.add_parser("train", help="train a model on simulated data; writes NAME.safetensors, NAME.json and NAME.log")
    tr.add_argument("-o", "--output", type=Path, required=True, metavar="NAME", help="output path without extension")
    tr.add_argument("--steps", type=int, default=3000, help="optimizer steps (default 3000)")
    tr.add_argument("--batch", type=int, default=8, help="patches per step (default 8)")
    tr.add_argument("--patch", type=int, default=128, help="training patch size in pixels (a multiple of 32)")
    tr.add_argument("--lr", type=float, default=5e-4, help="peak learning rate (cosine schedule)")
    tr.add_argument("--seed", type=int, default=0, help="seed of the simulated training images and of the weights (default 0)")
    tr.add_argument("--minutes", type=float, default=None, help="stop after this wall time (the best weights are kept)")
    tr.add_argument("--loss", default="l1", choices=list(LOSS_NAMES),
                    help="psnr: mean per-image PSNR (every image counts the same); seed: Fourier L1 + resolution + anisotropy + L1")
    tr.add_argument("--ema", type=float, default=0.0, help="validate and keep an exponential moving average of the weights with this decay (e.g. 0.998; default 0: off)")
    tr.add_argument("--validation-images", type=int, default=32, help="simulated validation images (own seed) the best weights are chosen on")
    tr.add_argument("--modalities", nargs="+", default=["haadf", "hrtem"], choices=["haadf", "hrtem"], help="kinds of simulated images to train on (default both)")
    tr.add_argument("--hrtem-camera-psf", nargs=2, type=float, default=[0.0, 0.0], metavar=("LOW", "HIGH"),
                    help="px, range of the HRTEM camera's point-spread rms width (a scintillator camera's MTF, which correlates the noise)")
    tr.add_argument("--hrtem-counting", type=float, default=1.0, metavar="FRACTION",
                    help="fraction of HRTEM images from a counting camera (no point spread); the rest draw one from --hrtem-camera-psf")
    tr.add_argument("--atomic-fraction", type=float, default=0.0, metavar="FRACTION",
                    help="fraction of training scenes made of atoms (crystals, nanoparticles on supports; 0.05-1 Å/px) instead of particle-scale islands")
    tr.add_argument("--atomic-particles", type=float, default=0.45, metavar="FRACTION",
                    help="fraction of the atomic scenes that are nanoparticles on an amorphous support (the rest: crystals and boundaries)")
    tr.add_argument("--atomic-corrected", type=float, default=0.8, metavar="FRACTION",
                    help="fraction of the atomic HAADF scenes imaged with an aberration-corrected probe (18-35 mrad)")
    tr.add_argument("--atomic-detected", nargs=2, type=float, default=None, metavar=("LOW", "HIGH"),
                    help="mean detected electrons per pixel of atomic HAADF images (log-uniform), instead of an incident-dose range")
    tr.add_argument("--atomic-pixel-size", nargs=2, type=float, default=[0.05, 1.0], metavar=("LOW", "HIGH"),
                    help="Å, range of the atomic scenes' pixel sizes (log-uniform; default 0.05 1)")
    tr.add_argument("--atomic-counting", action="store_true",
                    help="atomic images as electron counts (gain 1, offset 0, no read noise) instead of a random analogue detector chain")
    tr.add_argument("--atomic-artifacts", nargs=2, type=float, default=None, metavar=("LOW", "HIGH"),
                    help="range of the scan-artifact strength of atomic HAADF images (default: the islands' 0-1.5)")
    tr.add_argument("--atomic-read-noise", type=float, default=None, metavar="ELECTRONS",
                    help="largest read noise of atomic images, in detected electrons (default: 0-5 ADU whatever the gain)")
    tr.add_argument("--depth", type=int, default=5, help="U-Net levels (default 5, the seed's)")
    tr.add_argument("--channels", type=int, default=48, help="U-Net base channels (default 48, the seed's)")
    tr.add_argument("--init", default=None, metavar="MODEL", help="start from this model's weights and architecture (haadf, hrtem or a file; --depth and --channels are then not used)")
    tr.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps")
    tr.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    tr.add_argument("--name", default="default", help="model name for the card (default 'default')")
    tr.add_argument("--description", default="", help="description for the card (default: one written from the training settings)")
    tr.set_defaults(func=cmd_train)

    from . import cli_simulate

    cli_simulate.add_parser(sub)
    from . import cli_phase
    cli_phase.add_parser(sub)
    from . import cli_watch
    cli_watch.add_parser(sub)
    from . import cli_check
    cli_check.add_parser(sub)
    from . import cli_fourd
    cli_fourd.add_parser(sub)

    ft = sub.add_parser("finetune", help="fine-tune a model on your own (noisy, reference) pairs; Ctrl-C keeps the best weights")
    ft.add_argument("--noisy", type=Path, action="append", required=True, help="noisy (short-dwell) image; repeat for several pairs")
    ft.add_argument("--reference", type=Path, action="append", default=[], help="reference (long-dwell) image of the same area, one per --noisy")
    ft.add_argument("-o", "--output", type=Path, required=True, help="MODEL.safetensors (a MODEL.json card is written beside it)")
    ft.add_argument("--base", default=None, help="model to start from: haadf (the default) or hrtem, bundled; or NAME.safetensors")
    ft.add_argument("--minutes", type=float, default=None, help="training time (default 3 unless --steps is given)")
    ft.add_argument("--steps", type=int, default=None, help="optimizer steps (with --minutes: whichever comes first)")
    ft.add_argument("--self-supervised", action="store_true", help="no reference: blind-spot training with a Poisson likelihood for counts")
    ft.add_argument("--loss", default="seed", choices=["seed", *[n for n in LOSS_NAMES if n != "seed"]], help="paired loss (default seed = Fourier L1 + resolution + anisotropy + L1)")
    ft.add_argument("--lr", type=float, default=1e-4, help="learning rate (default 1e-4)")
    ft.add_argument("--batch", type=int, default=4, help="patches per step (default 4)")
    ft.add_argument("--patch", type=int, default=128, help="training patch size in pixels, a multiple of 32 (default 128)")
    ft.add_argument("--seed", type=int, default=0, help="seed of the patch sampling and of torch (default 0)")
    ft.add_argument("--no-shift", action="store_true", help="report but do not correct the shift between noisy and reference")
    ft.add_argument("--raw-reference", action="store_true", help="train on the reference as it is (default: denoised by the base model first)")
    ft.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps")
    ft.add_argument("--name", default=None, help="model name for the card")
    ft.set_defaults(func=cmd_finetune)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv  # recorded in model cards (train)
    if args.command is None:
        args = parser.parse_args([*(["--debug"] if args.debug else []), "view"])
        args.argv = argv
    try:
        return int(args.func(args) or 0)
    except LowdoseError as exc:
        if args.debug:
            raise
        print(f"{PLUGIN}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # output piped into head & co.
        return 0
    except KeyboardInterrupt:
        print(f"{PLUGIN}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI promises one line, never a traceback
        if args.debug:
            raise
        print(f"{PLUGIN}: unexpected error ({type(exc).__name__}): {exc} (run with --debug for the traceback)", file=sys.stderr)
        return EXIT_CRASH


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
