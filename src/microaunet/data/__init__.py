"""Datasets as users download them: discovery, splits, decoding cache, augmentation, checks."""

from __future__ import annotations

from .cache import SampleArrays, load_samples
from .io import DataError, read_image, read_mask
from .pairs import PairedDataset, Sample, find_pairs
from .splits import resolve_split, train_val_ids
from .training import SourceRecord, TrainingData, TrainingSource, load_training_data, load_training_sets, read_sources

__all__ = [
    "DataError", "PairedDataset", "Sample", "SampleArrays", "SourceRecord", "TrainingData", "TrainingSource",
    "find_pairs", "load_samples", "load_training_data", "load_training_sets", "read_image", "read_mask",
    "read_sources", "resolve_split", "train_val_ids",
]
