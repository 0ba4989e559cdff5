"""Datasets as users download them: discovery, splits, decoding cache, augmentation, checks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .cache import SampleArrays, load_samples
from .io import DataError, read_image, read_mask
from .pairs import PairedDataset, Sample, find_pairs
from .splits import resolve_split, train_val_ids


@dataclass
class TrainingData:
    train: SampleArrays
    val: SampleArrays | None


def load_training_data(
    data_dir: str | Path,
    split: str = "paper",
    size: int = 256,
    val_fraction: float = 0.1,
    split_seed: int = 42,
    cache_dir: str | Path | None = None,
    skip_bad: bool = False,
) -> TrainingData:
    """Train and validation samples of ``split``; the test ids are never decoded here."""
    dataset = find_pairs(data_dir, skip_bad=skip_bad)
    definition = resolve_split(split, dataset, seed=split_seed)
    train_ids, val_ids = train_val_ids(definition, dataset, val_fraction, seed=split_seed)
    cache = Path(cache_dir) if cache_dir else None
    train = load_samples(dataset.subset(train_ids), size, cache, skip_bad)
    val = load_samples(dataset.subset(val_ids), size, cache, skip_bad) if val_ids else None
    return TrainingData(train, val)


__all__ = [
    "DataError", "PairedDataset", "Sample", "SampleArrays", "TrainingData", "find_pairs",
    "load_samples", "load_training_data", "read_image", "read_mask", "resolve_split", "train_val_ids",
]
