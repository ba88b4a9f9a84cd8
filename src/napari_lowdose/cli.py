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
    if args.files:
        viewer.open([str(f) for f in args.files], plugin=PLUGIN)
    elif not args.no_sample:
        viewer.open_sample(PLUGIN, "lowdose_pair")
    dock_plugin_widgets(viewer)
    if len(viewer.layers) >= 2:
        viewer.grid.enabled = True  # side by side: noisy | reference
    viewer.scale_bar.visible = True  # physical units from layer.scale / layer.units
    for layer in viewer.layers:
        scale = tuple(round(float(s), 6) for s in layer.scale)
        print(f"{PLUGIN}: layer '{layer.name}' {layer.data.shape} {layer.data.dtype}, scale {scale} {tuple(str(u) for u in layer.units)}")
    if screenshot is not None:
        from qtpy.QtWidgets import QApplication

        viewer.window._qt_window.resize(1400, 900)
        QApplication.processEvents()
        viewer.reset_view()
        viewer.screenshot(str(screenshot), canvas_only=False)
        print(f"{PLUGIN}: wrote {screenshot}")
        viewer.close()
        return 0
    napari.run()
    return 0


def dock_plugin_widgets(viewer) -> list[str]:
    """Dock every widget this plugin's manifest contributes; returns their display names."""
    from npe2 import PluginManager

    pm = PluginManager.instance()
    manifest = pm.get_manifest(PLUGIN)
    names = [w.display_name for w in (manifest.contributions.widgets or [])]
    for name in names:
        viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return names


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
        for image in images:
            print(f"{path}: {image.name}")
            rows = describe(image.data.shape, image.data.dtype, image.scale, image.units, image.axis_labels)
            stats = intensity_stats(image.data)
            rows.append(("intensity", f"min {stats['min']:.6g}, max {stats['max']:.6g}, mean {stats['mean']:.6g}"))
            rows.append(("format", str(image.metadata.get("format", ""))))
            width = max(len(k) for k, _ in rows)
            for key, text in rows:
                print(f"  {key:<{width}}  {text}")
    return status


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
    view.add_argument("--screenshot", type=Path, default=None, help="save a screenshot to this PNG and exit")
    view.set_defaults(func=cmd_view)

    info = sub.add_parser("info", help="print shape, dtype, pixel size and unit of image files")
    info.add_argument("files", nargs="+", type=Path)
    info.set_defaults(func=cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args([*(["--debug"] if args.debug else []), "view"])
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
