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
