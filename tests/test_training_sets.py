"""Training on several datasets at once: the concatenated arrays, their provenance, the sampling weights,
the list-of-datasets file, and that no dataset's test split is ever read."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from microaunet.data import DataError, TrainingSource, find_pairs, load_training_data, load_training_sets, read_sources
from microaunet.data import io as data_io
from microaunet.data.cache import load_samples
from microaunet.data.splits import resolve_split, train_val_ids
from microaunet.data.synthetic import write_synthetic_dataset


@pytest.fixture(scope="module")
def two_datasets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Dataset A: 24 pairs; dataset B: 12 pairs, each with a split file (two thirds train) beside it."""
    roots = []
    for name, count, seed in (("A", 24, 1), ("B", 12, 2)):
        root = write_synthetic_dataset(tmp_path_factory.mktemp(name), count=count, size=32, seed=seed)
        ids = [f"synth_{i:04d}" for i in range(count)]
        (root / "split.json").write_text(json.dumps({"train": ids[: 2 * count // 3], "test": ids[2 * count // 3:]}))
        roots.append(root)
    return roots[0], roots[1]


def test_one_dataset_loads_as_before(synthetic_dir: Path) -> None:
    """load_training_data: the same ids, order and arrays as the single-dataset steps it always ran."""
    dataset = find_pairs(synthetic_dir)
    train_ids, val_ids = train_val_ids(resolve_split("random", dataset), dataset, 0.25)
    before_train = load_samples(dataset.subset(train_ids), 32)
    before_val = load_samples(dataset.subset(val_ids), 32)
    data = load_training_data(synthetic_dir, "random", size=32, val_fraction=0.25)
    for now, before in ((data.train, before_train), (data.val, before_val)):
        assert now.ids == before.ids
        assert np.array_equal(now.images, before.images) and np.array_equal(now.masks, before.masks)
    assert np.allclose(data.train_weights, 1 / len(train_ids)) and not data.train_source.any()


def test_several_datasets_concatenate_with_their_provenance(two_datasets: tuple[Path, Path]) -> None:
    a, b = two_datasets
    data = load_training_sets([TrainingSource(a, str(a / "split.json"), 3.0),
                               TrainingSource(b, str(b / "split.json"), 1.0)], size=32, val_fraction=0.25)
    ra, rb = data.sources
    assert (len(ra.train_ids), len(ra.val_ids), len(rb.train_ids), len(rb.val_ids)) == (12, 4, 6, 2)
    assert data.train.ids == ra.train_ids + rb.train_ids and data.val.ids == ra.val_ids + rb.val_ids
    assert data.train.images.shape == (18, 32, 32, 3) and data.val.masks.shape == (6, 32, 32)
    assert data.train_source.tolist() == [0] * 12 + [1] * 6 and data.val_source.tolist() == [0] * 4 + [1] * 2
    alone = load_training_sets([TrainingSource(b, str(b / "split.json"))], size=32, val_fraction=0.25)
    assert np.array_equal(data.train.images[12:], alone.train.images)  # B's samples, as B alone loads them
    manifest = json.loads(json.dumps(data.manifest()))
    assert manifest[1] == {"data": str(b), "split": str(b / "split.json"), "weight": 1.0,
                           "train_ids": rb.train_ids, "val_ids": rb.val_ids}
    # each dataset is drawn in its stated proportion (3:1), whatever its size (12 and 6 samples)
    assert data.train_weights.sum() == pytest.approx(1.0)
    assert data.train_weights[data.train_source == 0].sum() == pytest.approx(0.75)
    draws = torch.multinomial(torch.from_numpy(data.train_weights), 40_000, replacement=True,
                              generator=torch.Generator().manual_seed(0))
    assert (data.train_source[draws.numpy()] == 0).mean() == pytest.approx(0.75, abs=0.01)


def test_no_dataset_test_split_is_read(two_datasets: tuple[Path, Path], tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[Path] = []
    real_open = data_io._open
    monkeypatch.setattr(data_io, "_open", lambda path: opened.append(Path(path)) or real_open(path))
    a, b = two_datasets
    load_training_sets([TrainingSource(a, str(a / "split.json")), TrainingSource(b, str(b / "split.json"), 2.0)],
                       size=32, val_fraction=0.25, cache_dir=tmp_path / "fresh")
    allowed = {(root, stem) for root in (a, b) for stem in json.loads((root / "split.json").read_text())["train"]}
    assert opened and {(p.parents[1], p.stem) for p in opened} <= allowed


def test_bad_mixes_are_refused(two_datasets: tuple[Path, Path]) -> None:
    a, _ = two_datasets
    with pytest.raises(ValueError, match="positive number"):
        load_training_sets([TrainingSource(a, "random", 0.0)], size=32)
    with pytest.raises(ValueError, match="listed twice"):
        load_training_sets([TrainingSource(a, "random"), TrainingSource(str(a) + "/", "all")], size=32)
    with pytest.raises(ValueError, match="no datasets"):
        load_training_sets([], size=32)


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_list_of_datasets(two_datasets: tuple[Path, Path], tmp_path: Path, suffix: str) -> None:
    a, b = two_datasets
    items = [{"data": str(a), "split": "random", "weight": 2}, {"data": b.name, "split": "split.json"}]
    listing = b.parent / f"mix{suffix}"  # b is given relative to the list's folder, as is its split file
    if suffix == ".json":
        listing.write_text(json.dumps(items))
    else:
        listing.write_text("".join(f"- data: {i['data']}\n  split: {i['split']}\n"
                                   + (f"  weight: {i['weight']}\n" if "weight" in i else "") for i in items))
    assert read_sources(listing) == [TrainingSource(str(a), "random", 2.0),
                                     TrainingSource(str(b), str(b.parent / "split.json"), 1.0)]


@pytest.mark.parametrize("content,problem", [
    ("{not json", "not valid JSON"),
    ('{"data": "A"}', "expected a non-empty list of datasets"),
    ("[]", "expected a non-empty list"),
    ('["A"]', "item 1 is a str, expected a mapping"),
    ('[{"data": "A", "wieght": 1}]', "item 1 has unknown key\\(s\\) wieght"),
    ('[{"split": "paper"}]', "item 1 needs 'data'"),
    ('[{"data": "A", "weight": -1}]', "item 1: 'weight' must be a positive number, not -1"),
    ('[{"data": "A", "weight": true}]', "'weight' must be a positive number"),
    ('[{"data": "A", "split": 3}]', "'split' must be a split name"),
    ('[{"data": "A"}, {"data": "missing"}]', "item 2: .*missing: not a folder"),
])
def test_list_errors_name_the_file_and_the_problem(tmp_path: Path, content: str, problem: str) -> None:
    (tmp_path / "A").mkdir()
    listing = tmp_path / "mix.json"
    listing.write_text(content)
    with pytest.raises(DataError, match=f"^{re.escape(str(listing))}: .*{problem}"):
        read_sources(listing)


def test_list_file_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="mix.json: file not found"):
        read_sources(tmp_path / "mix.json")
    (tmp_path / "mix.txt").write_text("[]")
    with pytest.raises(DataError, match="mix.txt: a list of datasets is a .json, .yaml or .yml file"):
        read_sources(tmp_path / "mix.txt")
    (tmp_path / "mix.yaml").write_text("- data: [unclosed\n")
    with pytest.raises(DataError, match="mix.yaml: not valid YAML"):
        read_sources(tmp_path / "mix.yaml")


def test_evaluate_and_bench_score_a_multi_dataset_runs_own_validation_sets(
        two_datasets: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`evaluate --split val` and `bench robustness --split val` of a run on several datasets, each with its own split
    definition, read exactly the validation ids the trainer carved out of that dataset's training ids; a dataset
    the run did not train on has no validation set of it."""
    from microaunet.cli import main

    a, b = two_datasets
    run = tmp_path / "run"
    assert main(["train", "--data", str(a), "--data", str(b), "--split", str(a / "split.json"), "--split", "random",
                 "--val-fraction", "0.25", "--size", "32", "--epochs", "1", "--batch-size", "4", "--threads", "1",
                 "--layout", "nchw", "--out", str(run)]) == 0
    manifest = {Path(r["data"]): r for r in json.loads((run / "training_images.json").read_text())}
    a_train = set(json.loads((a / "split.json").read_text())["train"])
    assert set(manifest[a]["val_ids"]) <= a_train and not set(manifest[a]["val_ids"]) & set(manifest[a]["train_ids"])
    assert main(["evaluate", "--ckpt", str(run / "final.safetensors"), "--data", str(a), "--split", "val",
                 "--size", "32", "--threads", "1", "--out", str(tmp_path / "val_a.json")]) == 0
    scored = json.loads((tmp_path / "val_a.json").read_text())
    assert [r["id"] for r in scored["per_image_rows"]] == manifest[a]["val_ids"]
    assert scored["split_definition"] == str(a / "split.json")

    capsys.readouterr()
    opened: list[Path] = []
    real_open = data_io._open
    monkeypatch.setattr(data_io, "_open", lambda path: opened.append(Path(path)) or real_open(path))
    assert main(["bench", "robustness", "--ckpt", str(run / "last.pt"), "--data", str(b), "--split", "val",
                 "--size", "32", "--threads", "1", "--perturbations", "darker", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == len(manifest[b]["val_ids"])
    assert {p.stem for p in opened} == set(manifest[b]["val_ids"])  # B's carve under "random", nothing else

    other = write_synthetic_dataset(tmp_path / "C", count=6, size=32, seed=3)
    assert main(["evaluate", "--ckpt", str(run / "final.safetensors"), "--data", str(other), "--split", "val",
                 "--size", "32", "--threads", "1"]) == 2
    assert "is not one of the datasets this run trained on" in capsys.readouterr().err
    assert main(["evaluate", "--ckpt", str(run / "final.safetensors"), "--data", str(other), "--split", "all",
                 "--size", "32", "--threads", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 6
