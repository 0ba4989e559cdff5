"""What a training step minimises, built from the run's config: supervised BCE + Dice, the paper's two-stage
distillation, or output distillation (both in distillation.py), each with optional deep supervision."""

from __future__ import annotations

import torch
from torch import nn

from ..models import MODELS
from .checkpoint import load_model
from .config import TrainConfig
from .distillation import DistillationObjective, OutputDistillation
from .losses import DeepSupervision, bce_dice_loss, decoder_stage_channels


class SupervisedObjective(nn.Module):
    """Lseg = BCE + Dice on the model's logits (plus deep supervision of the decoder stages, if given)."""

    def __init__(self, deep: DeepSupervision | None = None) -> None:
        super().__init__()
        self.deep = deep

    def forward(self, model: nn.Module, images: torch.Tensor, masks: torch.Tensor, progress: float,
                soft_targets: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        if self.deep is None:
            loss = bce_dice_loss(model(images), masks)
            return loss, {"seg": loss.item()}
        out = model(images, return_features=True)
        seg, deep = bce_dice_loss(out.logits, masks), self.deep(out.stages[:-1], masks)
        return seg + deep, {"seg": seg.item(), "deep": deep.item()}


def build_objective(config: TrainConfig, student: nn.Module) -> nn.Module:
    """The objective of ``config`` for ``student`` (a teacher file is read here: a bad one fails before training)."""
    deep = (DeepSupervision(decoder_stage_channels(student.widths), config.deep_supervision)
            if config.deep_supervision else None)
    if config.kd == "none":
        return SupervisedObjective(deep)
    if config.kd == "output":
        for path in config.teachers:
            load_model(path)
        return OutputDistillation(config.teachers, config.output_kd, deep)
    teacher, info = load_model(config.teachers[0])
    if not MODELS[info["model"]].distillable or not MODELS[config.model].distillable:
        raise ValueError(f"{config.teachers[0]}: the paper's distillation needs a teacher and a student that return "
                         f"their features ({info['model']} -> {config.model}); output distillation (kd=output) "
                         "takes any teacher")
    return DistillationObjective(teacher.to(memory_format=torch.channels_last), student.widths, config.paper_kd)
