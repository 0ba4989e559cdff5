"""Train/test split definitions and the validation split carved out of training data.

A split definition maps to ``{"train": [ids], "test": [ids]}``. Named definitions:

- ``paper``:    each dataset's standard split, shipped in the package: the paper's for Kvasir-SEG (800/200)
                and CVC-ClinicDB (489/123, a random frame split); for BKAI-NeoPolyp, whose own test
                images have no public masks, a seeded 800/200 split of its 1000 annotated images with
                near-duplicate images on the same side.
- ``sequence``: CVC-ClinicDB by video sequence, so that no sequence is on both sides
                (needs metadata.csv); about 20% of frames in test.
- ``random``:   a seeded 80/20 frame split of any folder.
- ``all``:      every pair in test (to test a model trained on another dataset).
- a path to a JSON file with ``train`` and ``test`` id lists.

The test split is never read by training: :func:`train_val_ids` returns train and validation only.
"""

from __future__ import annotations

import json
import random
from importlib import resources
from pathlib import Path

from .io import DataError
from .pairs import PairedDataset

PAPER_SPLITS = ("kvasir-seg_microaunet", "cvc-clinicdb_microaunet", "bkai-neopolyp")
NAMED = ("paper", "sequence", "random", "all")
TEST_FRACTION = 0.2


def packaged_split(name: str) -> dict[str, list[str]]:
    text = resources.files("microaunet.data").joinpath("splits", f"{name}.json").read_text()
    data = json.loads(text)
    return {"train": list(data["train"]), "test": list(data["test"])}


def _paper_split(dataset: PairedDataset) -> dict[str, list[str]]:
    ids = set(dataset.ids)
    for name in PAPER_SPLITS:
        split = packaged_split(name)
        if set(split["train"]) | set(split["test"]) <= ids:
            return split
    raise DataError(
        f"{dataset.root}: the 'paper' split needs Kvasir-SEG, CVC-ClinicDB or BKAI-NeoPolyp with all its files; "
        "this dataset lacks ids of each. Use --split random or a JSON split file."
    )


def _sequence_split(dataset: PairedDataset, seed: int) -> dict[str, list[str]]:
    if not dataset.has_sequences:
        raise DataError(f"{dataset.root}: the 'sequence' split needs metadata.csv with a sequence_id per frame")
    groups: dict[str, list[str]] = {}
    for s in dataset.samples:
        groups.setdefault(s.sequence, []).append(s.id)
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    test: list[str] = []
    for seq in order:
        if len(test) >= TEST_FRACTION * len(dataset.samples):
            break
        test += groups[seq]
    test_set = set(test)
    return {"train": [i for i in dataset.ids if i not in test_set], "test": sorted(test_set)}


def _random_split(ids: list[str], seed: int, fraction: float) -> tuple[list[str], list[str]]:
    shuffled = sorted(ids)
    random.Random(seed).shuffle(shuffled)
    n_held = max(1, round(fraction * len(shuffled))) if len(shuffled) > 1 else 0
    return sorted(shuffled[n_held:]), sorted(shuffled[:n_held])


def resolve_split(spec: str, dataset: PairedDataset, seed: int = 42) -> dict[str, list[str]]:
    """The split definition ``spec`` applied to ``dataset``."""
    if spec == "paper":
        return _paper_split(dataset)
    if spec == "sequence":
        return _sequence_split(dataset, seed)
    if spec == "random":
        train, test = _random_split(dataset.ids, seed, TEST_FRACTION)
        return {"train": train, "test": test}
    if spec == "all":
        return {"train": [], "test": list(dataset.ids)}
    path = Path(spec)
    if not path.is_file():
        raise DataError(f"{spec}: not a split name ({', '.join(NAMED)}) nor a JSON file")
    try:
        data = json.loads(path.read_text())
        split = {"train": list(data["train"]), "test": list(data["test"])}
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise DataError(f"{path}: a split file is JSON with 'train' and 'test' id lists ({e})") from None
    overlap = set(split["train"]) & set(split["test"])
    if overlap:
        raise DataError(f"{path}: {len(overlap)} id(s) are in both train and test, e.g. {sorted(overlap)[0]}")
    return split


def train_val_ids(
    split: dict[str, list[str]], dataset: PairedDataset, val_fraction: float = 0.1, seed: int = 42
) -> tuple[list[str], list[str]]:
    """Carve a seeded validation set out of the training ids (by sequence when sequences are known)."""
    train = split["train"]
    if not train:
        raise DataError(f"{dataset.root}: the split has no training ids")
    if val_fraction <= 0:
        return sorted(train), []
    seq_of = {s.id: s.sequence for s in dataset.samples}
    sequences = sorted({seq_of[i] for i in train if seq_of.get(i) is not None})
    if dataset.has_sequences and len(sequences) >= 5:
        _, val_seqs = _random_split(sequences, seed, val_fraction)
        held = set(val_seqs)
        return sorted(i for i in train if seq_of[i] not in held), sorted(i for i in train if seq_of[i] in held)
    return _random_split(train, seed, val_fraction)
