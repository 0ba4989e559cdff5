"""A training run, whole, as one typed record: the network, the data, the optimisation and, for a distillation,
the teachers and the objective's settings. ``config.json`` in every run folder is this record, so a run can be
resumed, relabelled in the report or reproduced from its folder alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..deploy.tta import TTA_MODES

PRECISIONS = ("fp32", "bf16")  # of the training forward pass; bf16: bfloat16 autocast
KD_KINDS = ("none", "paper", "output")  # supervised only; the paper's two-stage distillation; output distillation
KD_LOSSES = ("bernoulli", "cwd")


@dataclass
class PaperKD:
    """The paper's two-stage distillation (training/distillation.py: DistillationObjective)."""

    stage1_fraction: float = 0.5
    imitation: bool = True  # False: ablation MicroAUNet-2
    preference: bool = True  # False: ablation MicroAUNet-3
    temperature: float = 1.0
    level_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0)
    pos_threshold: float = 0.8
    neg_threshold: float = 0.2
    rho: float = 0.3
    contrast_temperature: float = 0.1
    pixels_per_class: int = 256
    embed_dim: int = 16


@dataclass
class OutputKD:
    """Lseg + weight * KD(teacher, student) at every step (training/distillation.py: OutputDistillation). The
    teacher is one or several trained models of any kind (no features are needed), averaged over models and flip
    views (``tta``); their probabilities on the un-augmented training images are computed once and warped with
    each batch's augmentation."""

    tta: str = "none"
    weight: float = 1.0
    temperature: float = 1.0
    loss: str = "bernoulli"  # per-pixel Bernoulli KL, or cwd: KL of the spatial softmax of each image's logits


@dataclass
class TrainConfig:
    model: str = "microaunet"
    data: str | list[str] = ""  # one dataset folder, or several (sampled in proportion to data_weights)
    split: str | list[str] = "paper"  # one split definition for all, or one per dataset
    data_weights: list[float] | None = None  # with several datasets: their sampling proportions (default: equal)
    out: str = "runs/train"
    size: int = 256
    batch_size: int = 8
    epochs: int = 300
    lr: float = 1e-3
    min_lr: float = 1e-5
    weight_decay: float = 1e-2
    seed: int = 42
    split_seed: int = 42
    val_fraction: float = 0.1
    ema_decay: float = 0.999
    threads: int = 0
    device: str = "cpu"
    cache_dir: str | None = None
    skip_bad: bool = False
    layout: str = "auto"  # nchw, channels_last, or auto: the faster on this machine (see layout.py)
    precision: str = "fp32"  # or bf16: the training forward pass under bfloat16 autocast (see Trainer.autocast)
    overparam: bool = False  # train the DWD convs over-parameterised (models/microaunet.RepDWDConv); folded when saved
    deep_supervision: float = 0.0  # weight of training-only heads on the decoder stages (losses.DeepSupervision)
    p_rotate: float = 0.5  # probability of a random rotation in the augmentation (flips: always drawn)
    photometric: float = 0.0  # strength of the photometric and acquisition augmentation (data/photometric.py)
    kd: str = "none"  # see KD_KINDS
    teachers: list[str] = field(default_factory=list)  # weights files of the teacher(s) of a distillation
    paper_kd: PaperKD = field(default_factory=PaperKD)
    output_kd: OutputKD = field(default_factory=OutputKD)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be {' or '.join(PRECISIONS)}, not {self.precision!r}")
        if self.kd not in KD_KINDS:
            raise ValueError(f"kd must be one of {', '.join(KD_KINDS)}, not {self.kd!r}")
        if self.kd != "none" and not self.teachers:
            raise ValueError(f"a distillation (kd={self.kd}) needs at least one teacher")
        if self.kd == "paper" and (len(self.teachers) != 1 or self.deep_supervision):
            raise ValueError("the paper's distillation takes one teacher and no deep supervision")
        if self.output_kd.tta not in TTA_MODES or self.output_kd.loss not in KD_LOSSES:
            raise ValueError(f"output_kd.tta must be one of {', '.join(TTA_MODES)} and output_kd.loss one of "
                             f"{', '.join(KD_LOSSES)}")

    @property
    def datasets(self) -> list[str]:
        return list(self.data) if isinstance(self.data, list) else [self.data]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """The config of a ``config.json``, this version's or an earlier one's (whose distillation settings were
        kept under ``extra``); unknown keys are an error naming them."""
        d = dict(d)
        extra = d.pop("extra", None) or {}
        if "distill" in extra:  # the paper's distillation, before 0.2
            d |= {"kd": "paper", "teachers": [extra["teacher"]], "paper_kd": extra["distill"]}
        elif extra.get("kd") == "output":
            d |= {"kd": "output", "teachers": list(extra["teachers"]),
                  "output_kd": {k: v for k, v in extra["output_kd"].items() if k != "teachers"}}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown training config field(s): {', '.join(unknown)}")
        paper, output = dict(d.pop("paper_kd", None) or {}), dict(d.pop("output_kd", None) or {})
        if "level_weights" in paper:
            paper["level_weights"] = tuple(paper["level_weights"])
        return cls(**d, paper_kd=PaperKD(**paper), output_kd=OutputKD(**output))

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError, TypeError, ValueError) as e:
            raise ValueError(f"{path}: not a readable training config ({e})") from None

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.as_dict(), indent=2))
