"""Layers that MicroAUNet and MALUNet share: a Conv2d with a fast CPU path, an exportable GroupNorm, the DW unit,
the attention descriptors of the skip bridges, and the upsampling of the decoder.

## Conv2d: the CPU training path reformulated for few-channel maps, computing the same function

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


class GroupNorm(nn.GroupNorm):
    """nn.GroupNorm with an ONNX export that is precise and free of shape arithmetic.

    Exported as is, GroupNorm becomes Reshape -> InstanceNormalization -> Reshape, with shape-computing
    nodes around each reshape, and ONNX Runtime sums a whole group (65,536 values at 256x256) in one
    float32 pass: the trained student's probabilities drifted 3e-4 from PyTorch's (a single ReduceMean over
    both axes drifts as much). Here each channel's statistics are reduced over rows, then columns (two short
    sums), and averaged within the group by a constant 1x1 convolution, so no reshape is needed. Eager
    PyTorch keeps the fused kernel.

    Where the next layer allows, the export folds the affine part into it (the same function, fewer passes
    over the map): into a following 1x1 convolution (:meth:`into_conv`), or past a following max-pool
    (:meth:`then_max_pool`), where it then runs on a quarter of the pixels.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.onnx.is_in_onnx_export():
            return super().forward(x)
        centred, var = self._centred(x)
        scale = self.weight.reshape(1, -1, 1, 1) / torch.sqrt(var + self.eps)
        return centred * scale + self.bias.reshape(1, -1, 1, 1)

    def into_conv(self, x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
        """``conv(self(x))`` for a 1x1 ``conv``, with the affine part folded into the convolution's weights."""
        if not torch.onnx.is_in_onnx_export() or conv.kernel_size != (1, 1) or conv.groups != 1:
            return conv(self(x))
        centred, var = self._centred(x)
        weight = conv.weight * self.weight.reshape(1, -1, 1, 1)
        bias = conv.weight[:, :, 0, 0] @ self.bias
        bias = bias if conv.bias is None else bias + conv.bias
        return F.conv2d(centred / torch.sqrt(var + self.eps), weight, bias)

    def then_max_pool(self, x: torch.Tensor, kernel: int) -> torch.Tensor:
        """``max_pool2d(self(x), kernel)``, with the affine part applied after the pool: max(g*n + b) is
        |g| * max(sign(g) * n) + b, and sign(g) joins the normalising scale."""
        if not torch.onnx.is_in_onnx_export():
            return F.max_pool2d(self(x), kernel)
        centred, var = self._centred(x)
        sign = torch.where(self.weight < 0, -1.0, 1.0).reshape(1, -1, 1, 1)
        pooled = F.max_pool2d(centred * (sign / torch.sqrt(var + self.eps)), kernel)
        return pooled * self.weight.abs().reshape(1, -1, 1, 1) + self.bias.reshape(1, -1, 1, 1)

    def _centred(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x less its group mean, and the group variance (B, C, 1, 1)."""
        centred = x - self._group_mean(x)
        return centred, self._group_mean(centred * centred)

    def _group_mean(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, 1, 1): the mean over each channel's group."""
        per_channel = x.mean(3, keepdim=True).mean(2, keepdim=True)
        if self.num_groups == self.num_channels:
            return per_channel
        size = self.num_channels // self.num_groups
        average = torch.kron(torch.eye(self.num_groups), torch.full((size, size), 1.0 / size))
        return F.conv2d(per_channel, average[:, :, None, None].to(x.dtype))


def group_norm(channels: int) -> GroupNorm:
    """GroupNorm with 4 groups, as in both papers' code."""
    return GroupNorm(4, channels)


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True)


class DWUnit(nn.Sequential):
    """Depthwise kxk conv (bias) -> GroupNorm -> pointwise 1x1 conv (bias)."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 3, dilation: int = 1) -> None:
        padding = dilation * (kernel_size - 1) // 2
        super().__init__(
            Conv2d(c_in, c_in, kernel_size, padding=padding, dilation=dilation, groups=c_in),
            group_norm(c_in),
            Conv2d(c_in, c_out, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dw, norm, pw = self
        return norm.into_conv(dw(x), pw)  # in ONNX export, the norm's affine part folds into the 1x1 conv


def spatial_descriptor(t: torch.Tensor) -> torch.Tensor:
    """Channel mean and channel max, stacked: (B, 2, H, W)."""
    return torch.cat([t.mean(dim=1, keepdim=True), t.amax(dim=1, keepdim=True)], dim=1)


def pooled_descriptor(skips: list[torch.Tensor]) -> torch.Tensor:
    """Global average pool of every skip, concatenated: (B, 1, sum(C_i)), ready for a 1-D conv."""
    return torch.cat([t.mean(dim=(2, 3)) for t in skips], dim=1).unsqueeze(1)
