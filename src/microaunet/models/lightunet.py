"""The six-stage U shape that MicroAUNet and MALUNet share, and the two networks built on it.

Encoder stages 1-5 end with GroupNorm -> 2x2 max-pool -> GELU and emit skips t1..t5; stage 6 is
the bottleneck (GELU only). A bridge refines the skips. Decoder stage k applies its block, a
GroupNorm, a bilinear x2 upsampling (from the second stage on), GELU, and adds the matching skip.
A 1x1 head and a last x2 upsampling give full-resolution logits.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import DGA, IEA, LDGA, LSCAB, DenseConv, DWDBlock, DWDConv, RepDWDConv, SCBridge, group_norm, upsample2x
from .common import FeatureOutput, check_input, malunet_init
from .layers import Conv2d

PAPER_WIDTHS = (4, 8, 12, 16, 24, 32)
WIDE_WIDTHS = (8, 16, 24, 32, 48, 64)


class LightUNet(nn.Module):
    def __init__(
        self,
        widths: Sequence[int],
        encoders: Sequence[nn.Module],
        bridge: nn.Module,
        decoders: Sequence[nn.Module],
        name: str,
    ) -> None:
        super().__init__()
        if len(widths) != 6 or len(encoders) != 6 or len(decoders) != 5:
            raise ValueError("a LightUNet has 6 widths, 6 encoder stages and 5 decoder stages")
        self.name = name
        self.widths = tuple(widths)
        self.encoders = nn.ModuleList(encoders)
        self.encoder_norms = nn.ModuleList(group_norm(c) for c in widths[:5])
        self.bridge = bridge
        self.decoders = nn.ModuleList(decoders)
        self.decoder_norms = nn.ModuleList(group_norm(c) for c in reversed(widths[:5]))
        self.head = Conv2d(widths[0], 1, 1)

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor | FeatureOutput:
        check_input(x, self.name)
        skips = []
        for encoder, norm in zip(self.encoders[:5], self.encoder_norms):
            x = F.gelu(F.max_pool2d(norm(encoder(x)), 2))
            skips.append(x)
        x = F.gelu(self.encoders[5](x))
        bridged = self.bridge(skips)
        stages = []
        for i, (decoder, norm, skip) in enumerate(zip(self.decoders, self.decoder_norms, reversed(bridged))):
            x = norm(decoder(x))
            if i > 0:
                x = upsample2x(x)
            x = F.gelu(x) + skip
            stages.append(x)
        logits = upsample2x(self.head(x))
        if return_features:
            return FeatureOutput(logits, skips, x, stages)
        return logits


def microaunet(widths: Sequence[int] = PAPER_WIDTHS, dense_convs: bool = False, overparam: bool = False,
               ldga: type[LDGA] = LDGA) -> LightUNet:
    """MicroAUNet. ``dense_convs=True`` is ablation MicroAUNet-1 (plain 3x3 convs instead of DWD convs);
    ``overparam=True`` trains every DWD conv as a :class:`RepDWDConv`, which ``fold_training_branches`` turns
    back into this network; ``ldga`` chooses the attention block's form (the paper's, or the authors' code's)."""
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
    return model


def malunet(widths: Sequence[int] = WIDE_WIDTHS) -> LightUNet:
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
