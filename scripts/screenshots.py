"""Screenshots of napari with each dock widget on the sample data, for docs/images/.

    python scripts/screenshots.py                      # all of them; starts Xvfb itself on a machine without a screen
    python scripts/screenshots.py denoise resolution   # only these (names: NAMES below; live: the Live panel)

napari-sample.png is the main job's own screenshot (``napari-lowdose view --screenshot``).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "docs" / "images"
NAMES = ("napari-sample", "fft-mask", "denoise", "resolution", "finetune", "live", "segmented", "fourd")


def pump(seconds: float) -> None:
    from qtpy.QtWidgets import QApplication

    end = time.time() + seconds
    while time.time() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def shoot(viewer, name: str) -> None:
    viewer.window._qt_window.resize(1500, 950)
    pump(1.0)
    viewer.screenshot(str(OUT / name), canvas_only=False)
    print(f"wrote {OUT / name}")


def live_panel() -> None:
    """The Live panel watching a folder into which three 512² "acquisitions" (crops of the low-dose
    sample) arrive one after another; it keeps the last two, the Resolution panel follows the newest."""
    import tempfile

    import napari

    from napari_lowdose._sample_data import sample_paths
    from napari_lowdose._viewer import camera, scale_bar
    from napari_lowdose.io import read_image, write_image

    image = read_image(sample_paths()[0])[0]
    with tempfile.TemporaryDirectory() as root:
        tmp = Path(root) / "acquisition"
        tmp.mkdir()
        viewer = napari.Viewer(show=True)
        _, live = viewer.window.add_plugin_dock_widget("napari-lowdose", "Live")
        viewer.window.add_plugin_dock_widget("napari-lowdose", "Resolution")
        live.folder.setText(str(tmp))
        live.keep.setValue(2)
        live.settle.setValue(0.5)
        live.start()
        for i, (y, x) in enumerate([(0, 0), (256, 384), (512, 512)]):
            write_image(tmp / f"frame_{i + 1:03d}.tif", image.data[y : y + 512, x : x + 512], pixel_size=image.pixel_size)
            while f"frame_{i + 1:03d} denoised" not in viewer.layers:
                pump(0.5)
        pump(3.0)  # the Resolution readout of the newest
        viewer.reset_view()
        camera(viewer).zoom *= 2.0
        scale_bar(viewer).visible = True
        shoot(viewer, "live.png")
        live.stop()
        while live.worker is not None:
            pump(0.2)
        viewer.close()


def segmented_panel() -> None:
    """The Segmented detector panel: simulated SrTiO3 [001] DF4 segments at 1000 e-/Å² (detector turned
    35°), the learned reconstruction with the rotation found automatically, next to the truth."""
    import napari

    from napari_lowdose._viewer import camera, grid, scale_bar
    from napari_lowdose.core.segmented.simulate import SegmentedDetector, SegmentedScene, simulate_segments

    sc = SegmentedScene(structure="SrTiO3", thickness=60.0, tilt_mrad=(2.0, -3.0), in_plane_deg=17.0, shape=(96, 96),
                        detector=SegmentedDetector(rotation_deg=35.0))
    smp = simulate_segments(sc, seed=700)
    viewer = napari.Viewer(show=True)
    px = (sc.pixel_size, sc.pixel_size)
    viewer.add_image(smp.noisy(1000.0, seed=0), name="SrTiO3 DF4 segments", scale=(1.0, *px), units=("pixel", "angstrom", "angstrom"))
    viewer.add_image(smp.potential - smp.potential.mean(), name="truth (V·Å)", scale=px, units=("angstrom", "angstrom"), colormap="magma")
    _, w = viewer.window.add_plugin_dock_widget("napari-lowdose", "Segmented detector")
    w.method.setCurrentText("learned")
    w.thickness.setValue(60.0)
    w.run()
    while w.worker is not None:
        pump(0.5)
    w.method.setCurrentText("idpc")
    w.run()
    while w.worker is not None:
        pump(0.5)
    grid(viewer).enabled = True
    scale_bar(viewer).visible = True
    pump(1.0)
    viewer.reset_view()
    camera(viewer).zoom *= 1.6
    shoot(viewer, "segmented.png")


def fourd_panel() -> None:
    """The 4D-STEM panel on a simulated SrTiO3 [001] scan (32 x 32 positions, 64 x 64 px patterns, 300
    electrons per pattern): mean pattern with the detectors, virtual BF and ADF, the pattern at a position."""
    import napari

    from napari_lowdose.core.fourd.simulate import Sim4DConfig, simulate_4dstem

    sim = simulate_4dstem(Sim4DConfig(structure="SrTiO3"), dose=300.0, seed=0)
    viewer = napari.Viewer(show=True)
    viewer.add_image(sim.counts(seed=1), name="SrTiO3 300 e")  # in pixels here, so the grid's views have one unit
    _, panel = viewer.window.add_plugin_dock_widget("napari-lowdose", "4D-STEM")
    panel.points.data = [[10, 12]]
    for layer in viewer.layers:
        layer.visible = layer.name in ("virtual ADF", "virtual BF", "pattern at scan position", "SrTiO3 300 e mean pattern", "ADF detector")
        if layer.name.startswith("virtual"):
            layer.scale = (2.0, 2.0)  # 32 scan positions drawn as large as the 64 px patterns
    viewer.grid.enabled = True
    viewer.grid.stride = 1
    viewer.reset_view()
    pump(1.0)
    shoot(viewer, "fourd.png")
    viewer.close()


def main(names: list[str]) -> None:
    from napari_lowdose._display import has_display, virtual_display
    from napari_lowdose._viewer import camera, grid, scale_bar

    wanted = set(names) or set(NAMES)
    if "napari-sample" in wanted:  # the main job's own screenshot
        target = OUT / "napari-sample.png"
        subprocess.run([sys.executable, "-m", "napari_lowdose.cli", "view", "--screenshot", str(target)], check=True)
    with contextlib.nullcontext() if has_display() else virtual_display():
        import napari

        if "live" in wanted:
            live_panel()

        if "segmented" in wanted:
            segmented_panel()
        if "fourd" in wanted:
            fourd_panel()

        if "fft-mask" in wanted:
            # FFT mask on the low-dose image, with the notch
            viewer = napari.Viewer(show=True)
            viewer.open_sample("napari-lowdose", "lowdose_pair")
            viewer.layers["gold 4 µs (reference)"].visible = False
            _, fft = viewer.window.add_plugin_dock_widget("napari-lowdose", "FFT mask")
            fft.layer_combo.setCurrentText("gold 1 µs (low dose)")
            fft.slider.setValue(40)
            fft.notch.setChecked(True)
            pump(3.0)
            viewer.layers["gold 1 µs (low dose)"].visible = False
            camera(viewer).zoom *= 2.5
            scale_bar(viewer).visible = True
            shoot(viewer, "fft-mask.png")
            viewer.close()

        if "denoise" in wanted:
            # Denoise: the low-dose image and its denoised version side by side
            viewer = napari.Viewer(show=True)
            viewer.open_sample("napari-lowdose", "lowdose_pair")
            viewer.layers["gold 4 µs (reference)"].visible = False
            _, den = viewer.window.add_plugin_dock_widget("napari-lowdose", "Denoise")
            den.layer_combo.setCurrentText("gold 1 µs (low dose)")
            den.run()
            while den.worker is not None or getattr(den, "_trust_busy", False):  # the run, then its trust check
                pump(0.5)
            den.side_by_side.setChecked(True)
            viewer.layers.remove("gold 4 µs (reference)")
            pump(1.0)
            camera(viewer).zoom *= 2.0
            scale_bar(viewer).visible = True
            shoot(viewer, "denoise.png")
            viewer.close()

        if "resolution" in wanted:
            # Resolution: noisy and reference side by side
            viewer = napari.Viewer(show=True)
            viewer.open_sample("napari-lowdose", "lowdose_pair")
            grid(viewer).enabled = True
            _, res = viewer.window.add_plugin_dock_widget("napari-lowdose", "Resolution")
            viewer.layers.selection = set(viewer.layers)
            pump(4.0)
            scale_bar(viewer).visible = True
            shoot(viewer, "resolution.png")
            viewer.close()

        if "finetune" in wanted:
            # Fine-tune: 40 s on the sample pair, with the live plot and the validation preview
            viewer = napari.Viewer(show=True)
            viewer.open_sample("napari-lowdose", "lowdose_pair")
            viewer.window.add_plugin_dock_widget("napari-lowdose", "Denoise")
            _, ft = viewer.window.add_plugin_dock_widget("napari-lowdose", "Fine-tune")
            ft.set_pair(0, "gold 1 µs (low dose)", "gold 4 µs (reference)")
            ft.minutes.setValue(40 / 60)
            ft.train()
            while ft.worker is not None:
                pump(0.5)
            for layer in list(viewer.layers)[:2]:
                layer.visible = False
            viewer.reset_view()
            scale_bar(viewer).visible = True
            shoot(viewer, "finetune.png")
            viewer.close()


if __name__ == "__main__":
    main(sys.argv[1:])
