"""Image info dock widget: shape, type, pixel size (Å/nm), field of view and intensity of a layer.

Thin: it reads the selected layer and shows what :func:`napari_lowdose.core.image.describe` says,
the same text ``napari-lowdose info FILE`` prints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from qtpy.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..core.image import describe, intensity_stats
from ._layers import image_layers, refresh_layer_combo
from .trust import DETECTOR_KEY, _se, detector_of

if TYPE_CHECKING:
    import napari

_MAX_STATS_PIXELS = 4096 * 4096  # statistics on the displayed slice, subsampled above this


class ImageInfoWidget(QWidget):
    def __init__(self, napari_viewer: "napari.viewer.Viewer") -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("Image layer to describe (follows the layer selection)")
        self.form = QFormLayout()
        layout = QVBoxLayout(self)
        layout.addWidget(self.layer_combo)
        layout.addLayout(self.form)
        # the detector's gain and offset (estimated from the image, or typed here): the Trust panel uses them
        self.gain, self.offset = QDoubleSpinBox(), QDoubleSpinBox()
        self.gain.setRange(0.001, 1e6)
        self.gain.setDecimals(3)
        self.gain.setSuffix(" ADU/e⁻")
        self.offset.setRange(-1e6, 1e6)
        self.offset.setSuffix(" ADU")
        self.set_detector = QPushButton("Set")
        self.set_detector.setToolTip("Use this gain and offset for the layer (instead of the estimate)")
        self.set_detector.clicked.connect(self._type_detector)
        row = QHBoxLayout()
        for w in (QLabel("gain"), self.gain, QLabel("offset"), self.offset, self.set_detector):
            row.addWidget(w)
        layout.addLayout(row)
        layout.addStretch(1)

        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self.viewer.layers.selection.events.active.connect(self._follow_active)
        self.viewer.dims.events.current_step.connect(self._show)
        self.layer_combo.currentTextChanged.connect(self._show)
        self._watched: set[int] = set()
        self._refresh_layers()

    def _refresh_layers(self, event=None) -> None:
        for layer in image_layers(self.viewer):
            if id(layer) not in self._watched:  # a layer whose data changes (e.g. being denoised) is shown anew
                layer.events.data.connect(self._show_if_current(layer))
                self._watched.add(id(layer))
        refresh_layer_combo(self.layer_combo, self.viewer)
        self._follow_active()
        self._show(self.layer_combo.currentText())

    def _show_if_current(self, layer):
        def handler(event=None):
            if layer.name == self.layer_combo.currentText():
                self._show()

        return handler

    def _follow_active(self, event=None) -> None:
        active = self.viewer.layers.selection.active
        if active is not None and active.name in [self.layer_combo.itemText(i) for i in range(self.layer_combo.count())]:
            self.layer_combo.setCurrentText(active.name)

    def rows(self) -> list[tuple[str, str]]:
        """The (field, text) rows shown for the current layer (empty when there is none)."""
        name = self.layer_combo.currentText()
        if not name or name not in self.viewer.layers:
            return []
        layer = self.viewer.layers[name]
        data = layer.data[0] if layer.multiscale else layer.data
        rows = describe(data.shape, data.dtype, layer.scale, layer.units, layer.axis_labels)
        plane = np.asarray(data[tuple(int(i) for i in self.viewer.dims.current_step[: data.ndim - 2])]) if data.ndim > 2 else np.asarray(data)
        step = max(1, int(np.ceil(np.sqrt(plane.size / _MAX_STATS_PIXELS))))
        stats = intensity_stats(plane[::step, ::step])
        rows.append(("intensity", f"min {stats['min']:.4g}, max {stats['max']:.4g}, mean {stats['mean']:.4g}"))
        det = detector_of(layer, plane) if plane.ndim == 2 else None
        if det:
            rows.append(("detector", f"gain {det['gain']:.4g} ADU/e⁻{_se(det)}, offset {det['offset']:.4g} ADU ({det.get('source', 'estimated')})"))
        return rows

    def _type_detector(self) -> None:
        name = self.layer_combo.currentText()
        if name and name in self.viewer.layers:
            self.viewer.layers[name].metadata[DETECTOR_KEY] = {"gain": self.gain.value(), "offset": self.offset.value(), "source": "typed"}
            self._show()

    def _show(self, *args) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        rows = self.rows()
        if not rows:
            self.form.addRow(QLabel("No image layer. Drop a TIFF, MRC, DM3/DM4, EMD or SER file on napari."))
        name = self.layer_combo.currentText()
        det = self.viewer.layers[name].metadata.get(DETECTOR_KEY) if name in self.viewer.layers else None
        if det:
            self.gain.setValue(det["gain"])
            self.offset.setValue(det["offset"])
        for key, text in rows:
            value = QLabel(text)
            value.setWordWrap(True)
            self.form.addRow(f"{key}:", value)
