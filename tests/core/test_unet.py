import pytest
import torch
from torch import nn

from napari_lowdose.core.errors import LowdoseError
from napari_lowdose.core.unet import UNet, UNetConfig, flops_per_pixel


def test_default_is_the_seed_network():
    cfg = UNetConfig()
    assert (cfg.depth, cfg.base_channels, cfg.negative_slope) == (5, 48, 0.1)
    net = UNet(cfg)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.kernel_size == (3, 3) for c in convs)
    # N2N: enc_conv0..6 (7) + dec 5..2 (2 each = 8) + dec_conv1a/b/c (3) = 18 convolutions
    assert len(convs) == 18
    assert [c.out_channels for c in convs[-3:]] == [64, 32, 1]
    assert flops_per_pixel(cfg) == pytest.approx(343e3, rel=0.01)  # "about 343 kFLOP per pixel"


def test_flop_count_matches_a_measured_forward():
    """Count multiply-adds with forward hooks on a real forward pass and compare with the formula."""
    cfg = UNetConfig(depth=3, base_channels=16)
    net = UNet(cfg)
    total = []

    def hook(module, inputs, output):
        total.append(2 * output.numel() * module.in_channels * 9)

    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(hook)
    with torch.no_grad():
        net(torch.zeros(1, 1, 64, 64))
    assert sum(total) / 64**2 == pytest.approx(flops_per_pixel(cfg), rel=1e-9)


@pytest.mark.parametrize("shape", [(97, 130), (64, 64), (5, 7), (2, 2), (33, 1000)])
def test_any_size_in_same_size_out(shape):
    net = UNet(UNetConfig(depth=5, base_channels=8))
    with torch.no_grad():
        out = net.predict(torch.randn(2, 1, *shape))
    assert out.shape == (2, 1, *shape)


def test_upsampling_is_nearest_and_activation_leaky(monkeypatch):
    import torch.nn.functional as F

    modes, slopes = [], []
    orig_interp, orig_leaky = F.interpolate, F.leaky_relu
    monkeypatch.setattr(F, "interpolate", lambda *a, **k: (modes.append(k.get("mode")), orig_interp(*a, **k))[1])
    monkeypatch.setattr(F, "leaky_relu", lambda x, s=0.01, *a, **k: (slopes.append(s), orig_leaky(x, s))[1])
    with torch.no_grad():
        UNet().predict(torch.randn(1, 1, 64, 64))
    assert set(modes) == {"nearest"} and len(modes) == 5
    assert set(slopes) == {0.1} and len(slopes) == 17  # every conv but the last, linear one


@pytest.mark.parametrize("kwargs", [{"depth": 0}, {"depth": 9}, {"base_channels": 2}, {"in_channels": 0}])
def test_invalid_configs(kwargs):
    with pytest.raises(LowdoseError):
        UNetConfig(**kwargs)


def test_config_round_trip_and_unknown_keys():
    cfg = UNetConfig(depth=4, base_channels=32)
    assert UNetConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(LowdoseError, match="unknown"):
        UNetConfig.from_dict({"depth": 4, "wings": 2})
