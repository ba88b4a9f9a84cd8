"""Fine-tune dock widget: adapt the current model to today's sample on (noisy, reference) layer pairs,
or self-supervised on noisy layers alone, on a worker thread.

Thin: the work is ``core.finetune`` (pair checks, then ``FineTuner.run``, a generator whose every yield is
a progress tick and a cancel point). Layer data is copied before the worker gets it; plots, the preview
layer and the Denoise panel's model are touched only in main-thread slots. Cancel asks the tuner to stop
at the next step, so the best weights so far come back as the worker's result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core.errors import LowdoseError
from ..core.finetune import FinetuneConfig, FineTuner, prepare_pair
from ..core.losses import LossConfig
from ..core.model import Model, load_model, save_model
from ._layers import current_plane, fill_combo, image_layers, show_error, stop_when_destroyed
from ._registry import denoise_widget_for
from ._plot import FOREGROUND, PlotCanvas

if TYPE_CHECKING:
    import napari

NO_REFERENCE = "(none: self-supervised)"
NO_AREAS = "(none: hold out a bottom strip)"
LOSSES = {"Fourier + resolution + anisotropy (seed)": "seed", "L1": "l1"}  # the seed loss first: it measured better


def _finetune_job(model: Model, raw_pairs: list[tuple[str, np.ndarray, np.ndarray | None]], config: FinetuneConfig, correct_shift: bool,
                  boxes: tuple = (None, None)):
    """Worker body: checks and aligns the pairs, yields ("tuner", tuner) then the tuner's progress records,
    returns the best model. ``boxes``: (training, validation) areas in pixels of the images, or None."""
    from dataclasses import replace

    pairs = [replace(prepare_pair(noisy, ref, name=name, correct_shift=correct_shift), train_box=boxes[0], val_box=boxes[1])
             for name, noisy, ref in raw_pairs]
    tuner = FineTuner(model, pairs, config)
    yield ("tuner", tuner)
    return (yield from tuner.run())


class _PairRow:
    def __init__(self) -> None:
        self.noisy = QComboBox()
        self.reference = QComboBox()
        self.noisy.setToolTip("noisy (short-dwell) image")
        self.reference.setToolTip("reference (long-dwell) image of the same area, or none for self-supervised training")


class FinetuneWidget(QWidget):
    def __init__(self, napari_viewer: "napari.viewer.Viewer") -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.worker = None
        self.tuner: FineTuner | None = None
        self.tuned: Model | None = None
        self.preview_layer = None
        self._bar = None
        self._steps: list[int] = []
        self._losses: list[float] = []
        self._val: list[tuple[int, float]] = []

        self.rows: list[_PairRow] = []
        self.pair_grid = QGridLayout()
        self.pair_grid.addWidget(QLabel("noisy"), 0, 0)
        self.pair_grid.addWidget(QLabel("reference"), 0, 1)
        self.add_pair_button = QPushButton("+ pair")
        self.remove_pair_button = QPushButton("− pair")
        self.loss = QComboBox()
        self.loss.addItems(list(LOSSES))
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(0.05, 600.0)
        self.minutes.setValue(3.0)
        self.minutes.setSuffix(" min")
        self.steps = QSpinBox()
        self.steps.setRange(0, 10_000_000)
        self.steps.setSpecialValueText("by time")
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(6)
        self.lr.setRange(1e-6, 1e-2)
        self.lr.setSingleStep(1e-5)
        self.lr.setValue(1e-4)
        self.start_from = QComboBox()
        self.start_from.addItem("current model (Denoise panel)", None)
        self.start_from.addItem("bundled HAADF-STEM", "haadf")
        self.start_from.addItem("bundled HRTEM", "hrtem")
        self.areas = QComboBox()
        self.areas.setToolTip("a Shapes layer: its first rectangle is the training area, its second (optional) the "
                              "held-out validation area; without a second one, the bottom strip of the first is held out")
        self.correct_shift = QCheckBox("correct the shift between noisy and reference")
        self.correct_shift.setChecked(True)
        self.clean_reference = QCheckBox("denoise the reference with the starting model first")
        self.clean_reference.setChecked(True)
        self.clean_reference.setToolTip("so that the reference's own noise and scan artifacts are not learned")
        self.train_button = QPushButton("Train")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.save_button = QPushButton("Save…")
        self.save_button.setEnabled(False)
        self.status = QLabel("Pick (noisy, reference) pairs and press Train.")
        self.status.setWordWrap(True)
        self.plot = PlotCanvas(height=2.6)
        self.plot.axes.set_xlabel("step")
        self.plot.axes.set_ylabel("loss")
        self.val_axes = self.plot.axes.twinx()

        pair_buttons = QHBoxLayout()
        pair_buttons.addWidget(self.add_pair_button)
        pair_buttons.addWidget(self.remove_pair_button)
        form = QFormLayout()
        form.addRow("loss", self.loss)
        form.addRow("time", self.minutes)
        form.addRow("steps", self.steps)
        form.addRow("learning rate", self.lr)
        form.addRow("start from", self.start_from)
        form.addRow("areas (Shapes)", self.areas)
        buttons = QHBoxLayout()
        for b in (self.train_button, self.cancel_button, self.save_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addLayout(self.pair_grid)
        layout.addLayout(pair_buttons)
        layout.addLayout(form)
        layout.addWidget(self.correct_shift)
        layout.addWidget(self.clean_reference)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.plot)
        layout.addStretch(1)

        self.add_pair_button.clicked.connect(self.add_pair)
        self.remove_pair_button.clicked.connect(self.remove_pair)
        self.train_button.clicked.connect(self.train)
        self.cancel_button.clicked.connect(self.cancel)
        self.save_button.clicked.connect(self._choose_save_path)
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        stop_when_destroyed(self)
        self.add_pair()

    # ------------------------------------------------------------------ pairs
    def add_pair(self) -> None:
        row = _PairRow()
        r = len(self.rows) + 1
        self.pair_grid.addWidget(row.noisy, r, 0)
        self.pair_grid.addWidget(row.reference, r, 1)
        self.rows.append(row)
        self._refresh_layers()
        names = [c.noisy.currentText() for c in self.rows]
        if len(self.rows) == 1 and len(image_layers(self.viewer)) >= 2:  # a likely first guess: layers 0 and 1
            row.noisy.setCurrentIndex(0)
            row.reference.setCurrentIndex(2)
        elif names.count(row.noisy.currentText()) > 1 and row.noisy.count() > 1:
            row.noisy.setCurrentIndex(min(row.noisy.count() - 1, len(self.rows) - 1))

    def remove_pair(self) -> None:
        if len(self.rows) <= 1:
            return
        row = self.rows.pop()
        for w in (row.noisy, row.reference):
            self.pair_grid.removeWidget(w)
            w.deleteLater()

    def _refresh_layers(self, event=None) -> None:
        from napari.layers import Shapes

        fill_combo(self.areas, [NO_AREAS, *(layer.name for layer in self.viewer.layers if isinstance(layer, Shapes))])
        names = [layer.name for layer in image_layers(self.viewer) if layer is not self.preview_layer]
        for row in self.rows:
            fill_combo(row.noisy, names)
            fill_combo(row.reference, [NO_REFERENCE, *names])

    def set_pair(self, index: int, noisy: str, reference: str | None) -> None:
        """Choose the layers of pair ``index`` (adding rows as needed); ``reference=None``: self-supervised."""
        while len(self.rows) <= index:
            self.add_pair()
        self.rows[index].noisy.setCurrentText(noisy)
        self.rows[index].reference.setCurrentText(reference or NO_REFERENCE)

    def _collect(self) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
        pairs = []
        for i, row in enumerate(self.rows, start=1):
            noisy_name, ref_name = row.noisy.currentText(), row.reference.currentText()
            if not noisy_name or noisy_name not in self.viewer.layers:
                raise LowdoseError(f"pair {i}: choose a noisy image layer")
            noisy_layer = self.viewer.layers[noisy_name]
            if getattr(noisy_layer, "rgb", False):
                raise LowdoseError(f"pair {i}: {noisy_name} is an RGB layer; fine-tuning needs single-channel detector images")
            noisy, _ = current_plane(noisy_layer, self.viewer)  # copies: the worker never reads live layers
            ref = None
            if ref_name and ref_name != NO_REFERENCE:
                if ref_name == noisy_name:
                    raise LowdoseError(f"pair {i}: the noisy and reference layers are the same layer ({noisy_name})")
                ref_layer = self.viewer.layers[ref_name]
                if getattr(ref_layer, "rgb", False):
                    raise LowdoseError(f"pair {i}: {ref_name} is an RGB layer; fine-tuning needs single-channel detector images")
                ref, _ = current_plane(ref_layer, self.viewer)
            pairs.append((noisy_name + (f" / {ref_name}" if ref is not None else ""), noisy, ref))
        kinds = {ref is None for _, _, ref in pairs}
        if len(kinds) > 1:
            raise LowdoseError("give a reference for every pair, or for none (self-supervised)")
        return pairs

    def boxes(self) -> tuple:
        """(training box, validation box) from the chosen Shapes layer, as (row0, row1, col0, col1) pixels of
        the first noisy layer (its world position and scale taken into account); None where not drawn."""
        name = self.areas.currentText()
        if not name or name == NO_AREAS or name not in self.viewer.layers or not self.rows:
            return (None, None)
        shapes = self.viewer.layers[name]
        noisy = self.viewer.layers[self.rows[0].noisy.currentText()]
        out = []
        for verts in list(shapes.data)[:2]:
            world = np.array([shapes.data_to_world(v) for v in verts])
            px = np.array([noisy.world_to_data(w[-noisy.ndim:]) for w in world])[:, -2:]
            (r0, c0), (r1, c1) = np.floor(px.min(axis=0)), np.ceil(px.max(axis=0))
            out.append((int(r0), int(r1), int(c0), int(c1)))
        if not out:
            raise LowdoseError(f"the Shapes layer {name} has no shapes: draw a training area (and a validation area)")
        return (out[0], out[1] if len(out) > 1 else None)

    # ------------------------------------------------------------------- run
    def config(self, self_supervised: bool = False) -> FinetuneConfig:
        steps = self.steps.value() or None
        return FinetuneConfig(
            steps=steps,
            minutes=None if steps else self.minutes.value(),
            lr=self.lr.value(),
            loss=LossConfig.named(LOSSES[self.loss.currentText()]),
            self_supervised=self_supervised,
            clean_reference=self.clean_reference.isChecked(),
        )

    def _base_model(self) -> Model:
        denoiser = denoise_widget_for(self.viewer)
        if self.start_from.currentIndex() == 0 and denoiser is not None and denoiser.model is not None:
            return denoiser.model
        return load_model(self.start_from.currentData() or None)

    def train(self) -> None:
        if self.worker is not None:
            return
        try:
            raw = self._collect()
            config = self.config(self_supervised=raw[0][2] is None)
            boxes = self.boxes()
            base = self._base_model()
        except LowdoseError as exc:
            self._error(str(exc))
            return
        from napari.qt.threading import create_worker
        from napari.utils import progress

        self.tuner, self.tuned = None, None
        self._steps, self._losses, self._val = [], [], []
        self._bar = progress(total=1000, desc="Fine-tune")
        self.worker = create_worker(_finetune_job, base, raw, config, self.correct_shift.isChecked(), boxes,
                                    _start_thread=False, _connect={"errored": self._on_error})
        self.worker.yielded.connect(self._on_progress)
        self.worker.returned.connect(self._on_done)
        self.worker.aborted.connect(self._on_aborted)
        self.worker.finished.connect(self._on_finished)
        self.train_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(f"checking {len(raw)} pair(s)…")
        self.worker.start()

    def cancel(self) -> None:
        if self.tuner is not None:
            self.tuner.stop()  # ends after the current step; the best weights come back as the result
            self.status.setText("stopping after this step; keeping the best weights…")
        elif self.worker is not None:
            self.worker.quit()

    # ------------------------------------------------------------ worker slots
    def _on_progress(self, item) -> None:
        if isinstance(item, tuple) and item[0] == "tuner":
            self.tuner = item[1]
            lines = [p.report() for p in self.tuner.pairs]
            self.status.setText("<br>".join(lines))
            return
        p = item
        if self._bar is not None:
            self._bar.n = int(1000 * p.fraction)
            self._bar.refresh()
        if p.step > 0:
            self._steps.append(p.step)
            self._losses.append(p.loss)
        if p.val_psnr is not None:
            self._val.append((p.step, p.val_psnr))
            self._draw()
        if p.preview is not None:
            self._show_preview(p.preview)
        if p.message:
            best = f" (best {p.best_val_psnr:.2f} dB)" if p.best_val_psnr is not None else ""
            self.status.setText(p.message + best)

    def _on_done(self, model: Model) -> None:
        self.tuned = model
        s = self.tuner.summary() if self.tuner is not None else {}
        denoiser = denoise_widget_for(self.viewer)
        if denoiser is not None:
            denoiser.set_model(model)
        where = "it is now the Denoise panel's model" if denoiser is not None else "open the Denoise panel to use it"
        self.status.setText(
            f"{s.get('ended', 'done')}: best validation {s.get('best_validation_psnr_db')} dB at step {s.get('best_step')} "
            f"of {s.get('steps')}; {where}. Save… writes it."
        )
        self.save_button.setEnabled(True)

    def _on_error(self, exc: Exception) -> None:
        self._error(str(exc) if isinstance(exc, LowdoseError) else f"{type(exc).__name__}: {exc}")

    def _on_aborted(self) -> None:
        if self.tuner is not None:  # closed before it could return: the tuner still has the best weights
            self._on_done(self.tuner.best_model())

    def _on_finished(self) -> None:
        self.worker = None
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self.train_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    # ------------------------------------------------------------- display
    def _draw(self) -> None:
        ax, vx = self.plot.axes, self.val_axes
        ax.clear()
        vx.clear()
        self.plot.style_axes()
        if self._steps:
            ax.plot(self._steps, self._losses, color="#7aa6da", lw=0.8, label="loss")
        if self._val:
            s, v = zip(*self._val)
            vx.plot(s, v, "o-", color="#e7c547", ms=3, lw=1.0, label="validation PSNR")
        ax.set_xlabel("step")
        ax.set_ylabel("loss", color="#7aa6da")
        vx.set_ylabel("validation PSNR (dB)", color="#e7c547")
        vx.tick_params(colors=FOREGROUND, labelsize=8)
        self.plot.draw_idle()

    def _show_preview(self, image: np.ndarray) -> None:
        """Show the output on the first validation strip, placed over that strip of the first noisy layer."""
        name = "fine-tune preview (validation strip)"
        if self.preview_layer is None or self.preview_layer not in self.viewer.layers:
            kwargs = {}
            source = self.rows[0].noisy.currentText() if self.rows else ""
            if source in self.viewer.layers and self.tuner is not None:
                layer = self.viewer.layers[source]
                row, col = self.tuner.val_origin[0]
                sy, sx = layer.scale[-2:]
                ty, tx = layer.translate[-2:]
                kwargs = dict(scale=(sy, sx), translate=(ty + row * sy, tx + col * sx), units=tuple(layer.units)[-2:])
                kwargs["contrast_limits"] = layer.contrast_limits
            self.preview_layer = self.viewer.add_image(image, name=name, **kwargs)
        else:
            self.preview_layer.data = image

    def _choose_save_path(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save model", "finetuned.safetensors", "Model (*.safetensors)")
        if path:
            self.save(path)

    def save(self, path) -> None:
        if self.tuned is None:
            self._error("Nothing to save yet: train first.")
            return
        try:
            written = save_model(self.tuned, path)
        except (LowdoseError, OSError) as exc:
            self._error(f"could not save the model: {exc}")
            return
        self.status.setText(f"saved {written} (+ {written.with_suffix('.json').name})")

    def _error(self, message: str) -> None:
        show_error(self.status, message)

    def _stop_work(self) -> None:
        if self.tuner is not None:
            self.tuner.stop()
        if self.worker is not None:
            self.worker.quit()

