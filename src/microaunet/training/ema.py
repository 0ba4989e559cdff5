"""The exponential moving average (EMA) of the weights that is validated, evaluated and shipped, with a warm-up.

With a fixed decay d the average starts from the random initialisation and forgets it as d**n: after n = 240
updates at d = 0.999 it is still 79% the initial weights. The warm-up uses the decay
min(d, (1 + n) / (10 + n)) at the n-th update (as TensorFlow's ExponentialMovingAverage with num_updates,
and timm's EMA warm-up, do), so a short run averages its recent weights and a long one ends at d.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def decay_at(updates: int, decay: float) -> float:
    """The decay applied at the update that follows ``updates`` earlier ones."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


def _warmup_average(decay: float) -> Callable[[list[torch.Tensor], list[torch.Tensor], torch.Tensor], None]:
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], updates: torch.Tensor) -> None:
        if not averaged[0].is_floating_point():  # BatchNorm's num_batches_tracked: keep the model's count
            torch._foreach_copy_(averaged, current)
            return
        torch._foreach_lerp_(averaged, current, 1.0 - decay_at(int(updates), decay))

    return update


def weight_ema(model: nn.Module, decay: float) -> AveragedModel:
    """An EMA of ``model``'s parameters and buffers with the warm-up above; ``.module`` is the averaged model."""
    return AveragedModel(model, multi_avg_fn=_warmup_average(decay), use_buffers=True)
