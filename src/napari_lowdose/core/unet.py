"""The Noise2Noise U-Net (Lehtinen et al. 2018), as in the Gold Standard seed.

With the defaults (depth 5, 48 base channels) it is the paper's network exactly::

    enc_conv0, enc_conv1, pool1          c         (c = base_channels = 48)
    enc_conv{i}, pool{i}    i = 2..5     c
    enc_conv6                            c          (the bottom, at 1/32 scale)
    upsample, concat pool{i-1},          2c, 2c     (decoder levels 5..2: dec_conv{i}a, dec_conv{i}b)
    upsample, concat input               4c/3, 2c/3, out   (dec_conv1a, 1b, 1c; 1c is linear)

3x3 convolutions ('same' size, reflection padding), 2x2 max pooling, nearest-neighbour upsampling, LeakyReLU(0.1) after
every convolution but the last. Any (H, W): the input is reflection-padded to a multiple of
2**depth and the output cropped back. About 343 kFLOP per pixel at the defaults
(:func:`flops_per_pixel`). Tensors are (batch, channel, y, x).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn
from torch.nn import functional as F

from .errors import LowdoseError


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of the U-Net; all sizes in channels, ``depth`` = number of 2x2 poolings."""

    depth: int = 5
    base_channels: int = 48
    in_channels: int = 1
    out_channels: int = 1
    negative_slope: float = 0.1  #: LeakyReLU slope

    def __post_init__(self) -> None:
        if not 1 <= self.depth <= 8:
            raise LowdoseError(f"U-Net depth must be 1..8, got {self.depth}")
        if not 3 <= self.base_channels <= 512:
            raise LowdoseError(f"U-Net base_channels must be 3..512, got {self.base_channels}")
        if self.in_channels < 1 or self.out_channels < 1:
            raise LowdoseError("U-Net needs at least one input and one output channel")

    @property
    def multiple(self) -> int:
        """Input sides are padded to a multiple of this (2 ** depth)."""
        return 2**self.depth

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "UNetConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise LowdoseError(f"unknown U-Net settings {sorted(unknown)}")
        return cls(**d)

    @property
    def decoder_channels(self) -> tuple[int, int]:
        """(dec_conv1a, dec_conv1b) widths: 64 and 32 for 48 base channels."""
        c = self.base_channels
        return max(1, round(4 * c / 3)), max(1, round(2 * c / 3))


def _conv(cin: int, cout: int) -> nn.Conv2d:
    # reflection rather than zero padding: no dark border, identical behaviour at tile and image
    # edges (fewer seams), and a constant input gives a constant output
    return nn.Conv2d(cin, cout, kernel_size=3, padding=1, padding_mode="reflect")


class UNet(nn.Module):
    def __init__(self, config: UNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or UNetConfig()
        c, d = cfg.base_channels, cfg.depth
        self.enc_conv0 = _conv(cfg.in_channels, c)
        self.enc_convs = nn.ModuleList([_conv(c, c) for _ in range(d)])  # enc_conv1..d, each then pooled
        self.bottom = _conv(c, c)  # enc_conv{d+1}
        self.dec_a = nn.ModuleList()
        self.dec_b = nn.ModuleList()
        for level in range(d, 1, -1):  # decoder levels d..2
            cin = (c if level == d else 2 * c) + c
            self.dec_a.append(_conv(cin, 2 * c))
            self.dec_b.append(_conv(2 * c, 2 * c))
        c1a, c1b = cfg.decoder_channels
        top_in = (c if d == 1 else 2 * c) + cfg.in_channels
        self.dec1a = _conv(top_in, c1a)
        self.dec1b = _conv(c1a, c1b)
        self.dec1c = _conv(c1b, cfg.out_channels)
        self.slope = cfg.negative_slope

    def _act(self, x: torch.Tensor) -> torch.Tensor:
        # in place when no gradient is needed: one memory pass less per convolution at inference
        return F.leaky_relu(x, self.slope, inplace=not torch.is_grad_enabled())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) with H and W multiples of 2**depth -> (B, out, H, W). See :meth:`predict`."""
        skips = [x]
        h = self._act(self.enc_conv0(x))
        for conv in self.enc_convs:
            h = F.max_pool2d(self._act(conv(h)), 2)
            skips.append(h)
        h = self._act(self.bottom(h))
        skips.pop()  # the deepest pooled map is the bottom's input, not a skip
        for conv_a, conv_b in zip(self.dec_a, self.dec_b):
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            h = torch.cat([h, skips.pop()], dim=1)
            h = self._act(conv_b(self._act(conv_a(h))))
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = torch.cat([h, skips.pop()], dim=1)
        h = self._act(self.dec1a(h))
        h = self._act(self.dec1b(h))
        return self.dec1c(h)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Forward pass for any H x W: reflection-pad to a multiple of 2**depth (at least two of them,
        so the deepest level is 2 x 2 and can itself be reflection-padded), crop back."""
        h, w = x.shape[-2:]
        m = self.config.multiple
        ph, pw = max(2 * m, -(-h // m) * m) - h, max(2 * m, -(-w // m) * m) - w
        if ph or pw:
            x = _pad_reflect(x, ph, pw)
        return self.forward(x)[..., :h, :w]


def _pad_reflect(x: torch.Tensor, ph: int, pw: int) -> torch.Tensor:
    """Pad bottom/right by (ph, pw): reflection, repeated when the pad exceeds the side (tiny images)."""
    while ph or pw:
        h, w = x.shape[-2:]
        sh, sw = min(ph, h - 1), min(pw, w - 1)
        if sh == 0 and sw == 0:  # a 1-pixel side cannot be reflected: replicate
            return F.pad(x, (0, pw, 0, ph), mode="replicate")
        x = F.pad(x, (0, sw, 0, sh), mode="reflect")
        ph, pw = ph - sh, pw - sw
    return x


def flops_per_pixel(config: UNetConfig | None = None) -> float:
    """Multiply-adds x 2 per input pixel of one forward pass (convolutions only)."""
    cfg = config or UNetConfig()
    c, d = cfg.base_channels, cfg.depth
    total = 0.0

    def conv(cin, cout, scale):
        return 2 * 9 * cin * cout / scale

    total += conv(cfg.in_channels, c, 1)
    for i in range(d):
        total += conv(c, c, 4**i)
    total += conv(c, c, 4**d)
    for level in range(d, 1, -1):
        scale = 4 ** (level - 1)
        cin = (c if level == d else 2 * c) + c
        total += conv(cin, 2 * c, scale) + conv(2 * c, 2 * c, scale)
    c1a, c1b = cfg.decoder_channels
    total += conv((c if d == 1 else 2 * c) + cfg.in_channels, c1a, 1) + conv(c1a, c1b, 1) + conv(c1b, cfg.out_channels, 1)
    return total
