"""The plugin as napari sees it: manifest, reader, writer and sample data in a real viewer."""

from pathlib import Path

import numpy as np
import pytest

from napari_lowdose.io import read_image, write_image

PLUGIN = "napari-lowdose"
ROOT = Path(__file__).resolve().parents[1]


def test_manifest_is_valid_and_is_the_root_file():
    import napari_lowdose
    from npe2 import PluginManifest

    manifest = PluginManifest.from_distribution(PLUGIN)
    assert manifest.name == PLUGIN
    packaged = Path(napari_lowdose.__file__).parent / "napari.yaml"
    assert packaged.read_text() == (ROOT / "napari.yaml").read_text()
    assert {r.command for r in manifest.contributions.readers} == {"napari-lowdose.get_reader"}
    patterns = manifest.contributions.readers[0].filename_patterns
    for ext in ("tif", "tiff", "mrc", "mrcs", "map", "st", "dm3", "dm4", "emd", "ser"):
        assert f"*.{ext}" in patterns
    assert [s.key for s in manifest.contributions.sample_data] == ["lowdose_pair", "atomic_pair"]


def test_sample_data_opens_in_napari_with_pixel_size(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "lowdose_pair")
    assert [layer.name for layer in viewer.layers] == ["gold 1 µs (low dose)", "gold 4 µs (reference)"]
    for layer in viewer.layers:
        assert layer.data.shape == (1024, 1024) and layer.data.dtype == np.uint16
        assert tuple(layer.scale) == (5.0, 5.0)
        assert [str(u) for u in layer.units] == ["angstrom", "angstrom"]
    low, high = (np.asarray(layer.data, float) for layer in viewer.layers)
    assert high.mean() > low.mean()  # 4x the dose
    assert np.corrcoef(low.ravel(), high.ravel())[0, 1] > 0.2  # the same scene


def test_viewer_opens_tiff_and_mrc_with_scale_and_units(make_napari_viewer, tmp_path):
    write_image(tmp_path / "a.tif", np.ones((20, 30), np.uint16), pixel_size=1.5)
    write_image(tmp_path / "b.mrc", np.ones((4, 20, 30), np.float32), pixel_size=2.5, z_size=4.0)
    viewer = make_napari_viewer()
    viewer.open(str(tmp_path / "a.tif"), plugin=PLUGIN)
    viewer.open(str(tmp_path / "b.mrc"), plugin=PLUGIN)
    a, b = viewer.layers["a"], viewer.layers["b"]
    assert tuple(a.scale) == (1.5, 1.5) and a.data.shape == (20, 30)
    assert tuple(b.scale) == (4.0, 2.5, 2.5) and b.ndim == 3
    assert [str(u) for u in b.units] == ["angstrom"] * 3


def test_viewer_opens_velox_emd_as_one_layer_per_detector(make_napari_viewer, real_data):
    viewer = make_napari_viewer()
    viewer.open(str(real_data / "STEM_HAADF-DF4-DF2-BF_Diffraction_Micro.emd"), plugin=PLUGIN)
    assert len(viewer.layers) == 4
    assert all(layer.scale[-1] == pytest.approx(873.708, rel=1e-4) for layer in viewer.layers)


def test_bad_file_gives_our_message_through_napari(make_napari_viewer, real_data):
    viewer = make_napari_viewer()
    with pytest.raises(Exception) as info:
        viewer.open(str(real_data / "08_carbon.dm3"), plugin=PLUGIN)
    chain, exc = [], info.value
    while exc is not None:
        chain.append(str(exc))
        exc = exc.__cause__ or exc.__context__
    assert any("holds no image" in text and "EELS" in text for text in chain), chain
    assert len(viewer.layers) == 0


@pytest.mark.parametrize("ext", [".tif", ".mrc"])
def test_save_layer_through_napari_keeps_pixel_size(make_napari_viewer, tmp_path, ext):
    viewer = make_napari_viewer()
    viewer.add_image(np.arange(600, dtype=np.float32).reshape(20, 30), name="img", scale=(0.35, 0.35), units=("nm", "nm"))
    out = tmp_path / f"saved{ext}"
    viewer.layers.save(str(out), plugin=PLUGIN)
    (img,) = read_image(out)
    assert img.pixel_size == pytest.approx(3.5, rel=1e-6)  # nm in napari -> Å in the file -> Å back
    np.testing.assert_array_equal(img.data, viewer.layers["img"].data)


def test_round_trip_through_napari_open_and_save(make_napari_viewer, tmp_path):
    write_image(tmp_path / "in.tif", np.arange(100, dtype=np.uint16).reshape(10, 10), pixel_size=0.8)
    viewer = make_napari_viewer()
    viewer.open(str(tmp_path / "in.tif"), plugin=PLUGIN)
    viewer.layers.save(str(tmp_path / "out.mrc"), plugin=PLUGIN)
    (img,) = read_image(tmp_path / "out.mrc")
    assert img.pixel_size == pytest.approx(0.8, rel=1e-6) and img.data.dtype == np.uint16


def test_uncalibrated_layer_saves_without_pixel_size(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((8, 8), np.uint16), name="px")
    viewer.layers.save(str(tmp_path / "px.tif"), plugin=PLUGIN)
    assert read_image(tmp_path / "px.tif")[0].pixel_size is None


def test_a_file_with_one_bad_signal_opens_the_others_and_warns_by_name(make_napari_viewer, real_data, monkeypatch):
    from napari_lowdose import _reader

    warned = []
    monkeypatch.setattr(_reader, "_warn", warned.append)
    viewer = make_napari_viewer()
    viewer.open(str(real_data / "4d" / "fei_example_dpc_titles.emd"), plugin=PLUGIN)
    # DF4-A .. DF4-D open as one 4-channel layer (issue 19), the file's A-C, B-D, iDPC, Filtered iDPC as they are
    assert len(viewer.layers) == 5 and viewer.layers["fei_example_dpc_titles DF4 segments"].data.shape[0] == 4
    assert len(warned) == 1 and "signal 'DPC' holds complex numbers" in warned[0]
    viewer.open(str(real_data / "4d" / "Si100_4D.emd"), plugin=PLUGIN)
    assert viewer.layers["Si100_4D"].metadata["kind"] == "4D-STEM" and viewer.layers["Si100_4D"].data.ndim == 5
