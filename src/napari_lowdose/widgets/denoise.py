"""Denoise dock widget: tiled U-Net inference on a worker thread, the result filling in as tiles finish.

Thin: the work is ``core.tiling.TiledDenoiser.run`` (a generator: every yield is a progress tick and a
cancel point). The layer's data is copied before the worker gets it; the output layer is created and
updated only in main-thread slots, from snapshots the worker takes itself.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core.errors import LowdoseError
from ..core.model import BUNDLED_MODELS, DEFAULT_MODEL, Model, load_model
from ..core.tiling import TiledDenoiser
from ._layers import refresh_layer_combo, show_error, stop_when_destroyed
from ._registry import register_denoise_widget

if TYPE_CHECKING:
    import napari

SNAPSHOT_SECONDS = 0.5  #: how often the worker hands a partial result to the display


def _denoise_with_snapshots(denoiser: TiledDenoiser, data: np.ndarray, name: str):
    """Worker body: the denoiser's progress, plus a partial result every SNAPSHOT_SECONDS (taken on the
    worker thread, so it never races the computation)."""
    last = time.monotonic()
    gen = denoiser.run(data, name=name)
    try:
        while True:
            step = next(gen)
            now = time.monotonic()
            snapshot = None
            if now - last >= SNAPSHOT_SECONDS:
                snapshot, last = denoiser.partial(), now
            yield step, snapshot
    except StopIteration as stop:
        return stop.value


def _card_text(model: Model) -> str:
    card = model.card
    arch = card.architecture
    lines = [f"<b>{card.name}</b>", f"U-Net depth {arch.depth}, {arch.base_channels} channels"]
    if card.trained_on.get("data"):
        lines.append(f"trained on: {card.trained_on['data']}")
    held = card.metrics.get("held_out", {}).get("in_distribution")
    if held:
        gain = sum(r["model_psnr"] - r["noisy_psnr"] for r in held) / len(held)
        vs = sum(r["model_psnr"] - r["gaussian_psnr"] for r in held) / len(held)
        lines.append(f"held-out: {gain:+.1f} dB over noisy, {vs:+.1f} dB over the best Gaussian (mean of {len(held)} settings)")
    if card.refine != "none":
        lines.append(f"refine (model's choice): {card.refine}")
    finetune = card.training.get("finetune")
    if finetune:
        lines.append(f"fine-tuned: {finetune.get('steps')} steps, validation {finetune.get('best_validation_psnr_db')} dB")
    elif card.training.get("steps"):
        lines.append(f"{card.training['steps']} steps, {card.training.get('wall_time_s', '?')} s")
    return "<br>".join(lines)


class DenoiseWidget(QWidget):
    def __init__(self, napari_viewer: "napari.viewer.Viewer") -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.model: Model | None = None
        self._model_index = 0
        self.worker = None
        self.output_layer = None
        self._bar = None
        self._denoiser = None  # the running one: its notes (e.g. a skipped refinement) go into the final status
        self._linked: list = []

        self.layer_combo = QComboBox()
        self.model_combo = QComboBox()
        for key, label in BUNDLED_MODELS.items():
            self.model_combo.addItem(f"{label} (bundled{', default' if key == DEFAULT_MODEL else ''})", key)
        self.model_combo.setToolTip("the bundled model for your kind of image; Load… adds a model file (e.g. a fine-tuned one)")
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.load_button = QPushButton("Load…")
        self.load_button.setToolTip("Load a model: NAME.safetensors with NAME.json beside it (pickled .pt files are refused)")
        self.tile = QSpinBox()
        self.tile.setRange(0, 16384)
        self.tile.setSingleStep(32)
        self.tile.setSpecialValueText("auto")
        self.tile.setToolTip("Tile size in pixels (auto: chosen for the device; larger than the image: one pass)")
        self.overlap = QSpinBox()
        self.overlap.setRange(-1, 1024)
        self.overlap.setSpecialValueText("auto")
        self.overlap.setValue(-1)
        self.device = QComboBox()
        self.device.addItems(_devices())
        self.flips = QComboBox()
        for n, label in ((1, "none"), (2, "2 (up-down), 2x time"), (4, "4 (up-down, left-right), 4x time")):
            self.flips.addItem(label, n)
        self.flips.setToolTip("Average the model over flipped copies of each tile: slightly better, slower")
        self.refine = QComboBox()
        for value, label in (("auto", "model's choice"), ("none", "none"), ("wiener", "Wiener (white noise: HRTEM)")):
            self.refine.addItem(label, value)
        self.refine.setToolTip(
            "Wiener refinement after the network: puts back detail the network smoothed away, using the noise level in the "
            "spectrum's corners. Only for white noise (HRTEM cameras); it puts STEM scan artifacts back. "
            "'model's choice': what the model card says (the bundled hrtem model: Wiener; haadf: none)"
        )
        self.run_button = QPushButton("Run")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.side_by_side = QCheckBox("input and output side by side (linked contrast)")
        self.status = QLabel()
        self.status.setWordWrap(True)

        form = QFormLayout()
        form.addRow("input", self.layer_combo)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_combo, 1)
        model_row.addWidget(self.load_button)
        form.addRow("model", model_row)
        form.addRow("", self.model_label)
        form.addRow("tile", self.tile)
        form.addRow("overlap", self.overlap)
        form.addRow("device", self.device)
        form.addRow("average flips", self.flips)
        form.addRow("refine", self.refine)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)
        layout.addWidget(self.side_by_side)
        layout.addWidget(self.status)
        layout.addStretch(1)

        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.load_button.clicked.connect(self._choose_model_file)
        self.model_combo.activated.connect(lambda index: self.set_model(self.model_combo.itemData(index)))
        self.side_by_side.toggled.connect(self._side_by_side)
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        # closing the widget (or napari, which deletes it) stops the worker at its next tile batch
        stop_when_destroyed(self)
        self._refresh_layers()
        self.set_model(None)
        register_denoise_widget(self.viewer, self)  # the Fine-tune panel hands its result here

    # ------------------------------------------------------------------- model
    def set_model(self, model: Model | str | None) -> bool:
        """Use ``model``: a Model, a file path, ``"haadf"``/``"hrtem"`` (bundled), or None (the default).
        False if it cannot load; the previous model then stays."""
        try:
            loaded = model if isinstance(model, Model) else load_model(model)
        except LowdoseError as exc:
            self._error(str(exc))
            self.model_combo.setCurrentIndex(self._model_index)  # show the model that stays
            return False
        key = model if isinstance(model, str) and model in BUNDLED_MODELS else (DEFAULT_MODEL if model is None else loaded)
        index = self.model_combo.findData(key)
        if index < 0:  # a loaded or fine-tuned model gets its own entry
            path = f" ({loaded.path.name})" if loaded.path is not None else ""
            self.model_combo.addItem(f"{loaded.name}{path}", loaded)
            index = self.model_combo.count() - 1
        self.model_combo.setCurrentIndex(index)
        self.model, self._model_index = loaded, index
        self.model_label.setText(_card_text(loaded))
        self.model_label.setToolTip(loaded.card.to_json())
        return True

    def _choose_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load model", "", "Model (*.safetensors *.json);;All files (*)")
        if path:
            self.set_model(path)

    # ------------------------------------------------------------------ layers
    def _refresh_layers(self, event=None) -> None:
        refresh_layer_combo(self.layer_combo, self.viewer, exclude=(self.output_layer,))
        if self.output_layer is not None and self.output_layer not in self.viewer.layers:
            self.output_layer = None

    def source_layer(self):
        name = self.layer_combo.currentText()
        return self.viewer.layers[name] if name and name in self.viewer.layers else None

    # --------------------------------------------------------------------- run
    def run(self) -> None:
        if self.worker is not None:
            return
        layer = self.source_layer()
        if layer is None:
            self._error("Choose an image layer to denoise.")
            return
        if layer.rgb:
            self._error(f"{layer.name} is an RGB layer; denoising needs a single-channel detector image.")
            return
        if self.model is None and not self.set_model(None):
            return
        data = layer.data[0] if layer.multiscale else layer.data
        if not hasattr(data, "compute"):
            data = np.array(data)  # a copy: the worker never reads the live layer
        try:
            denoiser = TiledDenoiser(
                self.model,
                tile=self.tile.value() or None,
                overlap=None if self.overlap.value() < 0 else self.overlap.value(),
                device=self.device.currentText(),
                flips=self.flips.currentData(),
                refine=self.refine.currentData(),
            )
        except LowdoseError as exc:
            self._error(str(exc))
            return
        from napari.qt.threading import create_worker
        from napari.utils import progress

        self._source = layer
        self._denoiser = denoiser
        self._meta = {
            "name": f"{layer.name} denoised",
            "scale": tuple(layer.scale),
            "translate": tuple(layer.translate),
            "units": tuple(layer.units),
            "axis_labels": tuple(layer.axis_labels),
            "metadata": {**layer.metadata, "denoised_with": self.model.card.name, "refine": denoiser.refine},
        }
        self._bar = progress(total=0, desc=f"Denoise {layer.name}")
        self.worker = create_worker(
            _denoise_with_snapshots, denoiser, data, layer.name, _start_thread=False, _connect={"errored": self._on_error}
        )
        self.worker.yielded.connect(self._on_progress)
        self.worker.returned.connect(self._on_done)
        self.worker.aborted.connect(self._on_aborted)
        self.worker.finished.connect(self._on_finished)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        flips = f", {denoiser.flips} flips" if denoiser.flips > 1 else ""
        refine = ", Wiener refinement" if denoiser.refine == "wiener" else ""
        self.status.setText(f"denoising on {denoiser.device}, tile {denoiser.tile}, overlap {denoiser.overlap}{flips}{refine}…")
        self.worker.start()

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.quit()  # stops at the next tile batch
            self.status.setText("cancelling…")

    # ---------------------------------------------------------- worker slots
    def _on_progress(self, item) -> None:
        step, snapshot = item
        if self._bar is not None:
            if self._bar.total != step.total:
                self._bar.total = step.total
            self._bar.n = step.done
            self._bar.refresh()
        if step.message:
            self.status.setText(step.message)
        if snapshot is not None:
            self._show(snapshot)

    def _on_done(self, result: np.ndarray) -> None:
        self._show(result)
        notes = "".join(f"<br>{n}" for n in self._denoiser.notes)  # e.g. a skipped refinement
        self.status.setText(f"done: {self._meta['name']}{notes}")
        from .trust import check_after_denoise  # the trust check's one sentence, on a worker

        check_after_denoise(self, self._source.data, result)

    def _on_error(self, exc: Exception) -> None:
        self._error(str(exc) if isinstance(exc, LowdoseError) else f"{type(exc).__name__}: {exc}")

    def _on_aborted(self) -> None:
        self.status.setText("cancelled; the output layer keeps the tiles finished so far")

    def _on_finished(self) -> None:
        self.worker = None
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _show(self, data: np.ndarray) -> None:
        if self.output_layer is None or self.output_layer not in self.viewer.layers:
            limits = self._source.contrast_limits if self._source in self.viewer.layers else None
            self.output_layer = self.viewer.add_image(data, contrast_limits=limits, **self._meta)
            self._link_contrast()
        else:
            self.output_layer.data = data
            self.output_layer.name = self._meta["name"]

    # ------------------------------------------------------------- display
    def _side_by_side(self, on: bool) -> None:
        from .._viewer import grid

        grid(self.viewer).enabled = on
        self._link_contrast()

    def _link_contrast(self) -> None:
        """Keep input and output on the same contrast limits (both are in the input's units)."""
        src, out = getattr(self, "_source", None), self.output_layer
        if src is None or out is None:
            return
        for layer, handler in self._linked:
            try:
                layer.events.contrast_limits.disconnect(handler)
            except (TypeError, ValueError, RuntimeError):
                pass
        self._linked = []

        def follow(a, b):
            def handler(event=None):
                if tuple(b.contrast_limits) != tuple(a.contrast_limits):
                    b.contrast_limits = a.contrast_limits

            return handler

        for a, b in ((src, out), (out, src)):
            h = follow(a, b)
            a.events.contrast_limits.connect(h)
            self._linked.append((a, h))
        out.contrast_limits = src.contrast_limits

    def _error(self, message: str) -> None:
        show_error(self.status, message)

    def _stop_work(self) -> None:
        if self.worker is not None:
            self.worker.quit()


def _devices() -> list[str]:
    import torch

    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        names.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names

