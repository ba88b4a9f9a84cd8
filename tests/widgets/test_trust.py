import numpy as np


def _pair(seed=0, gain=10.0, offset=100.0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:96, :96]
    lam = 3.0 + 2.0 * np.cos(2 * np.pi * xx / 8.0)
    noisy = (offset + gain * rng.poisson(lam) + rng.normal(0, 1, lam.shape)).astype(np.float32)
    return noisy, (offset + gain * lam).astype(np.float32), np.full(lam.shape, offset + gain * 3.0, np.float32)


def test_trust_widget_maps_points_and_typed_gain(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    noisy, faithful, flat = _pair()
    viewer.add_image(noisy, name="img", scale=(0.25, 0.25), units=("angstrom", "angstrom"))
    viewer.add_image(flat, name="img denoised", scale=(0.25, 0.25), units=("angstrom", "angstrom"))
    _, widget = viewer.window.add_plugin_dock_widget("napari-lowdose", "Trust")
    widget.noisy_combo.setCurrentText("img")
    widget.denoised_combo.setCurrentText("img denoised")
    assert widget.gain.value() > 1 and widget.estimated.text().startswith("estimated: gain")  # pre-filled
    widget.gain.setValue(10.0)
    widget.offset.setValue(100.0)
    widget.use_typed.setChecked(True)
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60000)
    assert widget.report is not None and not widget.report.ok
    assert "periodic structure at 2 Å" in widget.status.text()
    lim = viewer.layers["img agreement"].contrast_limits
    assert lim[0] == -lim[1]  # diverging, symmetric about 0
    assert "img likelihood ΔL" in viewer.layers and "img blobs" in viewer.layers
    assert viewer.layers["img"].metadata["detector"] == {"gain": 10.0, "offset": 100.0, "source": "typed"}


def test_info_widget_shows_detector_and_takes_typed_values(make_napari_viewer):
    viewer = make_napari_viewer()
    noisy, _, _ = _pair(seed=1)
    viewer.add_image(noisy, name="img")
    _, widget = viewer.window.add_plugin_dock_widget("napari-lowdose", "Image info")
    rows = dict(widget.rows())
    assert rows["detector"].startswith("gain ") and "(estimated)" in rows["detector"]
    widget.gain.setValue(7.0)
    widget.offset.setValue(50.0)
    widget.set_detector.click()
    assert dict(widget.rows())["detector"] == "gain 7 ADU/e⁻, offset 50 ADU (typed)"
