"""Denoise dock widget: tiled U-Net inference on a worker thread, the result filling in as tiles finish.

Thin: the work is ``core.tiling.TiledDenoiser.run`` (a generator: every yield is a progress tick and a
cancel point). The layer's data is copied before the worker gets it; the output layer is created and
updated only in main-thread slots, from snapshots the worker takes itself.
"""

from __future__ import annotations

import datetime
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
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core.errors import LowdoseError
from ..core.image import check_denoisable
from ..core.model import BUNDLED_MODELS, DEFAULT_MODEL, Model, load_model
from ..core.tiling import TiledDenoiser
from ._layers import refresh_layer_combo, show_error, stop_when_destroyed
from ._denoise_work import adapt_then_denoise, card_text as _card_text, denoise_with_snapshots as _denoise_with_snapshots, with_guard
from ._registry import register_denoise_widget

if TYPE_CHECKING:
    import napari

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
        self._notes: list[str] = []  # what the worker reports besides the denoiser's own notes (adaptation)

        self.layer_combo = QComboBox()
        self.model_combo = QComboBox()
        for key, label in BUNDLED_MODELS.items():
            self.model_combo.addItem(f"{label} (bundled{', default' if key == DEFAULT_MODEL else ''})", key)
        self.model_combo.setToolTip("the bundled model for your kind of image; Load… adds a model file (e.g. a fine-tuned one)")
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        # a wrapped label in a form row gets the height of its unwrapped text unless it may grow
        self.model_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.MinimumExpanding)
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
        self.adapt = QSpinBox()
        self.adapt.setRange(0, 600)
        self.adapt.setSingleStep(15)
        self.adapt.setSuffix(" s")
        self.adapt.setSpecialValueText("off")
        self.adapt.setToolTip("Adapt the model to this image first (self-supervised, on the image itself, for this long); "
                              "the adapted weights are used only if they beat the model on a held-out strip")
        self.guard = QComboBox()
        for label, value in (("auto (outside the model's range; counting models; images of counts)", "auto"), ("on", "on"), ("off", "off")):
            self.guard.addItem(label, value)
        self.guard.setToolTip("Blend the network with a Gaussian or a lattice (Wiener) filter as much as the image's own electrons "
                              "prefer (Poisson thinning: 5 more network runs on a 256 px crop). It needs the detector gain and offset: typed in "
                              "Image info, or estimated when the image pins them down")
        self.choice_label = QLabel()
        self.choice_label.setWordWrap(True)
        self._user_model = False  # True once the user picks a model: the file's metadata no longer chooses
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
        form.addRow("", self.choice_label)
        form.addRow("", self.model_label)
        form.addRow("tile", self.tile)
        form.addRow("overlap", self.overlap)
        form.addRow("device", self.device)
        form.addRow("average flips", self.flips)
        form.addRow("refine", self.refine)
        form.addRow("adapt to image", self.adapt)
        form.addRow("guard", self.guard)
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
        self.model_combo.activated.connect(self._user_picked_model)
        self.layer_combo.currentIndexChanged.connect(lambda _=None: self._choose_for_layer())
        self.side_by_side.toggled.connect(self._side_by_side)
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        # closing the widget (or napari, which deletes it) stops the worker at its next tile batch
        stop_when_destroyed(self)
        self._refresh_layers()
        self.set_model(None)
        self._choose_for_layer()
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
        if model is not None and not (isinstance(model, str) and model in BUNDLED_MODELS):
            self._user_model = True  # a file or a fine-tuned model: chosen, not to be replaced by the metadata's choice
            self.choice_label.setText("your choice")
        self.model_label.setText(_card_text(loaded))
        self.model_label.setToolTip(loaded.card.to_json())
        return True

    def _user_picked_model(self, index: int) -> None:
        if self.set_model(self.model_combo.itemData(index)):
            self._user_model = True
            self._say_choice("your choice")

    def _choose_for_layer(self) -> None:
        """The bundled model for the mode the input's file records (STEM or TEM), unless the user chose one;
        said in the panel, with a warning when the image lies outside the model's trained range."""
        from ..core.choose import choose_model

        layer = self.source_layer()
        if layer is None:
            return
        if not self._user_model:
            px = float(layer.scale[-1]) if tuple(layer.units[-1:]) == ("angstrom",) else None
            name, why = choose_model(layer.metadata.get("mode"), px)
            if self.model is None or self.model_combo.currentData() != name:
                self.set_model(name)
            self._say_choice(why)
        else:
            self._say_choice("your choice")

    def _say_choice(self, why: str) -> None:
        from ..core.choose import range_note

        text = why
        layer = self.source_layer()
        if layer is not None and self.model is not None and tuple(layer.units[-1:]) == ("angstrom",):
            note = range_note(self.model.card, float(layer.scale[-1]))
            if note:
                text += f"<br><span style='color:#e0a030'>{note[0].upper() + note[1:]}.</span>"
        self.choice_label.setText(text)

    def _choose_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load model", "", "Model (*.safetensors *.json);;All files (*)")
        if path and self.set_model(path):
            self._user_model = True
            self._say_choice("your choice")

    # ------------------------------------------------------------------ layers
    def _refresh_layers(self, event=None) -> None:
        refresh_layer_combo(self.layer_combo, self.viewer, exclude=(self.output_layer,))
        if self.output_layer is not None and self.output_layer not in self.viewer.layers:
            self.output_layer = None
        if hasattr(self, "choice_label") and self.worker is None:
            self._choose_for_layer()  # the combo may change without a signal while it is refilled

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
        try:  # one sentence before any work: 4-D or 4D-STEM data, under the model's size, constant
            check_denoisable(data, layer.name, min_side=self.model.card.architecture.multiple,
                             kind=str(layer.metadata.get("kind", "")), check_constant=isinstance(data, np.ndarray))
        except LowdoseError as exc:
            self._error(str(exc))
            return
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
            "metadata": {
                **{k: v for k, v in layer.metadata.items() if k != "provenance"},
                "denoised_with": self.model.card.name,
                "refine": denoiser.refine,
                # what made this layer: the Resolution panel measures it from its raw input (half-data FRC)
                "provenance": {
                    "processing": "denoised",
                    "model": self.model.card.name,
                    "model_file": str(self.model.path) if self.model.path is not None else None,
                    "input_layer": layer.name,
                    "input": layer.metadata.get("source"),
                    "signal": layer.metadata.get("signal"),
                    "refine": denoiser.refine,
                    "flips": denoiser.flips,
                    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                },
            },
        }
        self._bar = progress(total=0, desc=f"Denoise {layer.name}")
        self._notes = []
        used: list = []  # the adapted denoiser, when adaptation makes one
        if self.adapt.value() > 0:
            body = (adapt_then_denoise, self.model, data, layer.name, float(self.adapt.value()), denoiser, self._notes, used)
        else:
            body = (_denoise_with_snapshots, denoiser, data, layer.name)
        if self._guarded(layer):
            from .trust import DETECTOR_KEY

            det = layer.metadata.get(DETECTOR_KEY) or {}
            typed = det.get("source") == "typed"
            body = (with_guard, body[0](*body[1:]), data, denoiser, det.get("gain") if typed else None,
                    det.get("offset") if typed else None, self._notes, used)
        self.worker = create_worker(*body, _start_thread=False, _connect={"errored": self._on_error})
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

    def _guarded(self, layer) -> bool:
        """Whether the guard runs: on, or auto and :func:`~..core.choose.guard_by_default` says so (outside
        the model's range, a model trained on electron counts, or an image of counts without scan noise)."""
        mode = self.guard.currentData()
        if mode != "auto":
            return mode == "on"
        from ..core.choose import guard_by_default

        px = float(layer.scale[-1]) if tuple(layer.units[-1:]) == ("angstrom",) else None
        return guard_by_default(self.model.card, px, layer.data if getattr(layer.data, "ndim", 0) == 2 else None)

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
        own = [] if self.adapt.value() > 0 else list(self._denoiser.notes)  # adaptation reports its denoiser's notes itself
        notes = "".join(f"<br>{n}" for n in own + list(self._notes))  # e.g. a skipped refinement, adaptation, the guard
        self.status.setText(f"done: {self._meta['name']}{notes}")
        from .trust import check_after_denoise  # the trust check's one sentence, on a worker

        check_after_denoise(self, self._source.data, result)

    def _on_error(self, exc: Exception) -> None:
        self._error(str(exc) if isinstance(exc, LowdoseError) else f"{type(exc).__name__}: {exc}")

    def _on_aborted(self) -> None:
        self.status.setText("cancelled; the output layer keeps what was finished: the tiles so far, or the network's "
                            "whole result when the guard was cancelled")

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

