"""Training data from one dataset or a mix of several: the train and validation arrays, where each sample
comes from, and the sampling weights that draw every dataset in its stated proportion.

The test split of every dataset is never decoded here: each dataset's split definition is applied on its own
and only its training ids (minus the validation ids carved out of them) and validation ids are read.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .cache import SampleArrays, load_samples
from .io import DataError
from .pairs import find_pairs
from .splits import NAMED, resolve_split, train_val_ids

SOURCE_KEYS = ("data", "split", "weight")
ITEM_EXAMPLE = '{"data": DIR, "split": "paper", "weight": 1.0}'


def _positive(weight: object) -> bool:
    return not isinstance(weight, bool) and isinstance(weight, int | float) and math.isfinite(weight) and weight > 0


@dataclass(frozen=True)
class TrainingSource:
    """One dataset of a training mix: its folder, its split definition (as ``--split`` takes it) and its
    share of the draws (weights are relative: 2 and 1 draw the first dataset twice as often as the second,
    whatever their sizes)."""

    data: str | Path
    split: str = "paper"
    weight: float = 1.0


@dataclass
class SourceRecord:
    """What a run trained on from one dataset: enough to rebuild its exact image lists."""

    data: str
    split: str
    weight: float
    train_ids: list[str]
    val_ids: list[str]


@dataclass
class TrainingData:
    train: SampleArrays
    val: SampleArrays | None
    sources: list[SourceRecord] = field(default_factory=list)
    train_source: np.ndarray | None = None  # (N_train,) int64: each training sample's index in ``sources``
    val_source: np.ndarray | None = None  # (N_val,) int64, likewise
    train_weights: np.ndarray | None = None  # (N_train,) float64 sampling probabilities, summing to 1

    def manifest(self) -> list[dict[str, Any]]:
        """JSON-ready record of every dataset: folder, split, weight and the ids of its train and val samples."""
        return [asdict(r) for r in self.sources]


def _concat(parts: list[SampleArrays]) -> SampleArrays:
    if len(parts) == 1:
        return parts[0]
    return SampleArrays([i for p in parts for i in p.ids], np.concatenate([p.images for p in parts]),
                        np.concatenate([p.masks for p in parts]))


def load_training_sets(
    sources: list[TrainingSource],
    size: int = 256,
    val_fraction: float = 0.1,
    split_seed: int = 42,
    cache_dir: str | Path | None = None,
    skip_bad: bool = False,
) -> TrainingData:
    """Train and validation samples of several datasets, each under its own split definition.

    Each dataset's training ids are split into train and validation as :func:`load_training_data` does for
    one (``val_fraction`` and ``split_seed`` for all). ``train`` and ``val`` are the concatenations in the
    order of ``sources`` (ids may repeat across datasets: ``train_source``/``val_source`` say which dataset each
    sample is from, ``sources`` records every dataset's folder, split, weight and exact ids; ``manifest()``
    gives that record for a run's config). ``train_weights`` gives sample ``i`` of dataset ``d`` the
    probability ``weight_d / sum(weights) / n_d``, so that drawing with it (e.g. ``torch.multinomial(weights,
    n, replacement=True)``) picks each dataset in its stated proportion and its samples uniformly.
    Validation is not reweighted. With one source the arrays are those of that dataset, unchanged.
    """
    if not sources:
        raise ValueError("no datasets given to train on")
    seen: set[Path] = set()
    for source in sources:
        if not _positive(source.weight):
            raise ValueError(f"{source.data}: the sampling weight must be a positive number, not {source.weight!r}")
        key = Path(source.data).resolve()
        if key in seen:
            raise ValueError(f"{source.data}: listed twice; give each dataset once, with the weight it should have")
        seen.add(key)
    cache = Path(cache_dir) if cache_dir else None
    trains, vals, records = [], [], []
    for source in sources:
        dataset = find_pairs(source.data, skip_bad=skip_bad)
        definition = resolve_split(source.split, dataset, seed=split_seed)
        train_ids, val_ids = train_val_ids(definition, dataset, val_fraction, seed=split_seed)
        train = load_samples(dataset.subset(train_ids), size, cache, skip_bad)
        val = load_samples(dataset.subset(val_ids), size, cache, skip_bad) if val_ids else None
        if not train.ids:
            raise DataError(f"{source.data}: no usable training pairs in split '{source.split}'")
        trains.append(train)
        vals.append(val)
        records.append(SourceRecord(str(source.data), source.split, float(source.weight), list(train.ids),
                                    list(val.ids) if val else []))
    total = sum(r.weight for r in records)
    weights = np.concatenate([np.full(len(t.ids), r.weight / total / len(t.ids)) for t, r in zip(trains, records)])
    kept_vals = [(d, v) for d, v in enumerate(vals) if v is not None and v.ids]
    return TrainingData(
        train=_concat(trains),
        val=_concat([v for _, v in kept_vals]) if kept_vals else None,
        sources=records,
        train_source=np.concatenate([np.full(len(t.ids), d, np.int64) for d, t in enumerate(trains)]),
        val_source=np.concatenate([np.full(len(v.ids), d, np.int64) for d, v in kept_vals]) if kept_vals else None,
        train_weights=weights,
    )


def load_training_data(data_dir: str | Path, split: str = "paper", size: int = 256, val_fraction: float = 0.1,
                       split_seed: int = 42, cache_dir: str | Path | None = None,
                       skip_bad: bool = False) -> TrainingData:
    """Train and validation samples of ``split`` (:func:`load_training_sets` of this one dataset); the test ids
    are never decoded here."""
    return load_training_sets([TrainingSource(data_dir, split)], size, val_fraction, split_seed, cache_dir, skip_bad)


def _parse(path: Path) -> Any:
    text = path.read_text()
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: not valid JSON ({e})") from None
    if suffix not in (".yaml", ".yml"):
        raise DataError(f"{path}: a list of datasets is a .json, .yaml or .yml file")
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise DataError(f"{path}: not valid YAML ({' '.join(str(e).split())})") from None


def read_sources(path: str | Path) -> list[TrainingSource]:
    """The datasets of a training mix, from a JSON or YAML list such as
    ``[{"data": "Kvasir-SEG", "split": "paper", "weight": 1.0}, {"data": "BKAI-NeoPolyp", "weight": 0.5}]``.

    ``split`` defaults to ``paper`` and ``weight`` to 1. Relative paths (``data``, and a ``split`` naming a JSON
    file) are taken from the list file's folder, so that a list kept beside the datasets works from anywhere.
    Any problem is a :class:`DataError` naming the file, the item and what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    items = _parse(path)
    if not isinstance(items, list) or not items:
        raise DataError(f"{path}: expected a non-empty list of datasets, [{ITEM_EXAMPLE}, ...]; "
                        f"got {type(items).__name__}")
    sources = []
    for n, item in enumerate(items, 1):
        where = f"{path}: item {n}"
        if not isinstance(item, dict):
            raise DataError(f"{where} is a {type(item).__name__}, expected a mapping such as {ITEM_EXAMPLE}")
        unknown = sorted(str(k) for k in item if k not in SOURCE_KEYS)
        if unknown:
            raise DataError(f"{where} has unknown key(s) {', '.join(unknown)}; expected {', '.join(SOURCE_KEYS)}")
        data, split, weight = item.get("data"), item.get("split", "paper"), item.get("weight", 1.0)
        if not isinstance(data, str) or not data:
            raise DataError(f"{where} needs 'data': a dataset folder")
        if not isinstance(split, str) or not split:
            raise DataError(f"{where}: 'split' must be a split name ({', '.join(NAMED)}) or a JSON file")
        if not _positive(weight):
            raise DataError(f"{where}: 'weight' must be a positive number, not {weight!r}")
        folder = path.parent / data
        if not folder.is_dir():
            raise DataError(f"{where}: {folder}: not a folder")
        if split not in NAMED:
            split = str(path.parent / split)
        sources.append(TrainingSource(str(folder), split, float(weight)))
    return sources
