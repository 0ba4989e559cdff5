"""Two-stage distillation from a MALUNet teacher into MicroAUNet (paper section 3.3, Algorithm 1).

Stage 1, imitation (the first ``stage1_fraction`` of training):
    L1 = Lseg + (1 - w) * Lmimic + w * LKL                                           (eq. 6)
    Lmimic = sum_l lambda_l * mean((P_l(S_l) - T_l)^2) over the five encoder skips   (eq. 4)
             with P_l a learnable 1x1 projection from student to teacher channels
    LKL    = mean over pixels of KL(Bernoulli(p_T) || Bernoulli(p_S)) at temperature tau  (eq. 5)
    w      = a cosine ramp from 0 to 1 across stage 1: from feature to output imitation.

Stage 2, preference alignment (the rest):
    L2 = Lseg + Lcont + rho * Lreg, rho = 0.3                                        (eq. 7)
    Lcont  = supervised contrastive loss over sampled student pixel embeddings (last decoder
             features through a small projection head): pixels where the teacher is confident,
             p_T >= 0.8 (positives) or p_T <= 0.2 (negatives), are pulled towards their own kind
             and pushed from the other.
    Lreg   = the Bernoulli KL to the teacher's soft output again: a consistency regulariser of the
             same scale as Lseg, so that rho = 0.3 neither swamps nor vanishes.

Unlike the authors' code, every term here is a real function of the inputs with a gradient to the
student (their KL and contrastive terms took a softmax over one channel and were constant).
The projections and the contrastive head exist only in training; the deployed model is the student.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import SampleArrays
from .config import OutputKD, PaperKD
from .losses import bce_dice_loss

TERMS = ("seg", "mimic", "kl", "cont", "reg")


def bernoulli_kl(teacher_logits: torch.Tensor, student_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Mean over pixels of KL(Bern(sigmoid(t/T)) || Bern(sigmoid(s/T))), times T^2."""
    t, s = teacher_logits.float() / temperature, student_logits.float() / temperature
    p_t = torch.sigmoid(t)
    kl = p_t * (F.logsigmoid(t) - F.logsigmoid(s)) + (1 - p_t) * (F.logsigmoid(-t) - F.logsigmoid(-s))
    return kl.mean() * temperature**2


def feature_mimicry(student_skips: list[torch.Tensor], teacher_skips: list[torch.Tensor],
                    projections: nn.ModuleList, weights: tuple[float, ...]) -> torch.Tensor:
    return sum(w * F.mse_loss(p(s).float(), t.float())
               for w, p, s, t in zip(weights, projections, student_skips, teacher_skips))


