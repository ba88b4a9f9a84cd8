"""FFT mask dock widget: a cutoff slider with a live preview, the power spectrum with the mask edge, Apply.

Thin: the FFT of the displayed plane is computed once (``core.spectrum.MaskedFilter``) and each slider
position costs one mask and one inverse FFT, run on a worker thread so the UI never waits; only the
newest slider position is computed when several arrive while one runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from ..core.errors import LowdoseError
from ..core.spectrum import MaskedFilter, describe_cutoff, iter_fft_mask
from ._layers import current_plane, pixel_size_angstrom, refresh_layer_combo
from ._plot import PlotCanvas

if TYPE_CHECKING:
    import napari

SLIDER_MIN, SLIDER_MAX = 5, 141  # percent of Nyquist; 141 (sqrt 2) keeps the corners: no low-pass
DEBOUNCE_MS = 30


class FFTMaskWidget(QWidget):
    def __init__(self, napari_viewer: "napari.viewer.Viewer") -> None:
        super().__init__()
        self.viewer = napari_viewer
        self._filter: MaskedFilter | None = None
        self._filter_key = None
        self._worker = None
        self._pending = False
        self._apply_worker = None
        self._overlay: list = []
        self._unit = 1.0
        self._started = False  # no preview layer until the user touches a control
        self.preview_layer = None

        self.layer_combo = QComboBox()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(SLIDER_MIN, SLIDER_MAX)
        self.slider.setValue(65)
        self.slider.setToolTip("Radius of the kept frequencies, in % of Nyquist (the seed's 65%: top ~35% removed)")
        self.cutoff_label = QLabel()
        self.notch = QCheckBox("notch every-other-column lines (kx = Nyquist)")
        self.preview_box = QCheckBox("live preview layer")
        self.preview_box.setChecked(True)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("Add the filtered image (all planes) as a new layer with the same scale")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.plot = PlotCanvas(height=3.0)

        form = QFormLayout()
        form.addRow("layer", self.layer_combo)
        form.addRow("cutoff", self.slider)
        form.addRow("", self.cutoff_label)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.notch)
        row = QHBoxLayout()
        row.addWidget(self.preview_box)
        row.addStretch(1)
        row.addWidget(self.apply_button)
        layout.addLayout(row)
        layout.addWidget(self.plot)
        layout.addWidget(self.status)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self._start_preview)

        self.slider.valueChanged.connect(self._on_user)
        self.notch.toggled.connect(self._on_user)
        self.preview_box.toggled.connect(self._on_user)
        self.layer_combo.activated.connect(self._on_user)
        self.layer_combo.currentTextChanged.connect(self._on_layer)
        self.apply_button.clicked.connect(self.apply)
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self.viewer.dims.events.current_step.connect(self._on_layer)
        self._refresh_layers()

    # ------------------------------------------------------------------ state
    @property
    def keep(self) -> float:
        return self.slider.value() / 100.0

    def source_layer(self):
        name = self.layer_combo.currentText()
        return self.viewer.layers[name] if name and name in self.viewer.layers else None

    def _refresh_layers(self, event=None) -> None:
        current = refresh_layer_combo(self.layer_combo, self.viewer, exclude=(self.preview_layer,))
        if self.preview_layer is not None and self.preview_layer not in self.viewer.layers:
            self.preview_layer = None
        if self.layer_combo.currentText() != current:
            self._on_layer()
        elif event is None:
            self._on_layer()

    def _on_layer(self, event=None) -> None:
        layer = self.source_layer()
        if layer is not None:
            try:
                layer.events.data.disconnect(self._on_data)
            except (TypeError, ValueError, RuntimeError):
                pass
            layer.events.data.connect(self._on_data)
        self._filter_key = None
        self._on_control()

    def _on_data(self, event=None) -> None:
        self._filter_key = None
        self._on_control()

    def _on_user(self, *args) -> None:
        self._started = True
        self._on_control()

    def _on_control(self, *args) -> None:
        layer = self.source_layer()
        px = pixel_size_angstrom(layer) if layer is not None else None
        self.cutoff_label.setText(describe_cutoff(self.keep, px))
        self._timer.start()

    # ---------------------------------------------------------------- preview
    def _ensure_filter(self) -> MaskedFilter | None:
        layer = self.source_layer()
        if layer is None:
            self.status.setText("No image layer.")
            return None
        if layer.rgb:
            self.status.setText(f"{layer.name} is an RGB layer; the FFT mask needs a single-channel image.")
            return None
        plane, index = current_plane(layer, self.viewer)
        key = (id(layer), index, plane.shape)
        if self._filter is None or self._filter_key != key:
            try:
                self._filter = MaskedFilter(plane, name=layer.name)
            except LowdoseError as exc:
                self._filter = None
                self.status.setText(str(exc))
                return None
            self._filter_key = key
            self._draw_spectrum(layer)
        return self._filter

    def _start_preview(self) -> None:
        if self._worker is not None:
            self._pending = True  # the newest request runs when this one returns
            return
        filt = self._ensure_filter()
        if filt is None:
            return
        self._draw_mask_edge()
        if not (self.preview_box.isChecked() and self._started):
            return
        from napari.qt.threading import create_worker

        keep, notch = self.keep, self.notch.isChecked()
        self._worker = create_worker(filt.apply, keep, notch, _start_thread=False, _connect={"errored": self._on_error})
        self._worker.returned.connect(self._show_preview)
        self._worker.finished.connect(self._preview_done)
        self._worker.start()

    def _preview_done(self) -> None:
        self._worker = None
        if self._pending:
            self._pending = False
            self._start_preview()

    def _show_preview(self, image: np.ndarray) -> None:
        layer = self.source_layer()
        if layer is None:
            return
        scale, translate = tuple(layer.scale[-2:]), tuple(layer.translate[-2:])
        if self.preview_layer is None or self.preview_layer not in self.viewer.layers:
            self.preview_layer = self.viewer.add_image(
                image,
                name=f"{layer.name} FFT preview",
                scale=scale,
                translate=translate,
                units=tuple(layer.units[-2:]),
                colormap="gray",
                contrast_limits=_limits(image),
            )
        else:
            self.preview_layer.data = image
            self.preview_layer.scale = scale
            self.preview_layer.translate = translate
        self.preview_layer.name = f"{layer.name} FFT preview"
        self.status.setText(f"preview: {describe_cutoff(self.keep, pixel_size_angstrom(layer))}")

    def _on_error(self, exc: Exception) -> None:
        self.status.setText(str(exc))

    # --------------------------------------------------------------- drawing
    def _draw_spectrum(self, layer) -> None:
        px = pixel_size_angstrom(layer)
        unit = 1.0 / px if px else 1.0
        extent = 0.5 * unit
        ax = self.plot.axes
        ax.clear()
        self.plot.style_axes()
        ax.imshow(self._filter.log_power(), cmap="gray", extent=(-extent, extent, -extent, extent), origin="lower")
        label = "Å⁻¹" if px else "cycles/pixel"
        ax.set_xlabel(f"kx ({label})")
        ax.set_ylabel(f"ky ({label})")
        ax.set_title("log power spectrum", fontsize=9)
        self._unit = unit
        self._overlay = []
        self._draw_mask_edge()

    def _draw_mask_edge(self) -> None:
        if self._filter is None:
            return
        from matplotlib.patches import Circle

        for artist in self._overlay:
            artist.remove()
        radius = self.keep * 0.5 * self._unit
        edge = Circle((0, 0), radius, fill=False, color="#ffb000", lw=1.5)
        self._overlay = [self.plot.axes.add_patch(edge)]
        if self.notch.isChecked():
            for x in (-0.5 * self._unit, 0.5 * self._unit):
                self._overlay.append(self.plot.axes.axvline(x, color="#ff4060", lw=2))
        self.plot.draw_idle()

    # ------------------------------------------------------------------ apply
    def start_preview(self) -> None:
        """Show the live preview layer now (as the first touch of a control does)."""
        self._on_user()

    def apply(self) -> None:
        """Filter every plane of the layer on a worker and add the result as a new layer."""
        layer = self.source_layer()
        if layer is None or layer.rgb:
            self.status.setText("Choose a single-channel image layer first.")
            return
        from napari.qt.threading import create_worker
        from napari.utils import progress

        data = np.array(layer.data[0] if layer.multiscale else layer.data)  # a copy for the worker
        keep, notch = self.keep, self.notch.isChecked()
        meta = {
            "name": f"{layer.name} FFT mask {keep * 100:.0f}%" + (" notch" if notch else ""),
            "scale": tuple(layer.scale),
            "translate": tuple(layer.translate),
            "units": tuple(layer.units),
            "axis_labels": tuple(layer.axis_labels),
            "metadata": {**layer.metadata, "fft_mask": {"keep": keep, "notch": notch}},
        }
        bar = progress(total=int(np.prod(data.shape[:-2], dtype=int)) or 1, desc="FFT mask")
        worker = create_worker(iter_fft_mask, data, keep, notch, _start_thread=False, _connect={"errored": self._on_error})
        worker.yielded.connect(lambda p: (bar.update(1), bar.set_description(f"FFT mask: {p.message}")))
        worker.returned.connect(lambda out: self.viewer.add_image(out, **meta))
        worker.finished.connect(bar.close)
        self._apply_worker = worker
        self.apply_button.setEnabled(False)
        worker.finished.connect(lambda: self.apply_button.setEnabled(True))
        worker.start()


def _limits(image: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(image[:: max(1, image.shape[0] // 256), :: max(1, image.shape[1] // 256)], [0.5, 99.5])
    return (float(lo), float(hi) if hi > lo else float(lo) + 1.0)
