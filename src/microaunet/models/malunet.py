"""MALUNet (Ruan et al., BIBM 2022), the distillation teacher: GAU, DGA, IEA, the SC bridge, and the network."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .common import malunet_init
from .layers import Conv2d, DWUnit, group_norm, pooled_descriptor, spatial_descriptor
from .lightunet import LightUNet

MALUNET_WIDTHS = (8, 16, 24, 32, 48, 64)


class GAU(nn.Module):
    """MALUNet's gated attention unit."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.gate = DWUnit(c_in, c_in, kernel_size=3)
        self.value = DWUnit(c_in, c_in, kernel_size=5)
        self.out = DWUnit(c_in, c_out, kernel_size=3)
        self.shortcut = Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gated = torch.sigmoid(self.gate(x)) * F.gelu(self.value(x))
        return F.gelu(self.out(gated)) + self.shortcut(x)


class DGA(nn.Module):
    """MALUNet's dilated gated attention: 4 depthwise groups at dilations 7, 5, 2, 1, then a GAU."""

    dilations = (7, 5, 2, 1)

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        g = c_in // 4
        self.branches = nn.ModuleList(Conv2d(g, g, 3, padding=d, dilation=d, groups=g) for d in self.dilations)
        self.norm = group_norm(c_in)
        self.mix = Conv2d(c_in, c_in, 1)
        self.gau = GAU(c_in, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.chunk(x, 4, dim=1)
        x = torch.cat([branch(p) for branch, p in zip(self.branches, parts)], dim=1)
        return self.gau(F.gelu(self.mix(self.norm(x))))


class IEA(nn.Module):
    """MALUNet's inverted external attention with a 4x memory of learnable units."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.inp = Conv2d(channels, channels, 1)
        self.key = nn.Conv1d(channels, 4 * channels, 1, bias=False)
        self.value = nn.Conv1d(4 * channels, channels, 1, bias=False)
        self.out = Conv2d(channels, channels, 1, bias=False)
        self.norm = group_norm(channels)

    def reset_memory(self) -> None:
        """Start the value memory as the transpose of the key memory (the MALUNet recipe)."""
        with torch.no_grad():
            self.value.weight.copy_(self.key.weight.permute(1, 0, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        y = self.inp(x).flatten(2)
        attn = torch.softmax(self.key(y), dim=-1)
        attn = attn / (1e-9 + attn.sum(dim=1, keepdim=True))
        y = self.value(attn).reshape(b, c, h, w)
        return F.gelu(self.norm(self.out(y)) + x)


class SCBridge(nn.Module):
    """MALUNet's spatial-then-channel attention bridge (five separate channel heads)."""

    def __init__(self, skip_channels: list[int]) -> None:
        super().__init__()
        total = sum(skip_channels)
        self.spatial_conv = Conv2d(2, 1, 7, padding=9, dilation=3)
        self.channel_mix = nn.Conv1d(1, 1, 3, padding=1, bias=False)
        self.channel_heads = nn.ModuleList(nn.Linear(total, c) for c in skip_channels)

    def forward(self, skips: list[torch.Tensor]) -> list[torch.Tensor]:
        spatial = [torch.sigmoid(self.spatial_conv(spatial_descriptor(t))) * t for t in skips]
        mixed = [s + t for s, t in zip(spatial, skips)]
        desc = self.channel_mix(pooled_descriptor(mixed)).squeeze(1)
        return [
            torch.sigmoid(head(desc))[:, :, None, None] * m + s
            for head, m, s in zip(self.channel_heads, mixed, spatial)
        ]


def malunet(widths: Sequence[int] = MALUNET_WIDTHS) -> LightUNet:
    """MALUNet (Ruan et al., BIBM 2022), the distillation teacher."""
    c = list(widths)

    def conv3(c_in: int, c_out: int) -> Conv2d:
        return Conv2d(c_in, c_out, 3, padding=1)

    encoders = [conv3(3, c[0]), conv3(c[0], c[1]), conv3(c[1], c[2])]
    encoders += [nn.Sequential(IEA(c[k - 1]), DGA(c[k - 1], c[k])) for k in (3, 4, 5)]
    decoders = [nn.Sequential(DGA(c[k], c[k - 1]), IEA(c[k - 1])) for k in (5, 4, 3)]
    decoders += [conv3(c[2], c[1]), conv3(c[1], c[0])]
    model = LightUNet(c, encoders, SCBridge(c[:5]), decoders, name="MALUNet")
    malunet_init(model)
    for m in model.modules():
        if isinstance(m, IEA):
            m.reset_memory()
    return model
