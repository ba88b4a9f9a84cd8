import json

import numpy as np
import pytest
import torch

from napari_lowdose.core.model import Model, ModelCard, ModelFileError, load_model, save_model
from napari_lowdose.core.unet import UNetConfig

SMALL = UNetConfig(depth=3, base_channels=8)


@pytest.fixture
def small_model():
    torch.manual_seed(0)
    return Model.new(SMALL, name="small", trained_on={"data": "test"}, metrics={"psnr": 1.0})


def test_save_load_round_trip_gives_same_output(tmp_path, small_model):
    path = save_model(small_model, tmp_path / "m")
    assert path.name == "m.safetensors" and (tmp_path / "m.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.safetensors"]  # no temporaries
    loaded = load_model(tmp_path / "m.json")
    assert loaded.card.name == "small" and loaded.card.architecture == SMALL and loaded.card.metrics == {"psnr": 1.0}
    assert loaded.card.package_version
    x = torch.randn(1, 1, 40, 40)
    with torch.no_grad():
        torch.testing.assert_close(loaded.net.predict(x), small_model.net.predict(x))


def test_pickled_files_are_refused(tmp_path, small_model):
    torch.save(small_model.net.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(ModelFileError, match="pickled"):
        load_model(tmp_path / "weights.pt")
    # a pickle renamed to .safetensors is refused too
    (tmp_path / "fake.safetensors").write_bytes((tmp_path / "weights.pt").read_bytes())
    (tmp_path / "fake.json").write_text(small_model.card.to_json())
    with pytest.raises(ModelFileError, match="pickle"):
        load_model(tmp_path / "fake.safetensors")


def test_corrupt_weights_give_a_clear_message(tmp_path, small_model):
    path = save_model(small_model, tmp_path / "m")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ModelFileError, match="cannot read weights m.safetensors"):
        load_model(path)


def test_weights_for_another_architecture(tmp_path, small_model):
    save_model(small_model, tmp_path / "m")
    card = json.loads((tmp_path / "m.json").read_text())
    card["architecture"]["base_channels"] = 16
    (tmp_path / "m.json").write_text(json.dumps(card))
    with pytest.raises(ModelFileError, match="another architecture"):
        load_model(tmp_path / "m")
    card["architecture"].update(base_channels=8, depth=4)
    (tmp_path / "m.json").write_text(json.dumps(card))
    with pytest.raises(ModelFileError, match="does not match"):
        load_model(tmp_path / "m")


@pytest.mark.parametrize(
    "text, words",
    [("{not json", "not valid JSON"), ("[1, 2]", "model card"), ('{"format": "other"}', "not a napari-lowdose model card")],
)
def test_bad_cards(tmp_path, small_model, text, words):
    save_model(small_model, tmp_path / "m")
    (tmp_path / "m.json").write_text(text)
    with pytest.raises(ModelFileError, match=words):
        load_model(tmp_path / "m")


def test_missing_files_and_nan_weights(tmp_path, small_model):
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "nothing")
    save_model(small_model, tmp_path / "m")
    (tmp_path / "m.json").unlink()
    with pytest.raises(ModelFileError, match="card file"):
        load_model(tmp_path / "m.safetensors")
    with torch.no_grad():
        small_model.net.enc_conv0.weight[0, 0, 0, 0] = float("nan")
    save_model(small_model, tmp_path / "n")
    with pytest.raises(ModelFileError, match="NaN"):
        load_model(tmp_path / "n")


def test_card_json_round_trip():
    card = ModelCard(architecture=SMALL, name="x", training={"steps": 3})
    back = ModelCard.from_json(card.to_json())
    assert back == card


def test_normalisation_is_robust_and_handles_flat_images():
    from napari_lowdose.core.model import Normalization

    rng = np.random.default_rng(0)
    img = rng.normal(100, 10, (512, 512))
    img[0, 0] = 1e9  # a hot pixel does not move robust statistics
    off, scale = Normalization().stats(img)
    assert 70 < off < 80 and 40 < scale < 50
    off, scale = Normalization().stats(np.full((10, 10), 5.0))
    assert off == 5.0 and scale == 1.0


def test_bundled_models_by_name():
    from napari_lowdose.core.model import BUNDLED_MODELS, DEFAULT_MODEL

    for name in BUNDLED_MODELS:
        model = load_model(name)
        assert model.name == name and model.path.name == f"{name}.safetensors"
    assert load_model(None).name == DEFAULT_MODEL
    with pytest.raises(ModelFileError, match="not found"):
        load_model("cryo")  # neither a bundled name nor a file
