"""The neighbour blind-spot denoiser: the centre is really hidden, chunked = whole, dask = numpy, Cancel
keeps the best weights, bad input gets a sentence, and a short training beats the noisy data."""

import math

import numpy as np
import pytest
import torch

from napari_lowdose.core.errors import LowdoseError
from napari_lowdose.core.fourd.data import reflect_pad_scan
from napari_lowdose.core.fourd.denoise import (
    Denoise4DConfig,
    Denoiser4D,
    NeighbourNet,
    cascade,
    gather,
    iter_denoise4d,
    offsets,
)
from napari_lowdose.core.progress import drive

torch.set_num_threads(1)


def _data(seed=0, shape=(7, 6, 16, 16), rate=4.0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[2], : shape[3]]
    disc = np.hypot(yy - shape[2] / 2, xx - shape[3] / 2) < shape[2] / 4
    truth = np.broadcast_to(np.where(disc, rate, 0.1 * rate), shape) * (1 + 0.3 * rng.random(shape[:2]))[..., None, None]
    return truth.astype(np.float32), rng.poisson(truth).astype(np.float32)


def _random_net(radius):
    torch.manual_seed(1)
    net = NeighbourNet(depth=2, base_channels=4, radius=radius)
    for p in net.parameters():  # not the zero-initialised last layer: the prediction must depend on the input
        torch.nn.init.normal_(p, std=0.2)
    return net.eval()


@pytest.mark.parametrize("radius", [1, 2])
def test_the_centre_pattern_never_reaches_its_own_prediction(radius):
    _, noisy = _data()
    net = _random_net(radius)
    ny = noisy.shape[0]
    before = cascade([net], lambda a, b: noisy[a:b], 0, ny, ny, 0.5)
    for (i, j) in [(0, 0), (3, 2), (ny - 1, noisy.shape[1] - 1)]:
        changed = noisy.copy()
        changed[i, j] = np.random.default_rng(i).poisson(50.0, noisy.shape[2:])
        after = cascade([net], lambda a, b: changed[a:b], 0, ny, ny, 0.5)
        np.testing.assert_array_equal(after[i, j], before[i, j])  # the blind spot
        assert not np.allclose(after, before)  # ... while its neighbours do see it
        near = [(i + dy, j + dx) for dy, dx in offsets(radius) if 0 <= i + dy < ny and 0 <= j + dx < noisy.shape[1]]
        assert any(not np.allclose(after[p], before[p]) for p in near)


def test_gather_takes_the_neighbours_in_point_symmetric_order():
    block = np.arange(5 * 5, dtype=np.float32).reshape(5, 5, 1, 1)
    padded = reflect_pad_scan(block)
    got = gather(padded, np.array([2]), np.array([2]))[0, :, 0, 0]
    expected = [block[2 + dy, 2 + dx, 0, 0] for dy, dx in offsets(1)]
    assert got.tolist() == expected and 12.0 not in got
    off = offsets(2)
    assert len(off) == 24 and all(off[k] == tuple(-v for v in off[-1 - k]) for k in range(24))


def test_chunked_application_equals_the_whole_scan_with_cycles():
    _, noisy = _data()
    nets = [_random_net(1), _random_net(1)]
    ny = noisy.shape[0]
    whole = cascade(nets, lambda a, b: noisy[a:b], 0, ny, ny, 0.5)
    for r0 in range(ny):
        np.testing.assert_allclose(cascade(nets, lambda a, b: noisy[a:b], r0, r0 + 1, ny, 0.5)[0], whole[r0], rtol=1e-5, atol=1e-6)


