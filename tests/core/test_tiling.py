"""Tiled inference: shapes, blending, agreement with one pass, cancel, nD and dask, bad input."""

import numpy as np
import pytest
import torch

from napari_lowdose.core.errors import InvalidImageError, LowdoseError
from napari_lowdose.core.model import Model, load_model
from napari_lowdose.core.tiling import Axis, TiledDenoiser, denoise, iter_denoise, pick_device
from napari_lowdose.core.unet import UNetConfig


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    return Model.new(UNetConfig(depth=3, base_channels=8))


@pytest.fixture(scope="module")
def default_model():
    return load_model(None)


@pytest.fixture(scope="module")
def sample_crop():
    from napari_lowdose._sample_data import generate_sample

    return generate_sample().low[:384, :448]


def psnr(a, ref):
    rng = float(ref.max() - ref.min())
    return 10 * np.log10(rng**2 / np.mean((a.astype(np.float64) - ref) ** 2))


@pytest.mark.parametrize("length, tile, overlap", [(97, 768, 64), (1000, 256, 32), (2048, 768, 64), (8192, 768, 64), (300, 128, 32)])
def test_axis_plan_covers_and_weights_sum_to_one(length, tile, overlap):
    axis = Axis.plan(length, tile, overlap, 32)
    assert axis.starts[0] == 0 and axis.starts[-1] + axis.size == length
    assert axis.size <= max(tile, 32) or len(axis.starts) == 1
    if len(axis.starts) > 1:
        assert axis.size % 32 == 0
        assert min(b - a for a, b in zip(axis.starts, axis.starts[1:])) <= axis.size - overlap  # overlap kept
    np.testing.assert_allclose(axis.weight_sum(), 1.0, atol=1e-6)


@pytest.mark.parametrize("shape", [(97, 130), (130, 97), (33, 41), (2, 50), (257, 255)])
def test_output_shape_equals_input_shape(small_model, shape):
    out = denoise(np.random.default_rng(0).random(shape).astype(np.float32), small_model, tile=64, overlap=16)
    assert out.shape == shape and out.dtype == np.float32


def test_constant_image_stays_constant(default_model):
    for value in (7.0, 1234.0):
        out = denoise(np.full((150, 170), value, np.float32), default_model, tile=64, overlap=16)
        assert float(out.std()) < 1e-3 * max(1.0, abs(value))


def test_small_tiles_agree_with_one_pass_40_db(default_model, sample_crop):
    one = denoise(sample_crop, default_model, tile=4096)
    tiled = denoise(sample_crop, default_model, tile=128, overlap=32)
    assert psnr(tiled, one) >= 40.0


def test_default_tiling_agrees_with_one_pass_45_db(default_model):
    from napari_lowdose._sample_data import generate_sample

    image = generate_sample().low  # 1024 x 1024: several default (768 px) tiles
    denoiser = TiledDenoiser(default_model, device="cpu")
    one = denoise(image, default_model, tile=4096)
    tiled = denoise(image, default_model, device="cpu")
    assert denoiser.tile < image.shape[0]  # really tiled
    assert psnr(tiled, one) >= 45.0


def test_integer_input_and_nd_stack(small_model):
    stack = np.random.default_rng(1).poisson(5, (3, 64, 80)).astype(np.uint16)
    out = denoise(stack, small_model, tile=64, overlap=16)
    assert out.shape == stack.shape and out.dtype == np.float32
    np.testing.assert_allclose(out[1], denoise(stack[1], small_model, tile=64, overlap=16), rtol=1e-5, atol=1e-4)


def test_dask_array_is_read_plane_by_plane(small_model):
    da = pytest.importorskip("dask.array")
    stack = np.random.default_rng(2).random((4, 48, 56)).astype(np.float32)
    lazy = da.from_array(stack, chunks=(1, 48, 56))
    np.testing.assert_allclose(denoise(lazy, small_model, tile=64), denoise(stack, small_model, tile=64), rtol=1e-5, atol=1e-5)


def test_cancel_stops_within_one_batch(small_model, monkeypatch):
    calls = []
    denoiser = TiledDenoiser(small_model, tile=32, overlap=8, batch=2, device="cpu")
    original = denoiser.net.predict
    monkeypatch.setattr(denoiser.net, "predict", lambda x: (calls.append(x.shape[0]), original(x))[1])
    gen = denoiser.run(np.random.default_rng(0).random((200, 200)).astype(np.float32))
    first = next(gen)
    assert first.done == 2 and first.total > 10
    gen.close()  # what a cancelled worker does
    assert calls == [2]


