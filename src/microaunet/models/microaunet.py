"""MicroAUNet (the paper's network): its blocks DWD conv, DWD block, LDGA (eq. 1-2) and LSCAB (eq. 3), and the
network at the paper's widths. The blocks follow docs/architecture.md; the U shape is lightunet.LightUNet.

Training-only forms live here too: RepDWDConv (over-parameterised, folds into DWDConv); and variants that change
the deployed function, each registered as its own model: the authors' code's LDGA (LDGAOnDepthwise) and other
GroupNorm group counts (``norm_groups``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .common import malunet_init
from .layers import Conv2d, DWUnit, GroupNorm, pooled_descriptor, spatial_descriptor
from .lightunet import LightUNet

PAPER_WIDTHS = (4, 8, 12, 16, 24, 32)


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
        x_att = (a + 1) * x if torch.onnx.is_in_onnx_export() else a * x + x  # eq. 2 (exported: one pass over x)
        return self.proj(x_att) + self.shortcut(x)


class LDGAOnDepthwise(LDGA):
    """LDGA as the authors' code computes it: the attention map, taken from D = DW unit(x) without a GELU,
    multiplies D itself (X' = A * D, no residual inside): a different function with the same parameters."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.dw(x)
        return self.proj(torch.sigmoid(self.attn(d)) * d) + self.shortcut(x)


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
        a_c = torch.sigmoid(self.channel_fc(self.channel_mix(pooled_descriptor(skips)).squeeze(1)))
        a_c = torch.split(a_c, self.skip_channels, dim=1)
        out = []
        for t, a_ci in zip(skips, a_c):
            # reflect padding needs maps larger than the pad: inputs under 128 px give 1-2 px deep skips
            mode = "reflect" if min(t.shape[-2:]) > 3 else "replicate"
            a_s = torch.sigmoid(self.spatial_conv(F.pad(spatial_descriptor(t), (3, 3, 3, 3), mode=mode)))
            weight = self.alpha * a_ci[:, :, None, None] + self.beta * a_s
            out.append((weight + 1) * t if torch.onnx.is_in_onnx_export() else weight * t + t)
        return out


def regroup_norms(model: nn.Module, groups: int) -> nn.Module:
    """Every GroupNorm of ``model`` replaced, in place, by one over ``groups`` groups (the same channels, eps and
    affine parameters, so the same parameter count): 1 normalises each sample over all its channels, as a
    LayerNorm over (C, H, W) does."""
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.GroupNorm):
                if child.num_channels % groups:
                    raise ValueError(f"{groups} groups do not divide a GroupNorm of {child.num_channels} channels")
                regrouped = GroupNorm(groups, child.num_channels, child.eps, child.affine)
                regrouped.load_state_dict(child.state_dict())
                setattr(parent, name, regrouped)
    return model


def microaunet(widths: Sequence[int] = PAPER_WIDTHS, dense_convs: bool = False, overparam: bool = False,
               ldga: type[LDGA] = LDGA, norm_groups: int = 4) -> LightUNet:
    """MicroAUNet. ``dense_convs=True`` is ablation MicroAUNet-1 (plain 3x3 convs instead of DWD convs);
    ``overparam=True`` trains every DWD conv as a :class:`RepDWDConv`, which ``fold_training_branches`` turns
    back into this network; ``ldga`` chooses the attention block's form (the paper's, or the authors' code's);
    ``norm_groups`` the group count of every GroupNorm (4, the paper's code)."""
    if dense_convs and overparam:
        raise ValueError("overparam applies to the DWD convs, which dense_convs replaces")
    c = list(widths)
    conv = DenseConv if dense_convs else RepDWDConv if overparam else DWDConv

    def stage(c_in: int, c_out: int) -> nn.Sequential:
        return nn.Sequential(DWDBlock(c_in, conv), ldga(c_in, c_out))

    def up_stage(c_in: int, c_out: int) -> nn.Sequential:
        return nn.Sequential(ldga(c_in, c_out), DWDBlock(c_out, conv))

    encoders = [conv(3, c[0], dilation=1)] + [stage(c[k - 1], c[k]) for k in range(1, 6)]
    decoders = [up_stage(c[k], c[k - 1]) for k in range(5, 0, -1)]
    model = LightUNet(c, encoders, LSCAB(c[:5]), decoders, name="MicroAUNet")
    malunet_init(model)
    return model if norm_groups == 4 else regroup_norms(model, norm_groups)
