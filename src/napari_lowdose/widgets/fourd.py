"""The 4D-STEM panel: explore a scan of diffraction patterns and denoise it.

Choose a 4D image layer (scan y, scan x, ky, kx), or open a file (Merlin .mib, .blo, EMD/py4DSTEM .h5,
.npy). The panel shows the mean diffraction pattern with two detector Shapes layers drawn on it: "BF
detector" (one circle: a disc) and "ADF detector" (two concentric circles: the annulus between them);
editing them updates the virtual bright-field and annular dark-field images live. Clicking on a virtual
image (the "scan position" Points layer) shows the pattern at that position. Denoise trains the
scan-neighbour blind-spot U-Net (core/fourd) on a worker thread with progress and Cancel (which keeps the
best weights and still denoises) and adds the result as a new 4D layer. Thin: all numbers come from core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from ..core.errors import LowdoseError
from ..core.fourd.denoise import Denoise4DConfig, Denoiser4D
from ..core.fourd.data import check_4d
from ..core.fourd.detector import DetectorRegion, detector_mask, iter_mean_pattern, iter_virtual_image, standard_regions
from ._layers import fill_combo, show_error, stop_when_destroyed

if TYPE_CHECKING:
    import napari

BF, ADF = "BF", "ADF"


def _denoise_job(data, config: Denoise4DConfig, holder: dict):
    """Worker generator: yields ("denoiser", d) first (so Cancel can reach it), then progress records;
    returns the denoised float32 array (training stopped early still applies the best weights)."""
    den = Denoiser4D(data, config)
    holder["denoiser"] = den
    yield ("denoiser", den)
    yield from den.train()
    out = yield from den.apply()
    return out


def _pattern_at(data, y: int, x: int) -> np.ndarray:
    """The (ky, kx) pattern at scan position (y, x) as float32 numpy (a dask array reads one block)."""
    return np.asarray(data[y, x], np.float32)


def circles(shapes_layer) -> list[tuple[tuple[float, float], float]]:
    """(centre (ky, kx), radius) px of each ellipse of a Shapes layer (its bounding box, data coordinates)."""
    out = []
    for verts, kind in zip(shapes_layer.data, shapes_layer.shape_type):
        v = np.asarray(verts)[:, -2:]
        lo, hi = v.min(axis=0), v.max(axis=0)
        out.append((tuple(((lo + hi) / 2).tolist()), float(np.mean(hi - lo) / 2)))
    return out


def region_from_shapes(shapes_layer) -> DetectorRegion | None:
    """One circle: a disc; two or more: the annulus between the smallest and the largest (centred on the
    largest); none: None."""
    c = circles(shapes_layer)
    if not c:
        return None
    if len(c) == 1:
        return DetectorRegion(c[0][0], max(c[0][1], 0.5))
    c.sort(key=lambda item: item[1])
    inner, outer = c[0][1], c[-1][1]
    return DetectorRegion(c[-1][0], max(outer, inner + 0.5), inner)


def _ellipse(center, radius) -> np.ndarray:
    """The four corners of the circle's bounding box (napari reads two points as centre and radii)."""
    (cy, cx), r = center, radius
    return np.array([[cy - r, cx - r], [cy - r, cx + r], [cy + r, cx + r], [cy + r, cx - r]])


