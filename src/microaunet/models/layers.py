"""Layers whose CPU training path is reformulated for few-channel maps, computing the same function.

oneDNN runs an NCHW convolution with 3-32 channels far below the memory bandwidth: it reorders the
maps into 8- or 16-channel blocks (padding 3 or 4 channels to 16) and back around every call, forward
and backward. Equal formulations that stay on its fast paths, or leave it for a plain matrix product:

- a 1x1 convolution is a matrix product of the weight with the (C, H*W) view of each image;
- a depthwise convolution of a (B, C) batch is one depthwise convolution of a single (B*C)-channel
  image, whose wide channel dimension fills oneDNN's blocks;
- a depthwise 1x1 convolution is a per-channel scale;
- a convolution to one output channel (spatial attention) is a depthwise convolution per input channel,
  summed over the channels.

The reformulation is switched on by :func:`fast_cpu_path` (the trainer does, for the student's and the
teacher's passes) and applies only to contiguous NCHW CPU tensors; elsewhere, in ONNX export, and in
evaluation these layers are plain ``nn.Conv2d``, so exported graphs, complexity counts and recorded
evaluations are untouched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

_FAST = [False]


@contextlib.contextmanager
def fast_cpu_path(enabled: bool = True) -> Iterator[None]:
    """Within this block, :class:`Conv2d` layers take their reformulated CPU path."""
    previous = _FAST[0]
    _FAST[0] = enabled
    try:
        yield
    finally:
        _FAST[0] = previous


def _fast_path_applies(x: torch.Tensor) -> bool:
    return (_FAST[0] and x.device.type == "cpu" and x.dim() == 4 and x.is_contiguous()
            and not torch.onnx.is_in_onnx_export() and not torch.jit.is_tracing())


class Conv2d(nn.Conv2d):
    """nn.Conv2d (zero padding, same parameters and state dict) with the reformulated CPU path above."""

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if self.padding_mode != "zeros" or not _fast_path_applies(x):
            return super()._conv_forward(x, weight, bias)
        b, c, h, w = x.shape
        depthwise = self.groups == c == self.out_channels
        if self.kernel_size == (1, 1) and self.stride == (1, 1) and self.padding == (0, 0):
            if self.groups == 1:
                y = torch.matmul(weight.view(self.out_channels, c), x.view(b, c, h * w)).view(b, -1, h, w)
            elif depthwise:
                y = x * weight.view(1, c, 1, 1)
            else:
                return super()._conv_forward(x, weight, bias)
        elif depthwise or (self.groups == 1 and self.out_channels == 1):
            kernels = weight.reshape(c, 1, *self.kernel_size).repeat(b, 1, 1, 1)
            y = F.conv2d(x.reshape(1, b * c, h, w), kernels, None, self.stride, self.padding, self.dilation, b * c)
            y = y.view(b, c, y.shape[-2], y.shape[-1])
            if not depthwise:
                y = y.sum(1, keepdim=True)
        else:
            return super()._conv_forward(x, weight, bias)
        return y if bias is None else y + bias.view(1, -1, 1, 1)
