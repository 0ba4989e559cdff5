"""UNeXt (Valanarasu and Patel, MICCAI 2022), small variant UNeXt-S: widths 8-16-32-64-128.

Three conv stages, then two tokenised shifted-MLP stages; the decoder mirrors them and adds skips.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .common import check_input

SHIFT_GROUPS = 5


def shift(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Split channels into 5 groups and shift group g by g - 2 pixels along ``dim`` (zero fill)."""
    pad = SHIFT_GROUPS // 2
    size = x.shape[dim]
    padded = F.pad(x, (pad, pad, pad, pad))
    groups = torch.chunk(padded, SHIFT_GROUPS, dim=1)
    shifted = torch.cat([torch.roll(g, s, dim) for g, s in zip(groups, range(-pad, pad + 1))], dim=1)
    other = 3 if dim == 2 else 2
    return shifted.narrow(dim, pad, size).narrow(other, pad, x.shape[other])


class ShiftedMLPBlock(nn.Module):
    """x + fc2(shift_W(GELU(dwconv(fc1(shift_H(LN(x))))))), on (B, C, H, W) tensors."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, dim)
        self.dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.fc2 = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        y = self.fc1(shift(y, 2).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        y = F.gelu(self.dwconv(y))
        y = self.fc2(shift(y, 3).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return x + y


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of a (B, C, H, W) tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class TokenStage(nn.Sequential):
    """Overlapping patch embedding (3x3 conv, stride 2) + LN, a shifted-MLP block, LN."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, stride=2, padding=1),
            ChannelLayerNorm(c_out),
            ShiftedMLPBlock(c_out),
            ChannelLayerNorm(c_out),
        )


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class UNeXt(nn.Module):
    def __init__(self, widths: Sequence[int] = (8, 16, 32, 64, 128)) -> None:
        super().__init__()
        c = list(widths)
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip([3] + c[:2], c[:3]))
        self.conv_norms = nn.ModuleList(nn.BatchNorm2d(w) for w in c[:3])
        self.token3 = TokenStage(c[2], c[3])
        self.token4 = TokenStage(c[3], c[4])
        self.decoders = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(c[::-1], c[-2::-1] + [c[0]]))
        self.decoder_norms = nn.ModuleList(nn.BatchNorm2d(w) for w in c[-2::-1])
        self.dec_blocks = nn.ModuleList([ShiftedMLPBlock(c[3]), ShiftedMLPBlock(c[2])])
        self.dec_block_norms = nn.ModuleList([ChannelLayerNorm(c[3]), ChannelLayerNorm(c[2])])
        self.head = nn.Conv2d(c[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, "UNeXt-S")
        skips = []
        for conv, norm in zip(self.convs, self.conv_norms):
            x = F.relu(F.max_pool2d(norm(conv(x)), 2))
            skips.append(x)
        x = self.token3(x)
        skips.append(x)
        x = self.token4(x)
        for i, skip in enumerate(reversed(skips)):
            x = F.relu(_up(self.decoder_norms[i](self.decoders[i](x)))) + skip
            if i < 2:
                x = self.dec_block_norms[i](self.dec_blocks[i](x))
        return self.head(F.relu(_up(self.decoders[4](x))))


def unext_s() -> UNeXt:
    return UNeXt((8, 16, 32, 64, 128))
