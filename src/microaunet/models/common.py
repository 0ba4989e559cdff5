"""What every network of the registry shares: input checks, the output of distillable models, init."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

STRIDE = 32


class FeatureOutput(NamedTuple):
    """What a distillable model returns with ``return_features=True``.

    logits:  (B, 1, H, W) pre-sigmoid scores.
    skips:   the five pre-bridge encoder skips t1..t5, shallowest first; t_i has shape
             (B, c_{i-1}, H / 2**i, W / 2**i).
    decoder: the last decoder feature map (B, c0, H/2, W/2), the pixel embedding that the
             preference-alignment stage contrasts.
    stages:  the output of every decoder stage, deepest first (H/32 .. H/2; the last is ``decoder``),
             for deep supervision.
    """

    logits: torch.Tensor
    skips: list[torch.Tensor]
    decoder: torch.Tensor
    stages: list[torch.Tensor]


def check_input(x: torch.Tensor, model_name: str) -> None:
    """Fail early with a readable message instead of a shape error deep inside a layer."""
    if torch.jit.is_tracing() or torch.compiler.is_compiling():
        return
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"{model_name} expects a (B, 3, H, W) batch, got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if h % STRIDE or w % STRIDE:
        raise ValueError(
            f"{model_name} needs H and W divisible by {STRIDE}, got {h}x{w}; "
            f"resize or pad the input (e.g. to {math.ceil(h / STRIDE) * STRIDE}x{math.ceil(w / STRIDE) * STRIDE})"
        )


def malunet_init(module: nn.Module) -> None:
    """The initialisation of the MALUNet family: fan-out normal for convs, truncated normal for linears."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv1d):
            fan_out = m.kernel_size[0] * m.out_channels
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
        elif isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
