"""Building blocks shared by MicroAUNet and MALUNet (see docs/architecture.md).

GroupNorm always has 4 groups, as in both papers' code.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .layers import Conv2d


class GroupNorm(nn.GroupNorm):
    """nn.GroupNorm with an ONNX export that is precise and free of shape arithmetic.

    Exported as is, GroupNorm becomes Reshape -> InstanceNormalization -> Reshape, with shape-computing
    nodes around each reshape, and ONNX Runtime sums a whole group (65,536 values at 256x256) in one
    float32 pass: the trained student's probabilities drifted 3e-4 from PyTorch's. Here each channel's
    statistics are reduced over rows, then columns (two short sums), and averaged within the group by a
    constant 1x1 convolution, so no reshape is needed. Eager PyTorch keeps the fused kernel.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.onnx.is_in_onnx_export():
            return super().forward(x)
        centred = x - self._group_mean(x)
        scale = self.weight.reshape(1, -1, 1, 1) * torch.rsqrt(self._group_mean(centred * centred) + self.eps)
        return centred * scale + self.bias.reshape(1, -1, 1, 1)

    def _group_mean(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, 1, 1): the mean over each channel's group."""
        per_channel = x.mean(3, keepdim=True).mean(2, keepdim=True)
        if self.num_groups == self.num_channels:
            return per_channel
        size = self.num_channels // self.num_groups
        average = torch.kron(torch.eye(self.num_groups), torch.full((size, size), 1.0 / size))
        return F.conv2d(per_channel, average[:, :, None, None].to(x.dtype))


def group_norm(channels: int) -> GroupNorm:
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


class DWDConv(nn.Sequential):
    """Depthwise-separable dilated conv: dw 3x3 (dilation d) -> BN -> ReLU -> pw 1x1 -> BN -> ReLU."""

    def __init__(self, c_in: int, c_out: int, dilation: int = 1) -> None:
        super().__init__(
            Conv2d(c_in, c_in, 3, padding=dilation, dilation=dilation, groups=c_in, bias=False),
            nn.BatchNorm2d(c_in),
            nn.ReLU(inplace=True),
            Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )


class RepDWDConv(nn.Module):
    """A DWDConv over-parameterised for training only (RepVGG / Diverse Branch Block style), folded by :meth:`fold`.

    The depthwise stage sums three branches, each with its own BatchNorm: the dilated 3x3, a 1x1, and the
    identity. The pointwise stage is a product of two 1x1 convs (expansion to ``expansion * max(c_in, c_out)``
    channels, ExpandNet style) before its BatchNorm. In eval mode the whole block is linear-then-ReLU in each
    stage, so it folds exactly into the deployed DWDConv: one 3x3 depthwise kernel, a BatchNorm carrying the
    summed biases, one 1x1 kernel and the pointwise BatchNorm.
    """

    def __init__(self, c_in: int, c_out: int, dilation: int = 1, expansion: int = 4) -> None:
        super().__init__()
        self.dilation = dilation
        self.dw3 = Conv2d(c_in, c_in, 3, padding=dilation, dilation=dilation, groups=c_in, bias=False)
        self.bn3 = nn.BatchNorm2d(c_in)
        self.dw1 = Conv2d(c_in, c_in, 1, groups=c_in, bias=False)
        self.bn1 = nn.BatchNorm2d(c_in)
        self.bn_identity = nn.BatchNorm2d(c_in)
        hidden = expansion * max(c_in, c_out)
        self.pw_expand = Conv2d(c_in, hidden, 1, bias=False)
        self.pw_project = Conv2d(hidden, c_out, 1, bias=False)
        self.bn_pw = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn3(self.dw3(x)) + self.bn1(self.dw1(x)) + self.bn_identity(x))
        return F.relu(self.bn_pw(self.pw_project(self.pw_expand(y))))

    @torch.no_grad()
    def fold(self) -> DWDConv:
        """The DWDConv that computes this block's eval-mode function."""
        c_in = self.dw3.in_channels
        kernel = torch.zeros(c_in, 1, 3, 3, dtype=torch.float64)  # folded in float64, rounded once at the end
        bias = torch.zeros(c_in, dtype=torch.float64)
        identity = torch.ones(c_in, 1, 1, 1)
        for weight, bn in ((self.dw3.weight, self.bn3), (self.dw1.weight, self.bn1), (identity, self.bn_identity)):
            scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
            k = weight.double() * scale.view(-1, 1, 1, 1)
            kernel += k if k.shape[-1] == 3 else F.pad(k, (1, 1, 1, 1))
            bias += bn.bias.double() - bn.running_mean.double() * scale
        folded = DWDConv(c_in, self.pw_project.out_channels, self.dilation)
        folded[0].weight.copy_(kernel)
        bn = folded[1]
        bn.weight.fill_(1.0)
        bn.bias.copy_(bias)
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0 - bn.eps)  # so that it divides by sqrt(var + eps) = 1
        folded[3].weight.copy_(torch.einsum("oh,hi->oi", self.pw_project.weight[:, :, 0, 0].double(),
                                            self.pw_expand.weight[:, :, 0, 0].double())[:, :, None, None])
        folded[4].load_state_dict(self.bn_pw.state_dict())
        return folded.eval()


