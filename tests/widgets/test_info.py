import numpy as np


def shown_texts(widget) -> list[str]:
    """The texts of the labels the widget displays."""
    items = (widget.form.itemAt(i).widget() for i in range(widget.form.count()))
    return [item.text() for item in items if item is not None and hasattr(item, "text")]


def test_info_widget_shows_pixel_size_and_follows_selection(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((64, 32), np.uint16), name="a", scale=(2.0, 2.0), units=("angstrom", "angstrom"))
    _, widget = viewer.window.add_plugin_dock_widget("napari-lowdose", "Image info")
    rows = dict(widget.rows())
    assert rows["pixel size"] == "2 Å (0.2 nm)"
    assert rows["shape"] == "64 (y) x 32 (x)"

    viewer.add_image(np.ones((3, 16, 16), np.float32), name="stack", scale=(1, 0.5, 0.5), units=("pixel", "nm", "nm"))
    viewer.layers.selection.active = viewer.layers["stack"]
    rows = dict(widget.rows())
    assert widget.layer_combo.currentText() == "stack"
    assert rows["pixel size"] == "5 Å (0.5 nm)"
    assert rows["intensity"].startswith("min 1, max 1")

    viewer.layers["stack"].data = np.full((3, 16, 16), 5.0, np.float32)  # data changes are shown
    assert any(text.startswith("min 5, max 5") for text in shown_texts(widget))

    viewer.layers.remove("stack")
    viewer.layers.remove("a")
    assert widget.rows() == []
