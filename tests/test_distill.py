from __future__ import annotations

import pytest
import torch

from microaunet.models import build_model
from microaunet.training.distillation import (
    DistillationObjective,
    PaperKD,
    bernoulli_kl,
    imitation_weight,
    pixel_contrast,
)

STAGE1, STAGE2 = 0.2, 0.8  # training progress inside stage 1 and stage 2


def setup(**settings):
    teacher = build_model("malunet", seed=0)
    student = build_model("microaunet", seed=1)
    objective = DistillationObjective(teacher, student.widths, PaperKD(**settings))
    return student, objective


def batch(seed: int):
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(2, 3, 64, 64, generator=g)
    masks = (torch.rand(2, 1, 64, 64, generator=g) > 0.7).float()
    return images, masks


def test_bernoulli_kl_is_a_divergence() -> None:
    t = torch.randn(2, 1, 8, 8)
    assert bernoulli_kl(t, t).abs().item() < 1e-6
    s = t + torch.randn_like(t)
    p, q = torch.sigmoid(t), torch.sigmoid(s)
    manual = (p * torch.log(p / q) + (1 - p) * torch.log((1 - p) / (1 - q))).mean()
    assert bernoulli_kl(t, s).item() == pytest.approx(manual.item(), rel=1e-4)
    assert bernoulli_kl(t, s).item() > 0


def test_imitation_ramp() -> None:
    assert imitation_weight(0.0, 0.5) == 0.0
    assert imitation_weight(0.25, 0.5) == pytest.approx(0.5)
    assert imitation_weight(0.5, 0.5) == 1.0 and imitation_weight(0.9, 0.5) == 1.0


@pytest.mark.parametrize("progress,names", [(STAGE1, ("mimic", "kl")), (STAGE2, ("cont", "reg"))])
def test_every_term_varies_with_the_input_and_trains_the_student(progress: float, names: tuple[str, ...]) -> None:
    student, objective = setup()
    # teacher confidences must reach both thresholds for the contrastive term: sharpen the teacher
    with torch.no_grad():
        objective.teacher.head.weight.mul_(50)
        objective.teacher.head.bias.fill_(0)
    values = {name: [] for name in names}
    for seed in (0, 1):
        images, masks = batch(seed)
        terms, _ = objective.terms(student, images, masks, progress)
        for name in names:
            term = terms[name]
            student.zero_grad()
            term.backward(retain_graph=True)
            grad = sum(p.grad.abs().sum().item() for p in student.parameters() if p.grad is not None)
            assert grad > 0, f"{name} sends no gradient to the student"
            values[name].append(term.item())
    for name, (a, b) in values.items():
        assert a != b, f"{name} is constant across inputs"


def test_contrast_pulls_classes_apart() -> None:
    prob = torch.zeros(1, 1, 4, 4)
    prob[..., :2, :] = 1.0
    separated = torch.zeros(1, 2, 4, 4)
    separated[:, 0, :2, :] = 1
    separated[:, 1, 2:, :] = 1
    mixed = torch.randn(1, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    s = PaperKD()
    assert pixel_contrast(separated, prob, s) < pixel_contrast(mixed, prob, s)


@pytest.mark.parametrize("flags,stage1,stage2", [
    ({}, {"seg", "mimic", "kl"}, {"seg", "cont", "reg"}),
    ({"imitation": False}, {"seg"}, {"seg", "cont", "reg"}),
    ({"preference": False}, {"seg", "mimic", "kl"}, {"seg"}),
])
def test_ablation_flags_switch_exactly_their_terms(flags: dict, stage1: set, stage2: set) -> None:
    student, objective = setup(**flags)
    images, masks = batch(0)
    assert set(objective.terms(student, images, masks, STAGE1)[0]) == stage1
    assert set(objective.terms(student, images, masks, STAGE2)[0]) == stage2
    loss, parts = objective(student, images, masks, STAGE1)
    assert set(parts) == {"seg", "mimic", "kl", "cont", "reg", "ramp_w"}  # a stable log header


def test_teacher_stays_frozen() -> None:
    student, objective = setup()
    objective.train()
    assert not objective.teacher.training
    assert all(not p.requires_grad for p in objective.teacher.parameters())
    images, masks = batch(0)
    loss, _ = objective(student, images, masks, STAGE1)
    loss.backward()
    assert all(p.grad is None for p in objective.teacher.parameters())
    assert any(p.grad is not None for p in objective.projections.parameters())
