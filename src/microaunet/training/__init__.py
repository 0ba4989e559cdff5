"""Training: the loop (trainer.py), what it minimises (objectives.py; the two distillations in distillation.py),
losses, the weight EMA, checkpoints, and the run's typed config (config.py).

    from microaunet.training import distill
    distill("data/Kvasir-SEG", "runs/student", teachers=["runs/malunet/final.safetensors"], kd="output",
            epochs=300)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .checkpoint import load_model, save_weights
from .config import OutputKD, PaperKD, TrainConfig
from .trainer import Trainer


def train(data: str | Path | list[str], out: str | Path, model: str = "microaunet", **settings: Any) -> dict[str, Any]:
    """Supervised training of ``model`` on ``data``, in the run folder ``out``; ``settings``: any field of
    :class:`TrainConfig` (epochs, seed, split, ...). Returns the final epoch, the best validation Dice and the
    time taken; the run folder holds the checkpoints, the log and ``final.safetensors``."""
    data = [str(d) for d in data] if isinstance(data, list) else str(data)
    return Trainer(TrainConfig(model=model, data=data, out=str(out), **settings)).fit()


def distill(data: str | Path | list[str], out: str | Path, teachers: list[str | Path], kd: str = "output",
            student: str = "microaunet", **settings: Any) -> dict[str, Any]:
    """Distil ``teachers`` (weights files) into ``student``: ``kd="output"`` distils their (ensembled)
    probabilities at every step (:class:`OutputKD` in ``output_kd=``), ``kd="paper"`` runs the paper's two-stage
    recipe from one MALUNet-family teacher (:class:`PaperKD` in ``paper_kd=``); other ``settings`` as for
    :func:`train`. A killed run continues with ``Trainer(TrainConfig.load(out / "config.json")).fit(resume=True)``."""
    return train(data, out, student, kd=kd, teachers=[str(t) for t in teachers], **settings)


__all__ = ["OutputKD", "PaperKD", "TrainConfig", "Trainer", "distill", "load_model", "save_weights", "train"]
