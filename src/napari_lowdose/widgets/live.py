"""Live panel: watch an acquisition folder; each new image opens as a layer and is denoised as it arrives.

Thin: :class:`~napari_lowdose.batch.watch.FolderWatcher` decides when a file is complete (size and time
stable, reads cleanly), :class:`~napari_lowdose.core.tiling.TiledDenoiser` denoises it, both on one
napari generator worker that yields often (every tile batch, and every 0.1 s while it waits), so Pause,
Resume and Stop act at once and the UI never waits on it. Layers are added, selected and removed only
in main-thread slots. The newest denoised layer is selected, so the Resolution panel (following the
selection) measures it; only the last N images (and their denoised layers) are kept.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core.errors import LowdoseError
from ..core.model import BUNDLED_MODELS, DEFAULT_MODEL, Model, load_model
from ._layers import show_error, stop_when_destroyed

if TYPE_CHECKING:
    import napari

POLL_SECONDS = 0.5  #: time between looks at the folder
TICK_SECONDS = 0.1  #: while waiting, the worker yields this often (pause / stop points)


def _live_job(watcher, denoiser, save_dir: Path | None):
    """Worker body. Yields ("raw", path, image), ("progress", path, step), ("denoised", path, result,
    outputs), ("failed", path, message) and ("idle", pending names) records."""
    from ..core.tiling import DenoiseProgress  # noqa: F401 - the progress records' type
    from ..io import read_image, write_image

    while True:
        for path in watcher.poll():
            try:
                images = read_image(path)
            except LowdoseError as exc:
                if watcher.mark_failed(path, str(exc)):
                    yield ("failed", path, str(exc))
                continue
            outputs, error = [], None
            for image in images:
                yield ("raw", path, image)
                gen = denoiser.run(image.data, name=path.name)
                try:
                    while True:
                        yield ("progress", path, next(gen))
                except StopIteration as stop:
                    result = stop.value
                except LowdoseError as exc:  # e.g. NaN pixels: this file only
                    error = str(exc)
                    break
                if save_dir is not None:
                    from ..batch.task import output_name

                    signal = image.metadata.get("signal") if len(images) > 1 else None
                    target = save_dir / output_name(path, signal)
                    z = image.scale[0] if image.data.ndim == 3 and image.units[0] == "angstrom" else None
                    write_image(target, result, pixel_size=image.pixel_size, z_size=z)
                    outputs.append(str(target))
                yield ("denoised", path, result, image)
            if error is None:
                watcher.mark_done(path, outputs)
            elif watcher.mark_failed(path, error, retry=False):
                yield ("failed", path, error)
        yield ("idle", watcher.pending())
        end = time.monotonic() + POLL_SECONDS
        while time.monotonic() < end:
            time.sleep(TICK_SECONDS)
            yield ("tick",)


class LiveWidget(QWidget):
    def __init__(self, napari_viewer: "napari.viewer.Viewer") -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.worker = None
        self.model: Model | None = None
        self.entries: deque = deque()  # (raw layer, denoised layer or None), oldest first
        self.count = 0

        self.folder = QLineEdit()
        self.folder.setPlaceholderText("the folder the microscope writes to")
        self.browse = QPushButton("Browse…")
        self.model_combo = QComboBox()
        for key, label in BUNDLED_MODELS.items():
            self.model_combo.addItem(f"{label} (bundled{', default' if key == DEFAULT_MODEL else ''})", key)
        self.load_button = QPushButton("Load…")
        self.load_button.setToolTip("a model file: NAME.safetensors with NAME.json beside it")
        self.pattern = QLineEdit("*")
        self.pattern.setToolTip("only file names matching this, e.g. *.dm4 (every readable type by default)")
        self.keep = QSpinBox()
        self.keep.setRange(1, 100)
        self.keep.setValue(5)
        self.keep.setToolTip("images kept as layers (with their denoised layers); older ones are removed")
        self.settle = QDoubleSpinBox()
        self.settle.setRange(0.0, 60.0)
        self.settle.setValue(1.0)
        self.settle.setSuffix(" s")
        self.settle.setToolTip("a file is read once its size and time have not changed for this long")
        self.only_new = QCheckBox("only files that arrive after Start")
        self.only_new.setChecked(True)
        self.save = QCheckBox("also write <stem>_denoised.tif to <folder>/denoised")
        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setEnabled(False)
        self.status = QLabel("Choose a folder and press Start.")
        self.status.setWordWrap(True)
        self.log = QLabel()
        self.log.setWordWrap(True)

        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(self.browse)
        form.addRow("folder", row)
        row = QHBoxLayout()
        row.addWidget(self.model_combo, 1)
        row.addWidget(self.load_button)
        form.addRow("model", row)
        form.addRow("pattern", self.pattern)
        form.addRow("keep last", self.keep)
        form.addRow("settle", self.settle)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.only_new)
        layout.addWidget(self.save)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.pause_button)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.log)
        layout.addStretch(1)

        self.browse.clicked.connect(self._choose_folder)
        self.load_button.clicked.connect(self._choose_model_file)
        self.start_button.clicked.connect(self.toggle)
        self.pause_button.clicked.connect(self.toggle_pause)
        stop_when_destroyed(self)

    # ------------------------------------------------------------------ choices
    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder to watch", self.folder.text())
        if path:
            self.folder.setText(path)

    def _choose_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load model", "", "Model (*.safetensors *.json);;All files (*)")
        if path:
            self.set_model(path)

    def set_model(self, model: Model | str | None) -> bool:
        """Use ``model`` (a Model, a file, ``"haadf"``/``"hrtem"``); it is listed and chosen."""
        try:
            loaded = model if isinstance(model, Model) else load_model(model)
        except LowdoseError as exc:
            show_error(self.status, str(exc))
            return False
        key = model if isinstance(model, str) and model in BUNDLED_MODELS else loaded
        index = self.model_combo.findData(key)
        if index < 0:
            self.model_combo.addItem(loaded.name, loaded)
            index = self.model_combo.count() - 1
        self.model_combo.setCurrentIndex(index)
        self.model = loaded
        return True

    def _current_model(self) -> Model:
        data = self.model_combo.currentData()
        return data if isinstance(data, Model) else load_model(data)

    # ---------------------------------------------------------------- start/stop
    def toggle(self) -> None:
        if self.worker is None:
            self.start()
        else:
            self.stop()

    def start(self) -> None:
        from ..batch.watch import FolderWatcher
        from ..core.tiling import TiledDenoiser

        folder = Path(self.folder.text().strip()).expanduser()
        if not self.folder.text().strip() or not folder.is_dir():
            show_error(self.status, f"{folder}: no such folder to watch" if self.folder.text().strip() else "Choose a folder to watch.")
            return
        save_dir = folder / "denoised" if self.save.isChecked() else None
        try:
            model = self._current_model()
            denoiser = TiledDenoiser(model)
            watcher = FolderWatcher(folder, save_dir, pattern=self.pattern.text().strip() or "*", settle=self.settle.value(),
                                    skip_existing=self.only_new.isChecked())
        except LowdoseError as exc:
            show_error(self.status, str(exc))
            return
        from napari.qt.threading import create_worker

        self.model = model
        self.worker = create_worker(_live_job, watcher, denoiser, save_dir, _start_thread=False,
                                    _connect={"errored": self._on_error})
        self.worker.yielded.connect(self._on_yield)
        self.worker.finished.connect(self._on_finished)
        self.start_button.setText("Stop")
        self.pause_button.setEnabled(True)
        self.pause_button.setText("Pause")
        self.status.setText(f"watching {folder} with '{model.name}' on {denoiser.device}…")
        self.worker.start()

    def stop(self) -> None:
        if self.worker is not None:
            if self.worker.is_paused:
                self.worker.resume()
            self.worker.quit()
            self.status.setText("stopping…")

    def toggle_pause(self) -> None:
        if self.worker is None:
            return
        if self.worker.is_paused:
            self.worker.resume()
            self.pause_button.setText("Pause")
            self.status.setText("watching again…")
        else:
            self.worker.pause()
            self.pause_button.setText("Resume")
            self.status.setText("paused: new files wait until Resume")

    @property
    def paused(self) -> bool:
        return self.worker is not None and self.worker.is_paused

    # ------------------------------------------------------------- worker slots
    def _on_yield(self, item) -> None:
        kind = item[0]
        if kind == "raw":
            _, path, image = item
            self._add_raw(path, image)
        elif kind == "progress":
            _, path, step = item
            self.status.setText(f"denoising {path.name}: {step.done}/{step.total} tiles")
        elif kind == "denoised":
            _, path, result, image = item
            self._add_denoised(path, result, image)
        elif kind == "failed":
            _, path, message = item
            self._note(f"<span style='color:#ff8080'>{message}</span>")
        elif kind == "idle" and not self.paused:
            pending = item[1]
            self.status.setText(f"watching… {self.count} image(s) so far" + (f"; being written: {', '.join(pending[:3])}" if pending else ""))

    def _add_raw(self, path: Path, image) -> None:
        kwargs = image.layer_kwargs()
        layer = self.viewer.add_image(image.data, **kwargs)
        self.entries.append([layer, None])
        self.count += 1
        self._trim()

    def _add_denoised(self, path: Path, result, image) -> None:
        raw = self.entries[-1][0] if self.entries else None
        kwargs = image.layer_kwargs()
        kwargs["name"] = f"{kwargs['name']} denoised"
        kwargs["metadata"] = {**kwargs["metadata"], "denoised_with": self.model.card.name}
        limits = raw.contrast_limits if raw is not None and raw in self.viewer.layers else None
        layer = self.viewer.add_image(result, contrast_limits=limits, **kwargs)
        if self.entries:
            self.entries[-1][1] = layer
        for old_raw, old_den in list(self.entries)[:-1]:  # the newest is what shows
            for old in (old_raw, old_den):
                if old is not None and old in self.viewer.layers:
                    old.visible = False
        if raw is not None and raw in self.viewer.layers:
            raw.visible = False
        self.viewer.layers.selection.active = layer  # the Resolution panel follows the selection
        self.viewer.layers.selection = {layer}
        self._note(f"{path.name}: denoised")
        self._trim()

    def _trim(self) -> None:
        while len(self.entries) > self.keep.value():
            for layer in self.entries.popleft():
                if layer is not None and layer in self.viewer.layers:
                    self.viewer.layers.remove(layer)

    def _note(self, html: str) -> None:
        lines = [line for line in self.log.text().split("<br>") if line][-5:]
        self.log.setText("<br>".join([*lines[-4:], html]))

    def _on_error(self, exc: Exception) -> None:
        show_error(self.status, str(exc) if isinstance(exc, LowdoseError) else f"{type(exc).__name__}: {exc}")

    def _on_finished(self) -> None:
        self.worker = None
        self.start_button.setText("Start")
        self.pause_button.setEnabled(False)
        self.pause_button.setText("Pause")
        if self.status.text().startswith(("stopping", "watching", "paused", "denoising")):
            self.status.setText(f"stopped; {self.count} image(s) this session")

    def _stop_work(self) -> None:
        if self.worker is not None:
            if self.worker.is_paused:
                self.worker.resume()
            self.worker.quit()