def pixel_contrast(embedding: torch.Tensor, teacher_prob: torch.Tensor, settings: PaperKD) -> torch.Tensor:
    """Supervised contrastive loss over up to ``pixels_per_class`` confident pixels of each class.

    embedding: (B, D, h, w) projected student features; teacher_prob: (B, 1, H, W).
    Returns a zero that still carries a gradient when a batch lacks one of the classes.
    """
    prob = F.interpolate(teacher_prob.float(), size=embedding.shape[2:], mode="bilinear", align_corners=False).flatten()
    feats = F.normalize(embedding.float().permute(0, 2, 3, 1).reshape(-1, embedding.shape[1]), dim=1)
    pos = torch.nonzero(prob >= settings.pos_threshold).flatten()
    neg = torch.nonzero(prob <= settings.neg_threshold).flatten()
    if len(pos) == 0 or len(neg) == 0:
        return embedding.sum() * 0.0
    k = settings.pixels_per_class
    pos = pos[torch.randperm(len(pos), device=pos.device)[:k]]
    neg = neg[torch.randperm(len(neg), device=neg.device)[:k]]
    z = torch.cat([feats[pos], feats[neg]])
    labels = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))]).to(z.device)
    sim = z @ z.T / settings.contrast_temperature
    self_mask = torch.eye(len(z), dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_mask, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    same = (labels[:, None] == labels[None, :]) & ~self_mask
    return -(log_prob.masked_fill(~same, 0.0).sum(1) / same.sum(1).clamp(min=1)).mean()


def imitation_weight(progress: float, stage1_fraction: float) -> float:
    """w of eq. 6: a cosine ramp from 0 at the start to 1 at the end of stage 1."""
    x = min(max(progress / stage1_fraction, 0.0), 1.0)
    return 0.5 * (1 - math.cos(math.pi * x))


class DistillationObjective(nn.Module):
    """The loss of both stages; holds the teacher (frozen) and the training-only heads."""

    def __init__(self, teacher: nn.Module, student_widths: tuple[int, ...], settings: PaperKD) -> None:
        super().__init__()
        self.settings = settings
        self.teacher = teacher.eval().requires_grad_(False)
        teacher_widths = teacher.widths
        self.projections = nn.ModuleList(
            nn.Conv2d(cs, ct, 1) for cs, ct in zip(student_widths[:5], teacher_widths[:5])
        )
        self.embed = nn.Sequential(
            nn.Conv2d(student_widths[0], settings.embed_dim, 1), nn.ReLU(),
            nn.Conv2d(settings.embed_dim, settings.embed_dim, 1)
        )

    def train(self, mode: bool = True) -> DistillationObjective:
        super().train(mode)
        self.teacher.eval()  # the teacher's BatchNorm/GroupNorm statistics stay frozen
        return self

    def terms(self, model: nn.Module, images: torch.Tensor, masks: torch.Tensor, progress: float
              ) -> tuple[dict[str, torch.Tensor], float]:
        """Each term of the current stage (switched-off terms are absent) and the weight w."""
        s = self.settings
        out = model(images, return_features=True)
        terms = {"seg": bce_dice_loss(out.logits, masks)}
        w = imitation_weight(progress, s.stage1_fraction)
        stage1 = progress < s.stage1_fraction
        if not (s.imitation if stage1 else s.preference):
            return terms, w  # an ablated stage: the teacher's forward pass is not needed
        with torch.no_grad():
            teacher = self.teacher(images, return_features=True)
        if stage1:
            terms["mimic"] = (1 - w) * feature_mimicry(out.skips, teacher.skips, self.projections, s.level_weights)
            terms["kl"] = w * bernoulli_kl(teacher.logits, out.logits, s.temperature)
        else:
            teacher_prob = torch.sigmoid(teacher.logits)
            terms["cont"] = pixel_contrast(self.embed(out.decoder), teacher_prob, s)
            terms["reg"] = s.rho * bernoulli_kl(teacher.logits, out.logits, s.temperature)
        return terms, w

    def forward(self, model: nn.Module, images: torch.Tensor, masks: torch.Tensor, progress: float,
                soft_targets: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        terms, w = self.terms(model, images, masks, progress)
        parts = {name: terms[name].item() if name in terms else 0.0 for name in TERMS}
        return sum(terms.values()), parts | {"ramp_w": w}


# -- output distillation over the whole run, from precomputed teacher probabilities -------------------------------
def channel_wise_kl(teacher_logits: torch.Tensor, student_logits: torch.Tensor, temperature: float = 1.0
                    ) -> torch.Tensor:
    """Channel-wise distillation (Shu et al., ICCV 2021): each image's one-channel logit map as a distribution over
    its pixels (softmax at temperature T), KL(teacher || student) averaged over images, times T^2."""
    t = teacher_logits.float().flatten(1) / temperature
    s = student_logits.float().flatten(1) / temperature
    return F.kl_div(F.log_softmax(s, 1), F.log_softmax(t, 1), log_target=True, reduction="batchmean") * temperature**2


@torch.no_grad()
def ensemble_probabilities(teachers: list[nn.Module], images: np.ndarray, tta: str = "none",
                           batch_size: int = 16) -> np.ndarray:
    """The mean probability over ``teachers`` and the flip views of ``tta`` for RGB uint8 (N, S, S, 3) images:
    (N, S, S) float16 (half the memory of float32; probabilities need no more)."""
    from ..data.transforms import to_model_input
    from ..deploy.tta import TTA

    out = np.empty(images.shape[:3], np.float16)
    for start in range(0, len(images), batch_size):
        x = to_model_input(torch.from_numpy(images[start:start + batch_size]))
        mean = torch.stack([TTA(teacher.eval(), tta)(x) for teacher in teachers]).mean(0)
        out[start:start + batch_size] = mean[:, 0].numpy()
    return out


class OutputDistillation(nn.Module):
    """The objective of :class:`~microaunet.training.config.OutputKD` with these ``teachers`` (weights files);
    ``prepare`` computes the targets for the training images (or reads them from the cache)."""

    def __init__(self, teachers: list[str], settings: OutputKD, deep: nn.Module | None = None) -> None:
        super().__init__()
        if not teachers:
            raise ValueError("output distillation needs at least one teacher")
        self.teachers = [str(t) for t in teachers]
        self.settings = settings
        self.deep = deep
        self.targets: np.ndarray | None = None

    def prepare(self, train: SampleArrays, config: object) -> None:
        from ..data.cache import default_cache_dir
        from ..models.layers import fast_cpu_path
        from .checkpoint import load_model

        s = self.settings
        key = hashlib.sha256(json.dumps([s.tta, list(train.ids), train.images.shape[1:]]).encode())
        for path in self.teachers:
            key.update(hashlib.sha256(Path(path).read_bytes()).digest())
        cache_dir = Path(getattr(config, "cache_dir", None) or default_cache_dir())
        path = cache_dir / f"teacher-targets-{key.hexdigest()[:24]}.npy"
        if path.is_file():
            self.targets = np.load(path)
            return
        teachers = [load_model(t)[0] for t in self.teachers]
        with fast_cpu_path():
            self.targets = ensemble_probabilities(teachers, train.images, s.tta)
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, self.targets)
        os.replace(tmp, path)

    def forward(self, model: nn.Module, images: torch.Tensor, masks: torch.Tensor, progress: float,
                soft_targets: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        if soft_targets is None:
            raise ValueError("output distillation needs the teacher's soft targets of the batch")
        s = self.settings
        out = model(images, return_features=True) if self.deep is not None else None
        logits = out.logits if out is not None else model(images)
        teacher_logits = torch.logit(soft_targets.clamp(1e-6, 1 - 1e-6))
        kd = (bernoulli_kl if s.loss == "bernoulli" else channel_wise_kl)(teacher_logits, logits, s.temperature)
        terms = {"seg": bce_dice_loss(logits, masks), "kd": s.weight * kd}
        if out is not None:
            terms["deep"] = self.deep(out.stages[:-1], masks)
        return sum(terms.values()), {k: v.item() for k, v in terms.items()}
