"""Resolution dock widget: live cutoff x / y, anisotropy and FRC resolution of one or more layers.

Thin: it takes a copy of the displayed 2-D plane of each chosen layer, runs
``core.spectrum.resolution`` on a worker thread, and shows the reports as text and their radial
profiles (power / noise level, with the threshold and the cutoffs marked). It follows the layer
selection (or the layers ticked in its list), the displayed slice and changes of the layers' data, so
a denoised layer that is being updated is measured again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import QCheckBox, QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from ..core.errors import LowdoseError
from ..core.spectrum import ResolutionReport, resolution
from ._layers import current_plane, image_layers, pixel_size_angstrom
from ._plot import PlotCanvas

if TYPE_CHECKING:
    import napari

DEBOUNCE_MS = 150
COLORS = ["#ffb000", "#4cc9f0", "#f72585", "#7bd389", "#b69cff"]


def _measure(planes: list[tuple[str, np.ndarray, float | None]]) -> list[tuple[str, ResolutionReport | str]]:
    """Worker body: a report (or the error text) per (name, plane, pixel size)."""
    out = []
    for name, plane, px in planes:
        try:
            out.append((name, resolution(plane, pixel_size=px)))
        except LowdoseError as exc:
            out.append((name, str(exc)))
    return out


class ResolutionWidget(QWidget):
    def __init__(self, napari_viewer: "napari.viewer.Viewer") -> None:
        super().__init__()
        self.viewer = napari_viewer
        self._worker = None
        self._pending = False
        self._watched: set[int] = set()
        self.reports: list[tuple[str, ResolutionReport | str]] = []

        self.follow = QCheckBox("follow the layer selection")
        self.follow.setChecked(True)
        self.layer_list = QListWidget()
        self.layer_list.setMaximumHeight(90)
        self.layer_list.setToolTip("Tick layers to compare (noisy / denoised / reference) when not following the selection")
        self.text = QLabel("Select an image layer.")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.plot = PlotCanvas(height=3.2)

        layout = QVBoxLayout(self)
        layout.addWidget(self.follow)
        layout.addWidget(self.layer_list)
        layout.addWidget(self.text)
        layout.addWidget(self.plot)
        layout.addStretch(1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self._start)

        self.follow.toggled.connect(self._on_follow)
        self.layer_list.itemChanged.connect(self.schedule)
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self.viewer.layers.selection.events.changed.connect(self.schedule)
        self.viewer.dims.events.current_step.connect(self.schedule)
        self._refresh_layers()
        self._on_follow(True)

    # ---------------------------------------------------------------- layers
    def chosen_layers(self) -> list:
        layers = image_layers(self.viewer)
        if self.follow.isChecked():
            selected = [layer for layer in layers if layer in self.viewer.layers.selection]
            return selected or ([self.viewer.layers.selection.active] if self.viewer.layers.selection.active in layers else [])
        ticked = {self.layer_list.item(i).text() for i in range(self.layer_list.count()) if self.layer_list.item(i).checkState() == Qt.CheckState.Checked}
        return [layer for layer in layers if layer.name in ticked]

    def _refresh_layers(self, event=None) -> None:
        ticked = {self.layer_list.item(i).text() for i in range(self.layer_list.count()) if self.layer_list.item(i).checkState() == Qt.CheckState.Checked}
        self.layer_list.blockSignals(True)
        self.layer_list.clear()
        for layer in image_layers(self.viewer):
            item = QListWidgetItem(layer.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if layer.name in ticked else Qt.CheckState.Unchecked)
            self.layer_list.addItem(item)
            if id(layer) not in self._watched:  # re-measure when a layer's data changes
                layer.events.data.connect(self.schedule)
                self._watched.add(id(layer))
        self.layer_list.blockSignals(False)
        self.schedule()

    def _on_follow(self, on: bool) -> None:
        self.layer_list.setEnabled(not on)
        self.schedule()

    # --------------------------------------------------------------- measure
    def schedule(self, *args) -> None:
        self._timer.start()

    def _start(self) -> None:
        if self._worker is not None:
            self._pending = True
            return
        planes = []
        for layer in self.chosen_layers():
            if layer.rgb:
                self.reports = [(layer.name, f"{layer.name} is an RGB layer; the readout needs a single-channel image")]
                self._show(self.reports)
                return
            plane, _ = current_plane(layer, self.viewer)  # a copy: the worker never touches the layer
            planes.append((layer.name, plane, pixel_size_angstrom(layer)))
        if not planes:
            self._show([])
            return
        from napari.qt.threading import create_worker

        self._worker = create_worker(
            _measure, planes, _start_thread=False, _connect={"errored": lambda exc: self.text.setText(str(exc))}
        )
        self._worker.returned.connect(self._show)
        self._worker.finished.connect(self._done)
        self._worker.start()

    def _done(self) -> None:
        self._worker = None
        if self._pending:
            self._pending = False
            self._start()

    # ------------------------------------------------------------------ show
    def _show(self, reports: list) -> None:
        self.reports = reports
        if not reports:
            self.text.setText("Select an image layer.")
        else:
            blocks = []
            for name, rep in reports:
                body = rep if isinstance(rep, str) else rep.summary()
                blocks.append(f"<b>{name}</b><br>" + body.replace("\n", "<br>"))
            self.text.setText("<br>".join(blocks))
        self._plot(reports)

    def _plot(self, reports: list) -> None:
        ax = self.plot.axes
        ax.clear()
        self.plot.style_axes()
        physical = all(not isinstance(r, str) and r.pixel_size for _, r in reports) and reports
        for i, (name, rep) in enumerate(reports):
            if isinstance(rep, str) or rep.profile is None or not rep.noise_level > 0:
                continue
            color = COLORS[i % len(COLORS)]
            scale = 1.0 / rep.pixel_size if physical else 1.0
            k = rep.profile.k
            sel = k <= 0.5
            ax.semilogy(k[sel] * scale, rep.profile.values[sel] / rep.noise_level, color=color, lw=1.2, label=name)
            if rep.cutoff:
                ax.axvline(rep.cutoff * scale, color=color, lw=1, ls="--")
        ax.axhline(1.0, color="#909090", lw=0.8, ls=":", label="noise level")
        factor = next((r.factor for _, r in reports if not isinstance(r, str)), 3.0)
        ax.axhline(factor, color="#e0e0e0", lw=0.8, ls="-.", label=f"{factor:g} x noise")
        ax.set_xlabel("spatial frequency (Å⁻¹)" if physical else "spatial frequency (cycles/pixel)")
        ax.set_ylabel("power / noise")
        ax.set_title("radial power spectrum (dashed: cutoff)", fontsize=9)
        if reports:
            legend = ax.legend(fontsize=7, facecolor="#262930", labelcolor="#d0d0d0", edgecolor="#606060")
            legend.get_frame().set_alpha(0.8)
        self.plot.draw_idle()