def fold_training_branches(model: nn.Module) -> nn.Module:
    """Replace every training-only over-parameterised block by the deployed block it folds into (in place)."""
    for name, child in model.named_children():
        if isinstance(child, RepDWDConv):
            setattr(model, name, child.fold())
        else:
            fold_training_branches(child)
    return model


class DenseConv(nn.Sequential):
    """Plain 3x3 conv -> BN -> ReLU: what ablation MicroAUNet-1 puts in place of every DWDConv."""

    def __init__(self, c_in: int, c_out: int, dilation: int = 1) -> None:
        del dilation  # the ablation drops dilation together with the depthwise split
        super().__init__(
            Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )


class DWDBlock(nn.Module):
    """y = GELU(conv_d2(x)); y = conv_d1(y); return GELU(y + x)."""

    def __init__(self, channels: int, conv: Callable[..., nn.Module] = DWDConv) -> None:
        super().__init__()
        self.conv1 = conv(channels, channels, dilation=2)
        self.conv2 = conv(channels, channels, dilation=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(F.gelu(self.conv1(x)))
        return F.gelu(y + x)


class LDGA(nn.Module):
    """Single-path spatial attention (paper eq. 1-2) followed by a 1x1 DW unit with a residual."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.dw = DWUnit(c_in, c_in, kernel_size=3)
        self.attn = Conv2d(c_in, 1, 1, bias=False)
        self.proj = DWUnit(c_in, c_out, kernel_size=1)
        self.shortcut = nn.Identity() if c_in == c_out else DWUnit(c_in, c_out, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.sigmoid(self.attn(F.gelu(self.dw(x))))  # eq. 1
        x_att = a * x + x  # eq. 2
        return self.proj(x_att) + self.shortcut(x)


class LDGAOnDepthwise(LDGA):
    """LDGA as the authors' code computes it: the attention map, taken from D = DW unit(x) without a GELU,
    multiplies D itself (X' = A * D, no residual inside): a different function with the same parameters."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.dw(x)
        return self.proj(torch.sigmoid(self.attn(d)) * d) + self.shortcut(x)


def _spatial_descriptor(t: torch.Tensor) -> torch.Tensor:
    """Channel mean and channel max, stacked: (B, 2, H, W)."""
    return torch.cat([t.mean(dim=1, keepdim=True), t.amax(dim=1, keepdim=True)], dim=1)


def _pooled_descriptor(skips: list[torch.Tensor]) -> torch.Tensor:
    """Global average pool of every skip, concatenated: (B, 1, sum(C_i)), ready for a 1-D conv."""
    return torch.cat([t.mean(dim=(2, 3)) for t in skips], dim=1).unsqueeze(1)


class LSCAB(nn.Module):
    """Parameter-shared channel-spatial attention bridge (paper eq. 3).

    One 1-D conv and ONE Linear serve the channel attention of all five skips; one 7x7 conv
    serves their spatial attention. t' = (alpha * A_c + beta * A_s) * t + t.
    """

    def __init__(self, skip_channels: list[int]) -> None:
        super().__init__()
        self.skip_channels = list(skip_channels)
        total = sum(skip_channels)
        self.channel_mix = nn.Conv1d(1, 1, 3, padding=1, bias=False)
        self.channel_fc = nn.Linear(total, total)
        self.spatial_conv = Conv2d(2, 1, 7, bias=False)
        self.alpha = nn.Parameter(torch.tensor(0.5))
        self.beta = nn.Parameter(torch.tensor(0.5))

    def forward(self, skips: list[torch.Tensor]) -> list[torch.Tensor]:
        a_c = torch.sigmoid(self.channel_fc(self.channel_mix(_pooled_descriptor(skips)).squeeze(1)))
        a_c = torch.split(a_c, self.skip_channels, dim=1)
        out = []
        for t, a_ci in zip(skips, a_c):
            # reflect padding needs maps larger than the pad: inputs under 128 px give 1-2 px deep skips
            mode = "reflect" if min(t.shape[-2:]) > 3 else "replicate"
            a_s = torch.sigmoid(self.spatial_conv(F.pad(_spatial_descriptor(t), (3, 3, 3, 3), mode=mode)))
            weight = self.alpha * a_ci[:, :, None, None] + self.beta * a_s
            out.append(weight * t + t)
        return out


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
        spatial = [torch.sigmoid(self.spatial_conv(_spatial_descriptor(t))) * t for t in skips]
        mixed = [s + t for s, t in zip(spatial, skips)]
        desc = self.channel_mix(_pooled_descriptor(mixed)).squeeze(1)
        return [
            torch.sigmoid(head(desc))[:, :, None, None] * m + s
            for head, m, s in zip(self.channel_heads, mixed, spatial)
        ]
