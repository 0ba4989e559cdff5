"""The six-stage U shape that MicroAUNet (microaunet.py) and MALUNet (malunet.py) share.

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

from .common import FeatureOutput, check_input
from .layers import Conv2d, group_norm, upsample2x


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
            x = F.gelu(norm.then_max_pool(encoder(x), 2))
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