class FourDWidget(QWidget):
    view_ready = Signal(str)  #: "mean", "BF", "ADF" or "pattern": that view was just updated (main thread)

    def __init__(self, napari_viewer: "napari.viewer.Viewer") -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.worker = None
        self.job: dict = {}
        self.result = None
        self.layer = None
        self._bar = None
        self._views: dict = {}  # key -> the worker computing that view
        self._serial: dict[str, int] = {}  # key -> number of the newest request

        self.layer_combo = QComboBox()
        self.open_button = QPushButton("Open 4D-STEM file…")
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(0.1, 600.0)
        self.minutes.setValue(3.0)
        self.minutes.setSuffix(" min")
        self.steps = QSpinBox()
        self.steps.setRange(0, 1_000_000)
        self.steps.setSpecialValueText("time only")
        self.cycles = QSpinBox()
        self.cycles.setRange(1, 10)
        self.cycles.setValue(1)
        self.finish = QComboBox()
        for label, value in (("auto: thin where it fits, else fuse", "auto"), ("fuse: centre counts put back", "fuse"),
                             ("thin: blend with PCA chosen on held-out electrons", "thin"),
                             ("mean gain only", "gain"), ("none (raw prediction)", "none")):
            self.finish.addItem(label, value)
        self.finish.setToolTip("What follows the network: 'auto' is 'thin' for a scan of counts that fits in memory, else 'fuse'; 'fuse' puts the centre's own counts back band by band; 'thin' blends "
                               "it with principal components chosen on electrons held out by Poisson thinning (counts only, the "
                               "whole scan in memory; docs/fourd.md)")
        self.denoise_button = QPushButton("Denoise")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.status = QLabel("choose a 4D layer (scan y, scan x, ky, kx) or open a file")
        self.status.setWordWrap(True)

        form = QFormLayout()
        form.addRow("4D data", self.layer_combo)
        form.addRow("", self.open_button)
        form.addRow("training time", self.minutes)
        form.addRow("steps (0: time)", self.steps)
        form.addRow("refinement cycles", self.cycles)
        form.addRow("finish", self.finish)
        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addWidget(self.denoise_button)
        box.addWidget(self.cancel_button)
        box.addWidget(self.status)
        box.addStretch()

        self.open_button.clicked.connect(lambda: self.open_file())
        self.layer_combo.currentTextChanged.connect(lambda _: self.setup())
        self.denoise_button.clicked.connect(self.denoise)
        self.cancel_button.clicked.connect(self.cancel)
        self.viewer.layers.events.inserted.connect(self._refresh)
        self.viewer.layers.events.removed.connect(self._refresh)
        stop_when_destroyed(self)
        self._refresh()

    # ----------------------------------------------------------------- layers
    def _four_d_layers(self) -> list:
        from napari.layers import Image

        return [lay for lay in self.viewer.layers if isinstance(lay, Image) and lay.ndim == 4 and not lay.rgb]

    def _refresh(self, event=None) -> None:
        previous = fill_combo(self.layer_combo, [lay.name for lay in self._four_d_layers()])
        if self.layer_combo.currentText() and (self.layer is None or self.layer_combo.currentText() != previous or self.layer not in self.viewer.layers):
            self.setup()

    def open_file(self, path: str | None = None) -> None:
        """Read a 4D-STEM file into a new 4D layer (a file dialog without ``path``)."""
        from ..io.read4d import read_4dstem

        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Open 4D-STEM data", "", "4D-STEM (*.mib *.hdr *.blo *.emd *.h5 *.hdf5 *.npy)")
            if not path:
                return
        try:
            ds = read_4dstem(path)
        except LowdoseError as exc:
            show_error(self.status, str(exc))
            return
        layer = self.viewer.add_image(ds.data, **ds.layer_kwargs())
        self.layer_combo.setCurrentText(layer.name)
        self.setup()

    def _put(self, name: str, data, kind: str = "image", **kwargs):
        if name in self.viewer.layers:
            layer = self.viewer.layers[name]
            if kind == "image":
                layer.data = data
                layer.reset_contrast_limits()
            return layer
        add = getattr(self.viewer, f"add_{kind}")
        return add(data, name=name, **kwargs)

    # ------------------------------------------------------------------ views
    def _view(self, key: str, func, *args, done) -> None:
        """Run ``func(*args)`` (a core generator or function, given arrays, never layers) on a worker; the
        newest request per ``key`` wins: an older one still running is told to quit and its result is
        dropped. ``done(result)`` runs in the main thread, then :attr:`view_ready` is emitted with ``key``."""
        from napari.qt.threading import create_worker

        old = self._views.pop(key, None)
        if old is not None:
            old.quit()  # a generator stops at its next block of scan rows
        self._serial[key] = serial = self._serial.get(key, 0) + 1
        layer = self.layer
        worker = create_worker(func, *args, _start_thread=False, _connect={"errored": self._on_error})
        if hasattr(worker, "yielded"):
            worker.yielded.connect(lambda rec: self._serial.get(key) == serial and self.status.setText(rec.message))

        def returned(result) -> None:
            if self._serial.get(key) == serial and self.layer is layer:
                done(result)
                self.view_ready.emit(key)

        worker.returned.connect(returned)
        worker.finished.connect(lambda: self._views.get(key) is worker and self._views.pop(key))
        self._views[key] = worker
        worker.start()

    def views_busy(self) -> bool:
        """True while a mean pattern, virtual image or pattern is being computed."""
        return bool(self._views)

    def setup(self) -> None:
        """For the chosen 4D layer: the scan-position point at once, then on workers the mean pattern, the
        BF/ADF detectors (from its bright disc), the virtual images and the pattern at the point. Nothing
        is read from the data in the GUI thread, so a lazy multi-GB dataset never blocks napari."""
        name = self.layer_combo.currentText()
        if not name or name not in self.viewer.layers:
            return
        self.layer = self.viewer.layers[name]
        data = self.layer.data  # the array, handed to the workers (never the layer)
        try:
            check_4d(data, name)
        except LowdoseError as exc:
            show_error(self.status, str(exc))
            return
        scan = tuple(float(s) for s in self.layer.scale[:2])
        pname = "scan position"
        if pname in self.viewer.layers:
            self.viewer.layers.remove(pname)
        start = np.array([[data.shape[0] // 2, data.shape[1] // 2]], float) * np.array(scan)
        self.points = self.viewer.add_points(start, name=pname, face_color="red", size=max(scan) * 1.5)
        self.points.events.data.connect(lambda event: self.show_pattern())
        self.points.mode = "add"
        self.show_pattern()
        self.status.setText(f"{name}: reading the mean pattern…")
        self._view("mean", iter_mean_pattern, data, done=self._mean_ready)

    def _mean_ready(self, mean: np.ndarray) -> None:
        name = self.layer.name
        self.mean = mean
        self._put(f"{name} mean pattern", np.log1p(np.maximum(mean, 0)), colormap="magma")
        bf, adf = standard_regions(mean)
        detectors = {BF: [_ellipse(bf.center, bf.outer)], ADF: [_ellipse(adf.center, adf.inner), _ellipse(adf.center, adf.outer)]}
        colours = {BF: "cyan", ADF: "orange"}
        self.detectors = {}
        for key, shapes in detectors.items():
            lname = f"{key} detector"
            if lname in self.viewer.layers:
                self.viewer.layers.remove(lname)
            layer = self.viewer.add_shapes(shapes, shape_type="ellipse", name=lname, edge_color=colours[key], face_color="transparent", edge_width=0.5)
            layer.events.data.connect(lambda event, key=key: self.update_virtual(key))
            self.detectors[key] = layer
        for key in (BF, ADF):
            self.update_virtual(key)
        self.viewer.layers.selection.active = self.points
        ny, nx, ky, kx = self.layer.data.shape
        self.status.setText(f"{name}: {ny} x {nx} scan of {ky} x {kx} patterns. Edit the BF/ADF detector circles; click on a virtual image to see a pattern.")

    def update_virtual(self, key: str) -> None:
        """Recompute the virtual image of detector ``key`` (BF or ADF) on a worker from its Shapes layer."""
        if self.layer is None or key not in getattr(self, "detectors", {}):
            return
        try:
            region = region_from_shapes(self.detectors[key])
            if region is None:
                return
            mask = detector_mask(self.layer.data.shape[2:], region)
        except LowdoseError as exc:
            show_error(self.status, str(exc))
            return
        scan = tuple(float(s) for s in self.layer.scale[:2])
        units = tuple(str(u) for u in self.layer.units[:2])
        self._view(key, iter_virtual_image, self.layer.data, mask, f"virtual {key}",
                   done=lambda image: self._put(f"virtual {key}", image, scale=scan, units=units, colormap="gray"))

    def show_pattern(self) -> None:
        """Show the pattern at the last point of "scan position" (read on a worker)."""
        if self.layer is None or not len(self.points.data):
            return
        scan = np.array([float(s) for s in self.layer.scale[:2]])
        y, x = np.clip(np.round(np.asarray(self.points.data[-1])[-2:] / scan).astype(int), 0, np.array(self.layer.data.shape[:2]) - 1)
        self.position = (int(y), int(x))

        def shown(pattern: np.ndarray) -> None:
            self._put("pattern at scan position", pattern, colormap="magma")
            self.status.setText(f"pattern at scan position ({y}, {x}): {float(pattern.sum()):.4g} counts")

        self._view("pattern", _pattern_at, self.layer.data, int(y), int(x), done=shown)

    # ------------------------------------------------------------------ denoise
    def config(self) -> Denoise4DConfig:
        return Denoise4DConfig(minutes=self.minutes.value(), max_steps=self.steps.value() or None, cycles=self.cycles.value(),
                               finish=self.finish.currentData())

    def denoise(self) -> None:
        if self.worker is not None or self.layer is None:
            if self.layer is None:
                show_error(self.status, "choose or open 4D-STEM data first")
            return
        from napari.qt.threading import create_worker
        from napari.utils import progress

        self.job = {}
        self.result = None
        self._bar = progress(total=1000, desc="Denoise 4D")
        self.worker = create_worker(_denoise_job, self.layer.data, self.config(), self.job, _start_thread=False, _connect={"errored": self._on_error})
        self.worker.yielded.connect(self._on_progress)
        self.worker.returned.connect(self._on_done)
        self.worker.finished.connect(self._on_finished)
        self.denoise_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText("training on the scan (self-supervised)…")
        self.worker.start()

    def cancel(self) -> None:
        den = self.job.get("denoiser")
        if den is not None:
            den.stop()  # training ends at the next step; the best weights still denoise the data
            self.status.setText("stopping training; denoising with the best weights so far…")
        elif self.worker is not None:
            self.worker.quit()

    def _on_progress(self, rec) -> None:
        if isinstance(rec, tuple):
            return
        if self._bar is not None:
            self._bar.n = int(1000 * (0.8 * rec.fraction if rec.phase == "train" else 0.8 + 0.2 * rec.fraction))
            self._bar.refresh()
        self.status.setText(rec.message)

    def _on_done(self, out) -> None:
        self.result = out
        layer = self.layer
        self.viewer.add_image(out, name=f"{layer.name} denoised", scale=tuple(layer.scale), units=tuple(str(u) for u in layer.units),
                              metadata={"kind": "4D-STEM", "denoised_with": "scan-neighbour blind-spot U-Net (napari-lowdose 4D)"})
        self.status.setText(f"denoised: '{layer.name} denoised' added; choose it above to see its virtual images")

    def _on_error(self, exc: Exception) -> None:
        show_error(self.status, str(exc) if isinstance(exc, LowdoseError) else f"{type(exc).__name__}: {exc}")

    def _on_finished(self) -> None:
        self.worker = None
        self.denoise_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _stop_work(self) -> None:
        self._serial.clear()  # results still on their way are dropped
        for worker in list(self._views.values()):
            worker.quit()
        self._views.clear()
        den = self.job.get("denoiser")
        if den is not None:
            den.stop()
        if self.worker is not None:
            self.worker.quit()
