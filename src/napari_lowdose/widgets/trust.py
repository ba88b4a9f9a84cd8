"""Trust dock widget: does a denoised layer agree with its noisy layer? Pick both, check (or type) the
detector gain and offset (pre-filled by the estimate, or by what the Image info panel holds), Run on a
worker; outputs the agreement map and the atom-likelihood map (diverging colormap symmetric about 0)
and a Points layer of the blobs, those with ΔL < 0 flagged in red. Thin: the work is
:func:`napari_lowdose.core.trust.check`.

Also :func:`check_after_denoise`, which the Denoise panel calls when a run finishes: the check on a
worker, its one sentence appended to the panel's status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from qtpy.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..core.errors import LowdoseError
from ..core.trust import check, estimate_gain
from ._layers import current_plane, pixel_size_angstrom, refresh_layer_combo, show_error, stop_when_destroyed

if TYPE_CHECKING:
    import napari

DETECTOR_KEY = "detector"  #: layer.metadata[DETECTOR_KEY] = {"gain": ADU/e, "offset": ADU, "source": ...}
_ESTIMATE_SIDE = 512  # px: the gain is estimated on a central crop this large at most


def _se(det: dict) -> str:
    """' ± 7 %' after an estimated gain, and a request to type it when the image does not pin it down."""
    se = det.get("gain_se")
    if se is None or det.get("source") != "estimated":
        return ""
    text = f" ± {se:.0%}" if np.isfinite(se) else " (unknown error)"
    return text if det.get("identifiable", True) else text + " (not pinned down by this image: type it)"


def detector_of(layer, plane: np.ndarray | None = None) -> dict | None:
    """The layer's detector gain and offset: typed or stored in its metadata, else estimated (and stored)."""
    known = layer.metadata.get(DETECTOR_KEY)
    if known and "gain" in known and "offset" in known:
        return known
    if plane is None:
        return None
    ny, nx = plane.shape[-2:]
    cy, cx = max((ny - _ESTIMATE_SIDE) // 2, 0), max((nx - _ESTIMATE_SIDE) // 2, 0)
    try:
        est = estimate_gain(np.asarray(plane)[cy : cy + _ESTIMATE_SIDE, cx : cx + _ESTIMATE_SIDE])
    except LowdoseError:
        return None
    found = {"gain": est.gain, "offset": est.offset, "read_noise": est.read_noise, "source": "estimated",
             "gain_se": est.gain_se, "identifiable": est.identifiable}
    layer.metadata[DETECTOR_KEY] = found
    return found


def _symmetric(data: np.ndarray, floor: float) -> tuple[float, float]:
    m = max(float(np.nanpercentile(np.abs(data), 99.9)), floor)
    return (-m, m)


def _show_maps(viewer, report, noisy_layer, prefix: str) -> None:
    meta = {"scale": tuple(noisy_layer.scale[-2:]), "translate": tuple(noisy_layer.translate[-2:]), "units": tuple(noisy_layer.units[-2:])}
    # pink = trouble in both: agreement > 0 (structure left in the residual), ΔL < 0 (a blob the data do not support)
    for key, label, floor, cmap in (("agreement", "agreement", 5.0, "PiYG_r"), ("likelihood", "likelihood ΔL", 0.1, "PiYG")):
        name = f"{prefix} {label}"
        data = report.maps[key]
        if name in viewer.layers:
            viewer.layers[name].data = data
            viewer.layers[name].contrast_limits = _symmetric(data, floor)
        else:
            viewer.add_image(data, name=name, colormap=cmap, contrast_limits=_symmetric(data, floor), opacity=0.7, blending="additive", **meta)
    pts = np.array([[b.y, b.x] for b in report.blobs]) if report.blobs else np.zeros((0, 2))
    colors = ["red" if b.delta_l < 0 else "limegreen" for b in report.blobs]
    props = {"delta_l": np.array([b.delta_l for b in report.blobs]), "z": np.array([b.z for b in report.blobs])}
    name = f"{prefix} blobs"
    if name in viewer.layers:
        viewer.layers.remove(name)
    viewer.add_points(pts, name=name, size=2 * report.sigma * 1.414 * 2, face_color="transparent", border_color=colors if colors else "red",
                      properties=props, **meta)


class TrustWidget(QWidget):
    def __init__(self, napari_viewer: "napari.viewer.Viewer") -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.worker = None
        self.report = None
        self.noisy_combo, self.denoised_combo = QComboBox(), QComboBox()
        self.gain, self.offset = QDoubleSpinBox(), QDoubleSpinBox()
        self.gain.setRange(0.001, 1e6)
        self.gain.setDecimals(3)
        self.gain.setSuffix(" ADU/e⁻")
        self.offset.setRange(-1e6, 1e6)
        self.offset.setDecimals(2)
        self.offset.setSuffix(" ADU")
        self.estimated = QLabel()
        self.use_typed = QCheckBox("use these (else: estimate from the noisy layer)")
        self.run_button = QPushButton("Run")
        self.status = QLabel()
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow("noisy", self.noisy_combo)
        form.addRow("denoised", self.denoised_combo)
        form.addRow("gain", self.gain)
        form.addRow("offset", self.offset)
        form.addRow("", self.use_typed)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.estimated)
        layout.addWidget(self.run_button)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.run_button.clicked.connect(self.run)
        self.noisy_combo.currentTextChanged.connect(self._prefill)
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        stop_when_destroyed(self)
        self._refresh_layers()

    def _refresh_layers(self, event=None) -> None:
        refresh_layer_combo(self.noisy_combo, self.viewer)
        refresh_layer_combo(self.denoised_combo, self.viewer)
        names = [self.denoised_combo.itemText(i) for i in range(self.denoised_combo.count())]
        noisy = self.noisy_combo.currentText()
        if f"{noisy} denoised" in names:
            self.denoised_combo.setCurrentText(f"{noisy} denoised")
        self._prefill()

    def _prefill(self, *args) -> None:
        name = self.noisy_combo.currentText()
        if not name or name not in self.viewer.layers:
            return
        layer = self.viewer.layers[name]
        plane, _ = current_plane(layer, self.viewer)
        det = detector_of(layer, plane)
        if det:
            self.gain.setValue(det["gain"])
            self.offset.setValue(det["offset"])
            self.use_typed.setChecked(det.get("source") == "typed")
            self.estimated.setText(f"{det.get('source', 'estimated')}: gain {det['gain']:.4g} ADU/e⁻{_se(det)}, offset {det['offset']:.4g} ADU")
        else:
            self.estimated.setText("gain and offset could not be estimated from this layer: type them")

    def run(self) -> None:
        if self.worker is not None:
            return
        names = self.noisy_combo.currentText(), self.denoised_combo.currentText()
        if not all(n in self.viewer.layers for n in names) or names[0] == names[1]:
            show_error(self.status, "Choose a noisy layer and a different, denoised layer.")
            return
        noisy_layer, den_layer = (self.viewer.layers[n] for n in names)
        noisy, _ = current_plane(noisy_layer, self.viewer)
        den, _ = current_plane(den_layer, self.viewer)
        gain = offset = None
        if self.use_typed.isChecked():
            gain, offset = self.gain.value(), self.offset.value()
            noisy_layer.metadata[DETECTOR_KEY] = {"gain": gain, "offset": offset, "source": "typed"}
        px = pixel_size_angstrom(noisy_layer)
        from napari.qt.threading import create_worker

        def failed(exc) -> None:
            show_error(self.status, str(exc) if isinstance(exc, LowdoseError) else f"{type(exc).__name__}: {exc}")

        # errored connected at creation: otherwise napari's default handler re-raises the sentence
        self.worker = create_worker(check, noisy, den, px, gain, offset, _start_thread=False,
                                    _connect={"returned": lambda rep: self._on_done(rep, noisy_layer), "errored": failed})
        self.worker.finished.connect(self._on_finished)
        self.run_button.setEnabled(False)
        self.status.setText("checking…")
        self.worker.start()

    def _on_done(self, report, noisy_layer) -> None:
        self.report = report
        _show_maps(self.viewer, report, noisy_layer, noisy_layer.name)
        d = report.to_dict()
        self.status.setText(f"{'ok' if report.ok else 'FLAGGED'}: {report.message}<br>gain {d['gain']:.4g} ADU/e⁻, offset {d['offset']:.4g} ADU "
                            f"({d['gain_source']}); blobs {d['blobs']['n']}, ΔL < 0: {d['blobs']['negative']}, flagged {d['blobs']['flagged']}")

    def _on_finished(self) -> None:
        self.worker = None
        self.run_button.setEnabled(True)

    def _stop_work(self) -> None:
        if self.worker is not None:
            self.worker.quit()


