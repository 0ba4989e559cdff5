"""The evaluations under a results folder: each ``eval_*.json`` with the training run it belongs to, named as
the paper names its models, and grouped into runs that differ only in their seed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation.evaluate import split_label
from ..training.config import TrainConfig
from .variants import run_label

# splits whose test set holds whole video sequences that training never saw: a test of generalisation
UNSEEN_VIDEO_SPLITS = ("sequence",)


def dataset_name(path: str) -> str:
    """'../data/CVC-ClinicDB/PNG' -> 'CVC-ClinicDB', '../data/Kvasir-SEG' -> 'Kvasir-SEG'."""
    p = Path(path)
    return p.parent.name if p.name.upper() in {"PNG", "TIF"} else p.name


@dataclass
class Evaluation:
    """One evaluation file and the training run it belongs to."""

    path: Path
    label: str
    seed: int | None
    epochs: int | None
    trained_on: str
    train_split: str
    tested_on: str
    test_split: str
    result: dict[str, Any]
    precision: str = "fp32"  # of the training forward pass (train --precision)

    @property
    def split_definition(self) -> str:
        """How the test split was defined: paper, sequence, random, ... (``test_split`` without its part)."""
        return self.test_split.split(":")[0]

    @property
    def in_domain(self) -> bool:
        """Trained and tested on one dataset and split, with no video held out whole (Tables 1 and 3)."""
        split = self.split_definition
        return self.trained_on == self.tested_on and self.train_split == split and split not in UNSEEN_VIDEO_SPLITS

    def value(self, family: str, aggregate: str | None, metric: str) -> float:
        block = self.result[f"at_{self.result['size']}" if family == "main" else family]
        return float((block[aggregate] if aggregate else block)[metric])


def load_evaluation(path: Path) -> Evaluation:
    result = json.loads(path.read_text())
    config_path = path.parent / "config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    trained = TrainConfig.from_dict(config) if config else None
    return Evaluation(
        path=path, label=run_label(result["model"], trained), seed=config.get("seed"),
        epochs=config.get("epochs", result.get("epochs")), trained_on=dataset_name(config.get("data", "?")),
        train_split=config.get("split", "?"), tested_on=dataset_name(result["data"]),
        test_split=split_label(result), result=result, precision=config.get("precision", "fp32"),
    )


def collect(root: str | Path, parts: tuple[str, ...] = ("test", "all")) -> list[Evaluation]:
    """Every evaluation under ``root`` of a split part in ``parts``: test splits (and whole datasets) for the
    paper's tables; ``("val",)`` for the recipe screen, which is scored on validation data only."""
    rows = [load_evaluation(p) for p in sorted(Path(root).rglob("eval_*.json"))]
    rows = [r for r in rows if r.result["split"] in parts]
    if not rows:
        raise FileNotFoundError(f"{root}: no eval_*.json files of a {' or '.join(parts)} split "
                                "(write them with microaunet evaluate --out)")
    return rows


@dataclass
class Group:
    """Evaluations of one variant trained and tested alike, differing only in the seed."""

    label: str
    trained_on: str
    tested_on: str
    test_split: str
    epochs: int | None
    precision: str
    members: list[Evaluation]

    @property
    def split_definition(self) -> str:
        return self.members[0].split_definition

    @property
    def in_domain(self) -> bool:
        return self.members[0].in_domain

    @property
    def on_paper_split(self) -> bool:
        """Trained and tested on one dataset's paper split: the paper's own protocol."""
        return self.in_domain and self.split_definition == "paper"

    @property
    def seeds(self) -> str:
        """The seeds of the group's runs as the tables list them: '42,43,44'."""
        return ",".join(str(m.seed) for m in self.members)

    @property
    def name(self) -> str:
        """The label, with the training precision where it is not float32: 'UNet (bf16)'."""
        return self.label + ("" if self.precision == "fp32" else f" ({self.precision})")

    def stats(self, column: tuple) -> tuple[float, float, int]:
        _, family, aggregate, metric, _ = column
        values = [m.value(family, aggregate, metric) for m in self.members if family in m.result or family == "main"]
        if not values:
            return float("nan"), float("nan"), 0
        return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0, len(values)


def group(rows: list[Evaluation]) -> list[Group]:
    groups: dict[tuple, Group] = {}
    for r in rows:
        key = (r.label, r.trained_on, r.tested_on, r.test_split, r.epochs, r.precision)
        groups.setdefault(key, Group(*key, members=[])).members.append(r)
    return list(groups.values())
