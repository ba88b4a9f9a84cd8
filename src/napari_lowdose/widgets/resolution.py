"""Resolution dock widget: live cutoff x / y, anisotropy and FRC resolution of one or more layers.

Thin: it takes a copy of the displayed 2-D plane of each chosen layer, runs
``core.spectrum.resolution`` on a worker thread, and shows the reports as text and their radial
profiles (power / noise level, with the threshold and the cutoffs marked). It follows the layer
selection (or the layers ticked in its list), the displayed slice and changes of the layers' data, so
a denoised layer that is being updated is measured again.

A processed layer (made by the Denoise panel, or read from a file ``napari-lowdose denoise`` wrote: its
metadata say so) gets no spectral cutoff and no one-image FRC: "not measurable on a processed image".
Where its raw input is at hand (the input layer the Denoise panel recorded, or the input file in the
provenance) and so is the model, a second worker measures the half-data FRC
(``core.halfmap.half_data_frc``: the raw counts split in two, each half denoised with the same model),
once per raw plane and model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import QCheckBox, QFrame, QLabel, QListWidget, QListWidgetItem, QScrollArea, QVBoxLayout, QWidget

from ..core.errors import LowdoseError
from ..core.spectrum import ResolutionReport, resolution
from ..io.read import is_processed
from ._layers import current_plane, image_layers, pixel_size_angstrom
from ._plot import PlotCanvas

if TYPE_CHECKING:
    import napari

DEBOUNCE_MS = 150
COLORS = ["#ffb000", "#4cc9f0", "#f72585", "#7bd389", "#b69cff"]


def _measure(planes: list[tuple]) -> list[tuple[str, ResolutionReport | str]]:
    """Worker body: a report (or the error text) per (name, plane, pixel size, what processed it or "")."""
    out = []
    for name, plane, px, processed in planes:
        try:
            out.append((name, resolution(plane, pixel_size=px, processed=processed or None)))
        except LowdoseError as exc:
            out.append((name, str(exc)))
    return out


def _half_data(raw_plane: np.ndarray, px: float | None, model, refine: str, flips: int):
    """Worker body: the half-data FRC of ``model`` on the raw plane (or the error text)."""
    from ..core.halfmap import half_data_frc
    from ..core.progress import drive
    from ..core.tiling import TiledDenoiser

    try:
        denoiser = TiledDenoiser(model, device="auto", refine=refine or "auto", flips=int(flips or 1))
        return half_data_frc(raw_plane, lambda half: drive(denoiser.run(half)), pixel_size=px)
    except LowdoseError as exc:
        return str(exc)


def _model_for(viewer, prov: dict):
    """The model named in a layer's provenance: the Denoise panel's (a loaded or fine-tuned one), a
    bundled one, or its file; None when it is not at hand."""
    from ..core.model import BUNDLED_MODELS, Model, load_model
    from ._registry import denoise_widget_for

    name = prov.get("model")
    panel = denoise_widget_for(viewer)
    if panel is not None:
        candidates = [panel.model] + [panel.model_combo.itemData(i) for i in range(panel.model_combo.count())]
        for m in candidates:
            if isinstance(m, Model) and m.card.name == name:
                return m
    for source in (prov.get("model_file"), name if name in BUNDLED_MODELS else None):
        if source:
            try:
                return load_model(source)
            except LowdoseError:
                continue
    return None


class ResolutionWidget(QWidget):
    def __init__(self, napari_viewer: "napari.viewer.Viewer") -> None:
        super().__init__()
        self.viewer = napari_viewer
        self._worker = None
        self._pending = False
        self._watched: set[int] = set()
        self.reports: list[tuple[str, ResolutionReport | str]] = []
        self.half_data: dict[str, object] = {}  #: layer name -> HalfDataFRC, "computing…" or why not
        self._half_cache: dict[tuple, object] = {}
        self._half_worker = None
        self._half_key = None
        self._half_pending: list = []

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
        # the reports of several layers can be long: they scroll, so the panel (and napari's window) keeps its height
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.text)
        scroll.setMinimumHeight(200)
        scroll.setMaximumHeight(330)
        layout.addWidget(scroll)
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
    def busy(self) -> bool:
        """A readout or a half-data FRC is scheduled or running (the main job waits for it before closing)."""
        return self._timer.isActive() or self._worker is not None or self._half_worker is not None or bool(self._half_pending)

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
            processed = is_processed(layer.metadata)
            planes.append((layer.name, plane, pixel_size_angstrom(layer), processed))
            if processed:
                self._plan_half_data(layer)
            else:
                self.half_data.pop(layer.name, None)
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

    # ------------------------------------------------------ half-data FRC
    def _plan_half_data(self, layer) -> None:
        """Find the raw input and the model of a processed layer; queue the half-data FRC once per key."""
        prov = layer.metadata.get("provenance") or {}
        raw_layer = None
        name = prov.get("input_layer")
        if name and name in self.viewer.layers:
            raw_layer = self.viewer.layers[name]
        raw_plane = None
        if raw_layer is not None:
            raw_plane, index = current_plane(raw_layer, self.viewer)
            key_source = (id(raw_layer.data), index)
        elif prov.get("input"):
            raw_plane, key_source = self._raw_from_file(prov, layer)
        if raw_plane is None:
            self.half_data[layer.name] = "its raw input is not open: open it to measure the half-data FRC"
            return
        model = _model_for(self.viewer, prov)
        if model is None:
            self.half_data[layer.name] = f"the model {prov.get('model')!r} is not at hand: load it in the Denoise panel"
            return
        key = (key_source, model.card.name, id(model), prov.get("refine"), prov.get("flips"))
        if key in self._half_cache:
            self.half_data[layer.name] = self._half_cache[key]
            return
        self.half_data[layer.name] = "computing (each half of the raw counts denoised)…"
        job = (key, layer.name, raw_plane, pixel_size_angstrom(layer), model, prov.get("refine"), prov.get("flips"))
        if all(j[0] != key for j in self._half_pending) and (self._half_worker is None or self._half_key != key):
            self._half_pending.append(job)
        self._next_half()

    def _raw_from_file(self, prov: dict, layer):
        from pathlib import Path

        from ..io import read_image

        path = Path(prov["input"])
        if not path.is_file():
            return None, None
        try:
            images = read_image(path)
        except LowdoseError:
            return None, None
        chosen = [im for im in images if im.metadata.get("signal") == prov.get("signal")] or images[:1]
        data = np.asarray(chosen[0].data)
        if data.shape != tuple(layer.data.shape):
            return None, None
        from ._layers import plane_index

        index = plane_index(layer, self.viewer)
        return np.array(data[index] if index else data), (str(path), prov.get("signal"), index)

    def _next_half(self) -> None:
        if self._half_worker is not None or not self._half_pending:
            return
        key, name, raw_plane, px, model, refine, flips = self._half_pending.pop(0)
        from napari.qt.threading import create_worker

        self._half_key = key
        self._half_worker = create_worker(_half_data, raw_plane, px, model, refine, flips, _start_thread=False)
        self._half_worker.returned.connect(lambda result, key=key: self._half_done(key, result))
        self._half_worker.finished.connect(self._half_finished)
        self._half_worker.start()

    def _half_done(self, key, result) -> None:
        self._half_cache[key] = result
        self.schedule()  # show it

    def _half_finished(self) -> None:
        self._half_worker = None
        self._next_half()

    def half_data_text(self, name: str) -> str:
        result = self.half_data.get(name)
        if result is None:
            return ""
        if isinstance(result, str):
            return f"half-data FRC: — ({result})"
        return result.summary()

    # ------------------------------------------------------------------ show
    def _show(self, reports: list) -> None:
        self.reports = reports
        if not reports:
            self.text.setText("Select an image layer.")
        else:
            blocks = []
            # a processed layer's verdict is short and the point of comparing: it comes first
            for name, rep in sorted(reports, key=lambda item: isinstance(item[1], str) or not item[1].note):
                body = rep if isinstance(rep, str) else rep.summary()
                half = self.half_data_text(name)
                if half:
                    body += "\n" + half
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
