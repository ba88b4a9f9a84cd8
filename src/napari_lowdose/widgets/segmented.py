"""Segmented detector (DF4 / DPC) panel: the projected potential from four segment images.

Thin: it takes the segments (one 4-channel layer, as the reader opens a Velox DF4 file, or four layers
chosen as A, B, C, D), the rotation (auto or degrees), the flip, the optics, the thickness and tilt
if known and the method, and runs ``core.segmented.reconstruct.iter_phase`` on a worker thread. Output:
a "<name> <method> potential (V·Å)" image layer with the segments' scale, and the DPC field as a vectors layer.
Convention: A faces +x, B +y, C -x, D -y at rotation 0 (``core/segmented/dpc.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from qtpy.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout,
                            QWidget)

from ..core.errors import LowdoseError
from ._layers import image_layers, pixel_size_angstrom, refresh_layer_combo, show_error, stop_when_destroyed

if TYPE_CHECKING:
    import napari

FOUR = "(four layers: A, B, C, D below)"
HELP = "A faces +x (increasing column), B +y (increasing row), C -x, D -y at rotation 0; A-C ~ dφ/dx, B-D ~ dφ/dy."


def _run(segments: np.ndarray, config):
    from ..core.segmented.reconstruct import iter_phase

    return (yield from iter_phase(segments, config))


def _spin(lo: float, hi: float, value: float, step: float, suffix: str, decimals: int = 1) -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setRange(lo, hi)
    s.setDecimals(decimals)
    s.setSingleStep(step)
    s.setValue(value)
    s.setSuffix(suffix)
    return s


class SegmentedWidget(QWidget):
    def __init__(self, napari_viewer: "napari.viewer.Viewer") -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.worker = None
        self.result = None
        self._last_output = ""

        self.source = QComboBox()
        self.source.setToolTip("A 4-channel layer (segment, y, x), or the four layers chosen below. " + HELP)
        self.parts = [QComboBox() for _ in range(4)]
        self.rotation = QLineEdit("auto")
        self.rotation.setToolTip("Scan/detector rotation in degrees (A turned from +x towards +y), or auto (minimum curl of the DPC field)")
        self.flip = QCheckBox("flipped detector (B faces -y)")
        self.method = QComboBox()
        self.method.addItems(["idpc", "learned"])
        self.voltage = _spin(20, 1000, 300, 10, " kV", 0)
        self.convergence = _spin(1, 100, 25, 1, " mrad")
        self.inner = _spin(0, 99, 6, 1, " mrad")
        self.thickness = _spin(0, 10000, 0, 10, " Å", 0)
        self.thickness.setSpecialValueText("unknown")
        self.tilt_known = QCheckBox("tilt known")
        self.tilt_x = _spin(-100, 100, 0, 1, " mrad")
        self.tilt_y = _spin(-100, 100, 0, 1, " mrad")
        self.pixel = _spin(0, 100, 0, 0.01, " Å", 3)
        self.pixel.setSpecialValueText("from layer")
        self.run_button = QPushButton("Run")
        self.status = QLabel(HELP)
        self.status.setWordWrap(True)

        form = QFormLayout()
        form.addRow("segments", self.source)
        for name, combo in zip("ABCD", self.parts):
            form.addRow(f"  {name}", combo)
        form.addRow("rotation (° or auto)", self.rotation)
        form.addRow("", self.flip)
        form.addRow("method", self.method)
        form.addRow("voltage", self.voltage)
        form.addRow("convergence", self.convergence)
        form.addRow("inner angle", self.inner)
        form.addRow("thickness", self.thickness)
        tilt = QHBoxLayout()
        for w in (self.tilt_known, self.tilt_x, self.tilt_y):
            tilt.addWidget(w)
        form.addRow("tilt x, y", tilt)
        form.addRow("pixel size", self.pixel)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.run_button)
        layout.addWidget(self.status)
        layout.addStretch(1)

        self.run_button.clicked.connect(self.run)
        self.source.currentTextChanged.connect(self._on_source)
        self.viewer.layers.events.inserted.connect(self._refresh)
        self.viewer.layers.events.removed.connect(self._refresh)
        stop_when_destroyed(self)
        self._refresh()

    # ---------------------------------------------------------------- layers
    def _refresh(self, event=None) -> None:
        four = [layer.name for layer in image_layers(self.viewer) if np.ndim(layer.data) == 3 and np.shape(layer.data)[0] == 4 and not layer.multiscale]
        current = self.source.currentText()
        self.source.blockSignals(True)
        self.source.clear()
        self.source.addItems(four + [FOUR])
        self.source.setCurrentText(current if current in four + [FOUR] else (four[0] if four else FOUR))
        self.source.blockSignals(False)
        for combo in self.parts:
            refresh_layer_combo(combo, self.viewer)
        self._on_source()

    def _on_source(self, *_) -> None:
        for combo in self.parts:
            combo.setEnabled(self.source.currentText() == FOUR)

    def segments(self) -> tuple[np.ndarray, object]:
        """The (4, y, x) segments and the layer whose scale the output takes."""
        name = self.source.currentText()
        if name != FOUR:
            layer = self.viewer.layers[name]
            return np.asarray(layer.data, np.float64), layer
        names = [c.currentText() for c in self.parts]
        if not all(n in self.viewer.layers for n in names):
            raise LowdoseError("choose four image layers as segments A, B, C, D (or a 4-channel segments layer)")
        if len(set(names)) != 4:
            raise LowdoseError("segments A, B, C, D must be four different layers")
        layers = [self.viewer.layers[n] for n in names]
        from ..core.segmented import check_segments

        return check_segments([np.asarray(layer.data) for layer in layers], tuple("ABCD")), layers[0]

    def config(self, layer):
        from ..core.segmented import DetectorGeometry
        from ..core.segmented.reconstruct import PhaseConfig, parse_rotation

        px = self.pixel.value() or pixel_size_angstrom(layer)
        if not px:
            raise LowdoseError("the segments carry no pixel size in Å; type the scan step in 'pixel size'")
        geo = DetectorGeometry(self.voltage.value(), self.convergence.value(), self.inner.value())
        tilt = (self.tilt_x.value(), self.tilt_y.value()) if self.tilt_known.isChecked() else None
        return PhaseConfig(method=self.method.currentText(), rotation_deg=parse_rotation(self.rotation.text()), flip=self.flip.isChecked(),
                           pixel_size=float(px), geometry=geo, thickness=self.thickness.value() or None, tilt_mrad=tilt)

    # ---------------------------------------------------------------- run
    def run(self) -> None:
        if self.worker is not None:
            return
        try:
            segments, layer = self.segments()
            config = self.config(layer)
        except LowdoseError as exc:
            show_error(self.status, str(exc))
            return
        from napari.qt.threading import create_worker

        def failed(exc) -> None:
            show_error(self.status, str(exc) if isinstance(exc, LowdoseError) else f"{type(exc).__name__}: {exc}")

        name = layer.name if self.source.currentText() != FOUR else f"{layer.name} (A)"
        self.worker = create_worker(_run, segments, config, _start_thread=False,
                                    _connect={"yielded": lambda r: self.status.setText(f"{r['stage']}…"),
                                              "returned": lambda res: self._on_done(res, layer, name, config), "errored": failed})
        self.worker.finished.connect(self._on_finished)
        self.run_button.setEnabled(False)
        self.status.setText("starting…")
        self.worker.start()

    def _on_done(self, result, layer, name: str, config) -> None:
        self.result = result
        scale = tuple(layer.scale[-2:])
        units = tuple(layer.units[-2:])
        meta = {"provenance": {"processing": f"phase reconstruction ({result.method})", "model": result.method, "input": layer.name,
                               "rotation_deg": result.rotation_deg, "quantity": "projected potential (V·Å)"}}
        out = f"{name} {result.method} potential (V·Å)"
        self._last_output = out
        if out in self.viewer.layers:
            self.viewer.layers[out].data = result.potential
        else:
            self.viewer.add_image(result.potential, name=out, scale=scale, units=units, colormap="magma", metadata=meta)
        self._add_vectors(result, scale, units, f"{name} DPC field")
        how = "found by minimum curl" if result.rotation_found else "given"
        self.status.setText(f"{result.method}: potential {result.potential.min():.4g} … {result.potential.max():.4g} V·Å (mean removed), "
                            f"rotation {result.rotation_deg:.1f}° ({how}).")

    def _add_vectors(self, result, scale, units, name: str) -> None:
        """The DPC field on a grid of about 24 x 24 arrows (cheap), in the scan frame."""
        g = result.gradient
        ny, nx = g.shape[-2:]
        step = max(1, max(ny, nx) // 24)
        yy, xx = np.mgrid[step // 2 : ny : step, step // 2 : nx : step]
        vx, vy = g[0][yy, xx], g[1][yy, xx]
        norm = float(np.percentile(np.hypot(vx, vy), 99)) or 1.0
        vec = np.zeros((yy.size, 2, 2), np.float32)
        vec[:, 0, 0], vec[:, 0, 1] = yy.ravel(), xx.ravel()
        vec[:, 1, 0], vec[:, 1, 1] = (vy / norm * step).ravel(), (vx / norm * step).ravel()
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)
        self.viewer.add_vectors(vec, name=name, scale=scale, units=units, edge_color="cyan", edge_width=0.15 * step, visible=False)
        self.viewer.layers.selection.active = self.viewer.layers[out_name] if (out_name := self._last_output) in self.viewer.layers else None

    def _on_finished(self) -> None:
        self.worker = None
        self.run_button.setEnabled(True)

    def _stop_work(self) -> None:
        if self.worker is not None:
            self.worker.quit()