def test_out_of_memory_halves_batch_then_tile_and_finishes(small_model, monkeypatch):
    image = np.random.default_rng(3).random((150, 150)).astype(np.float32)
    expected = denoise(image, small_model, tile=64, overlap=16)
    denoiser = TiledDenoiser(small_model, tile=128, overlap=16, batch=2, device="cpu")
    original = denoiser.net.predict
    state = {"raised": 0}

    def flaky(x):
        if x.shape[-1] > 64 or x.shape[0] > 1:  # too big for our pretend GPU
            state["raised"] += 1
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(x)

    monkeypatch.setattr(denoiser.net, "predict", flaky)
    gen = denoiser.run(image)
    messages = []
    while True:
        try:
            messages.append(next(gen).message)
        except StopIteration as stop:
            out = stop.value
            break
    assert any("batch halved to 1" in m for m in messages) and any("tile halved to 64" in m for m in messages)
    assert state["raised"] >= 2
    assert out.shape == image.shape
    assert psnr(out, expected) > 40  # same tiles as a tile-64 run, up to the overlap it kept


@pytest.mark.parametrize(
    "image, words",
    [
        (np.array([[1.0, np.nan], [2.0, 3.0]] * 20, np.float32).reshape(40, 2).repeat(20, 1), "NaN/Inf"),
        (np.zeros((1, 64), np.float32), "too small"),
        (np.zeros((64, 64, 3), np.uint8), "RGB"),
        (np.zeros((0, 64), np.float32), "empty"),
        (np.zeros((64, 64), np.complex64), "complex"),
    ],
)
def test_bad_input_gives_one_clear_error(small_model, image, words):
    with pytest.raises(InvalidImageError, match=words):
        denoise(image, small_model)


def test_bad_parameters_and_devices(small_model):
    with pytest.raises(LowdoseError, match="tile"):
        TiledDenoiser(small_model, tile=8)
    with pytest.raises(LowdoseError, match="overlap"):
        TiledDenoiser(small_model, tile=64, overlap=64)
    assert pick_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(LowdoseError, match="no CUDA"):
            pick_device("cuda")
    with pytest.raises(LowdoseError, match="unknown device"):
        pick_device("tpu9")


def test_partial_result_fills_in(small_model):
    denoiser = TiledDenoiser(small_model, tile=32, overlap=8, batch=1, device="cpu")
    gen = denoiser.run(np.random.default_rng(4).random((96, 96)).astype(np.float32) + 10)
    next(gen)
    first = denoiser.partial()
    assert (first != 0).any() and (first == 0).any()  # some tiles in, some not yet
    for _ in gen:
        pass
    assert (denoiser.partial() != 0).all()


def test_generator_form_and_public_api(small_model, tmp_path):
    import napari_lowdose
    from napari_lowdose.core.model import save_model

    image = np.random.default_rng(5).random((64, 64)).astype(np.float32)
    gen = iter_denoise(image, small_model, tile=32, overlap=8)
    ticks = list(gen)
    assert ticks[-1].done == ticks[-1].total
    save_model(small_model, tmp_path / "small")
    out = napari_lowdose.denoise(image, str(tmp_path / "small.safetensors"), tile=32, overlap=8)
    np.testing.assert_allclose(out, denoise(image, small_model, tile=32, overlap=8), rtol=1e-5, atol=1e-6)
    assert napari_lowdose.load_model(tmp_path / "small").card.architecture == small_model.card.architecture


def _flip(a, k):
    a = a[:, ::-1] if k & 1 else a
    return a[::-1] if k & 2 else a


def test_flips_average_the_unflipped_predictions(small_model):
    image = np.random.default_rng(5).random((64, 64)).astype(np.float32)
    plain = {k: _flip(denoise(np.ascontiguousarray(_flip(image, k)), small_model, tile=4096, device="cpu"), k) for k in range(4)}
    assert np.abs(plain[0] - plain[1]).max() > 1e-3  # the random model is not flip-equivariant by itself
    np.testing.assert_allclose(denoise(image, small_model, tile=4096, device="cpu", flips=2), (plain[0] + plain[2]) / 2, atol=1e-5)
    np.testing.assert_allclose(denoise(image, small_model, tile=4096, device="cpu", flips=4), sum(plain.values()) / 4, atol=1e-5)


def test_flips_make_the_tiled_result_flip_equivariant(small_model):
    image = np.random.default_rng(6).random((128, 128)).astype(np.float32)  # a multiple of 32: no padding
    out = denoise(image, small_model, tile=64, overlap=32, device="cpu", flips=4)
    for k in (1, 2, 3):
        flipped = denoise(np.ascontiguousarray(_flip(image, k)), small_model, tile=64, overlap=32, device="cpu", flips=4)
        np.testing.assert_allclose(_flip(flipped, k), out, atol=1e-5)
    with pytest.raises(LowdoseError, match="flips"):
        TiledDenoiser(small_model, flips=3)


def test_like_keeps_the_settings_for_another_model(small_model):
    den = TiledDenoiser(small_model, tile=64, overlap=16, batch=3, device="cpu", flips=2, refine="none")
    den.notes.append("an earlier run's note")
    other = Model.new(UNetConfig(depth=3, base_channels=8), name="other")
    for model, twin in ((small_model, den.like()), (other, den.like(other))):
        assert twin is not den and twin.model is model and twin.notes == []
        assert (twin.tile, twin.overlap, twin.batch, twin.device, twin.precision, twin.flips, twin.refine) == \
               (den.tile, den.overlap, den.batch, den.device, den.precision, den.flips, den.refine)
