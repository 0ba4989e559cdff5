"""Flip test-time augmentation: the mean of the probabilities of flipped views, each flipped back.

``none`` is the model alone (``sigmoid(model(x))``, bit for bit); ``flip`` adds the horizontally flipped
view; ``flip4`` the horizontal, vertical and doubly flipped views. The views go through the model as one
batch, so one forward pass serves them all, in PyTorch and in the exported ONNX graph alike.
"""

from __future__ import annotations

import torch
from torch import nn

TTA_MODES = ("none", "flip", "flip4")
# the dimensions of an NCHW tensor that each view flips: () is the identity, 3 horizontal, 2 vertical
_VIEWS: dict[str, tuple[tuple[int, ...], ...]] = {"none": ((),), "flip": ((), (3,)), "flip4": ((), (3,), (2,), (2, 3))}


def check_tta(mode: str) -> str:
    if mode not in TTA_MODES:
        raise ValueError(f"tta must be one of {', '.join(TTA_MODES)}, got {mode!r}")
    return mode


def _flip(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    return x.flip(dims) if dims else x


class TTA(nn.Module):
    """Wraps a logits model: ``(B, 3, H, W)`` normalised images -> ``(B, 1, H, W)`` probabilities."""

    def __init__(self, model: nn.Module, mode: str = "none") -> None:
        super().__init__()
        self.model, self.mode = model, check_tta(mode)
        self.views = _VIEWS[mode]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.views) == 1:
            return torch.sigmoid(self.model(x))
        batch = torch.cat([_flip(x, dims) for dims in self.views])
        probabilities = torch.sigmoid(self.model(batch)).chunk(len(self.views))
        return torch.stack([_flip(p, dims) for p, dims in zip(probabilities, self.views)]).mean(0)
