"""SANet (Wei et al., MICCAI 2021) on a Res2Net-50 v1b (26w x 4s) backbone, trained from scratch.

No ImageNet weights can be downloaded here, so the backbone starts from random weights; the
paper's SANet used ImageNet pre-training. SANet's colour-exchange augmentation and probability
correction at inference are training/inference tricks outside the network and are not included.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .common import check_input


def conv_bn(c_in: int, c_out: int, kernel: int = 1, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(c_out)]


class Bottle2neck(nn.Module):
    """Res2Net bottleneck: the 3x3 stage is split into ``scale`` hierarchical groups."""

    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int = 1, first: bool = False,
                 base_width: int = 26, scale: int = 4) -> None:
        super().__init__()
        width = int(math.floor(planes * base_width / 64.0))
        self.width, self.scale, self.first = width, scale, first
        self.reduce = nn.Sequential(*conv_bn(c_in, width * scale), nn.ReLU(inplace=True))
        self.convs = nn.ModuleList(
            nn.Sequential(*conv_bn(width, width, 3, stride), nn.ReLU(inplace=True)) for _ in range(scale - 1)
        )
        self.pool = nn.AvgPool2d(3, stride, 1) if first else nn.Identity()
        self.expand = nn.Sequential(*conv_bn(width * scale, planes * self.expansion))
        c_out = planes * self.expansion
        self.downsample = None
        if first:
            self.downsample = nn.Sequential(
                nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False), *conv_bn(c_in, c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(self.reduce(x), self.width, dim=1)
        outs, y = [], None
        for part, conv in zip(parts, self.convs):  # the last part skips the convs: pooled below
            y = conv(part if y is None or self.first else y + part)
            outs.append(y)
        outs.append(self.pool(parts[-1]))
        out = self.expand(torch.cat(outs, dim=1))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class Res2Net50(nn.Module):
    def __init__(self, layers: tuple[int, ...] = (3, 4, 6, 3)) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            *conv_bn(3, 32, 3, 2), nn.ReLU(inplace=True), *conv_bn(32, 32, 3), nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        stages, c_in = [], 64
        for i, blocks in enumerate(layers):
            planes, stride = 64 * 2**i, 1 if i == 0 else 2
            stage = [Bottle2neck(c_in, planes, stride, first=True)]
            c_in = planes * Bottle2neck.expansion
            stage += [Bottle2neck(c_in, planes) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*stage))
        self.stages = nn.ModuleList(stages)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats  # strides 4, 8, 16, 32; channels 256, 512, 1024, 2048


class SANet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = Res2Net50()
        self.lateral = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, 64, 1), nn.BatchNorm2d(64), nn.ReLU(inplace=True)) for c in (512, 1024, 2048)
        )
        self.predict = nn.Conv2d(64 * 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, "SANet")
        _, f3, f4, f5 = self.backbone(x)
        f3, f4, f5 = (lat(f) for lat, f in zip(self.lateral, (f3, f4, f5)))
        size = f3.shape[2:]
        f4 = F.interpolate(f4, size=size, mode="bilinear", align_corners=True)
        f5 = F.interpolate(f5, size=size, mode="bilinear", align_corners=True)
        pred = self.predict(torch.cat([f5, f4 * f5, f3 * f4 * f5], dim=1))  # shallow attention fusion
        return F.interpolate(pred, size=x.shape[2:], mode="bilinear", align_corners=True)


def sanet() -> SANet:
    return SANet()
