"""The memory layout a training step runs fastest in, measured on the machine at hand.

Which of NCHW and channels-last is faster depends on the model, the CPU and the thread count: on a
2-core AMD EPYC MicroAUNet trained 1.6x faster channels-last; on a 2-core Xeon it was 1.3x faster in
NCHW on one thread beside another job and 1.3x slower on both threads of a quiet machine (see
results/speed.md). Both layouts compute the same function, so ``auto`` times a few
forward-backward steps of a copy of the model in each and keeps the faster (as cuDNN's benchmark
mode does for its algorithms).
"""

from __future__ import annotations

import copy
import statistics
import time

import torch
from torch import nn

from .losses import bce_dice_loss

LAYOUTS = {"channels_last": torch.channels_last, "nchw": torch.contiguous_format}


def _step_seconds(model: nn.Module, layout: torch.memory_format, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    model = copy.deepcopy(model).train().to(memory_format=layout)  # a copy: BatchNorm statistics stay untouched
    x = x.contiguous(memory_format=layout)
    times = []
    for _ in range(steps + 1):  # the first step warms up (allocations, kernel selection)
        start = time.perf_counter()
        bce_dice_loss(model(x), y).backward()
        if x.is_cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def fastest_layout(model: nn.Module, batch_size: int, size: int, device: torch.device, steps: int = 3
                   ) -> tuple[str, dict[str, float]]:
    """The name of the faster layout for training ``model``, and the measured seconds per step of each."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, 3, size, size, generator=generator).to(device)
    y = (torch.rand(batch_size, 1, size, size, generator=generator) > 0.5).float().to(device)
    seconds = {name: _step_seconds(model, layout, x, y, steps) for name, layout in LAYOUTS.items()}
    return min(seconds, key=seconds.get), seconds
