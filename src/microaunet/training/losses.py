"""The segmentation loss: binary cross-entropy plus soft Dice, on logits (as in the authors' code).

Losses are computed in float32 whatever the logits' dtype, so that a bfloat16 forward pass (training
with ``precision="bf16"``) does not round the Dice sums to three significant digits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - soft Dice, computed per image and averaged over the batch."""
    prob = torch.sigmoid(logits.float()).flatten(1)
    target = target.flatten(1)
    inter = (prob * target).sum(1)
    dice = (2 * inter + smooth) / (prob.sum(1) + target.sum(1) + smooth)
    return 1 - dice.mean()


def bce_dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits.float(), target) + soft_dice_loss(logits, target)


class DeepSupervision(torch.nn.Module):
    """Training-only 1x1 heads on the decoder stages before the last (H/32 .. H/4), each scored with BCE + Dice
    against the mask area-averaged to its resolution; ``weight`` scales the mean over the stages. The heads are
    dropped at export: the deployed network is unchanged."""

    def __init__(self, stage_channels: list[int], weight: float) -> None:
        super().__init__()
        self.weight = weight
        self.heads = torch.nn.ModuleList(torch.nn.Conv2d(c, 1, 1) for c in stage_channels)

    def forward(self, stages: list[torch.Tensor], masks: torch.Tensor) -> torch.Tensor:
        losses = []
        for head, stage in zip(self.heads, stages):
            target = F.adaptive_avg_pool2d(masks, stage.shape[-2:])
            losses.append(bce_dice_loss(head(stage), target))
        return self.weight * torch.stack(losses).mean()


def decoder_stage_channels(widths: tuple[int, ...]) -> list[int]:
    """Channels of the decoder stages that deep supervision scores: c4, c3, c2, c1 (the last, c0, is the head's)."""
    return list(reversed(widths[1:5]))