def check_after_denoise(panel, noisy: np.ndarray, denoised: np.ndarray) -> None:
    """Run the trust check for a finished Denoise run on a worker and append its sentence to the
    panel's status (2-D images only; the maps are in the Trust panel)."""
    source = getattr(panel, "_source", None)
    if source is None or getattr(source, "multiscale", False) or np.ndim(noisy) != 2 or np.shape(noisy) != np.shape(denoised):
        return
    from napari.qt.threading import create_worker

    det = source.metadata.get(DETECTOR_KEY) or {}
    gain, offset = (det.get("gain"), det.get("offset")) if det.get("source") == "typed" else (None, None)

    def done(report) -> None:
        panel._trust_report = report
        panel.status.setText(f"{panel.status.text()}<br>trust: {report.message} (maps: Trust panel)")

    def failed(exc) -> None:
        panel.status.setText(f"{panel.status.text()}<br>trust check not run: {exc}")

    # errored connected at creation: otherwise napari's default handler re-raises a bad-input sentence
    worker = create_worker(check, np.asarray(noisy), np.asarray(denoised), pixel_size_angstrom(source), gain, offset, _start_thread=False,
                           _connect={"returned": done, "errored": failed})
    panel._trust_worker = worker  # kept alive while it runs
    panel._trust_busy = True  # the main job waits for it before closing the viewer
    worker.finished.connect(lambda: setattr(panel, "_trust_busy", False))
    worker.start()