def test_short_training_beats_the_noisy_data_and_dask_gives_the_same_result():
    truth, noisy = _data(shape=(8, 8, 16, 16))
    cfg = Denoise4DConfig(minutes=5, max_steps=6, val_every=3, batch=4, depth=2, base_channels=4, cycles=2, chunk_rows=3, seed=3)
    records = []
    den = Denoiser4D(noisy, cfg)
    nets = drive(den.train(), records.append)
    assert len(nets) == 2 and all(r.phase == "train" for r in records)
    assert all(math.isfinite(r.val_loss) for r in records) and records[-1].fraction == pytest.approx(1.0)
    out = drive(den.apply())
    assert out.shape == noisy.shape and out.dtype == np.float32 and np.isfinite(out).all()
    mse = lambda a: float(np.mean((a - truth) ** 2))  # noqa: E731
    assert mse(out) < 0.5 * mse(noisy)
    # "gain": non-negative, and the mean pattern is matched to the noisy data's
    den.config = Denoise4DConfig(**{**den.config.__dict__, "finish": "gain"})
    gained = drive(den.apply())
    assert (gained >= 0).all() and mse(gained) < 0.5 * mse(noisy)
    np.testing.assert_allclose(gained.mean(axis=(0, 1)).sum(), noisy.mean(axis=(0, 1)).sum(), rtol=0.02)
    da = pytest.importorskip("dask.array")
    lazy = drive(den.apply(out=np.zeros(noisy.shape, np.float32), data=da.from_array(noisy, chunks=(2, 8, 16, 16))))
    np.testing.assert_allclose(lazy, gained, rtol=1e-5, atol=1e-5)


def test_cancel_keeps_the_best_weights_so_far():
    _, noisy = _data()
    cfg = Denoise4DConfig(minutes=5, max_steps=1000, val_every=2, batch=2, depth=2, base_channels=4, cycles=3)
    den = Denoiser4D(noisy, cfg)
    gen = den.train()
    seen = []
    for rec in gen:
        seen.append(rec)
        if len(seen) == 3:
            den.stop()
    assert len(den.nets) == 1 and seen[-1].step < 1000  # stopped in the first cycle, at the next step
    assert den.best_val[0] == pytest.approx(min(r.val_loss for r in seen))
    state = {k: v.clone() for k, v in den.nets[0].state_dict().items()}
    out = drive(den.apply())
    assert out.shape == noisy.shape and np.isfinite(out).all()
    assert all(torch.equal(v, den.nets[0].state_dict()[k]) for k, v in state.items())


def test_closing_the_generator_stops_training():
    _, noisy = _data()
    gen = iter_denoise4d(noisy, Denoise4DConfig(minutes=5, max_steps=1000, val_every=1, batch=2, depth=2, base_channels=4))
    next(gen)
    gen.close()  # a napari worker's quit: no exception, nothing left running


@pytest.mark.parametrize(
    "data, match",
    [
        (np.ones((8, 16, 16), np.float32), "has 3 axes"),
        (np.ones((2, 5, 5, 16, 16), np.float32), "has 5 axes"),
        (np.ones((5, 5, 8, 8), np.float32), "8 x 8 px detector"),
        (np.zeros((5, 5, 16, 16), np.float32), "holds no counts"),
    ],
)
def test_bad_input_gets_one_sentence(data, match):
    with pytest.raises(LowdoseError, match=match) as info:
        Denoiser4D(data, Denoise4DConfig(max_steps=1))
    assert "\n" not in str(info.value)


def test_nan_counts_get_one_sentence():
    _, noisy = _data()
    noisy[4, 2, 5, 5] = np.nan
    with pytest.raises(LowdoseError, match=r"1 NaN/Inf count\(s\) in scan rows"):
        Denoiser4D(noisy, Denoise4DConfig(max_steps=1))


def test_config_is_validated():
    for bad in ({"cycles": 0}, {"beta": 1.5}, {"radius": 3}, {"minutes": -1}, {"max_steps": 0}, {"finish": "clip"}):
        with pytest.raises(LowdoseError):
            Denoise4DConfig(**bad)


def test_float32_input_is_never_modified_and_small_inference_batches_change_nothing(monkeypatch):
    """The denoiser normalises blocks in place: never the caller's float32 array; the inference batch
    shrinks for large detectors (memory) without changing the result."""
    import napari_lowdose.core.fourd.denoise as dn

    _, noisy = _data(3)
    noisy[0, 0, 0, 0] = -2.0  # negative counts are clipped in the copy, not in the input
    before = noisy.copy()
    den = Denoiser4D(noisy, Denoise4DConfig(max_steps=3, val_every=2, radius=1, finish="none", seed=1))
    drive(den.train())
    out = drive(den.apply())
    np.testing.assert_array_equal(noisy, before)
    assert dn.eval_batch(24, (128, 128)) == 21 and dn.eval_batch(8, (16, 16)) == 64
    monkeypatch.setattr(dn, "eval_batch", lambda *a, **k: 1)
    np.testing.assert_allclose(drive(den.apply()), out, rtol=1e-5, atol=1e-6)
