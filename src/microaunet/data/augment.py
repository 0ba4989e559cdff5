"""Batch augmentation on tensors: flips and rotation, the same geometry for image and mask.

Each sample draws its own flips and angle at every call (the authors' loader drew one angle when
the transform was built, so a whole run rotated every image alike). The draws come from a CPU
generator, so a seed gives the same geometry on any device; the warp runs where the batch is
(on a GPU the CPU would otherwise be the bottleneck of a small model's training).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def augment(
    images: torch.Tensor, masks: torch.Tensor, generator: torch.Generator, p_rotate: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random horizontal and vertical flips (p = 0.5 each) and, with p_rotate, a rotation by an angle in [0, 360).

    images: (B, 3, H, W) float; masks: (B, 1, H, W) float in {0, 1}, on one device. Masks stay binary.
    """
    b = images.shape[0]
    draws = torch.rand(b, 4, generator=generator)
    sx = torch.where(draws[:, 0] < 0.5, -1.0, 1.0)
    sy = torch.where(draws[:, 1] < 0.5, -1.0, 1.0)
    angle = torch.where(draws[:, 2] < p_rotate, draws[:, 3] * 2 * math.pi, torch.zeros(b))
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos * sx, -sin * sy
    theta[:, 1, 0], theta[:, 1, 1] = sin * sx, cos * sy
    grid = F.affine_grid(theta.to(images.device), list(images.shape), align_corners=False)
    images = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    masks = F.grid_sample(masks, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return images, masks
