"""The robustness benchmark: fixed, seeded perturbations through the evaluation's image hook, Dice and drops."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from microaunet.cli import main
from microaunet.data import find_pairs
from microaunet.data.synthetic import synthetic_pair
from microaunet.deploy.pretrained import load_pretrained
from microaunet.evaluation.evaluate import evaluate_samples
from microaunet.evaluation.robustness import PERTURBATIONS, _rng, bench_robustness, format_robustness, side_by_side

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """A 64-pixel model pass is a few milliseconds on one thread, and many times that on two busy cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_every_perturbation_changes_the_image_deterministically() -> None:
    image = synthetic_pair(np.random.default_rng(0), 64)[0]
    for p in PERTURBATIONS:
        out = p.apply(image, _rng(0, p.name, "a"))
        assert out.dtype == np.uint8 and out.shape == image.shape, p.name
        assert not np.array_equal(out, image), p.name
        assert np.array_equal(out, p.apply(image, _rng(0, p.name, "a"))), p.name


def test_the_transform_hook_changes_images_not_masks(synthetic_dir: Path) -> None:
    model = load_pretrained("microaunet-kvasir")
    samples = find_pairs(synthetic_dir).samples[:3]
    seen: list[str] = []
    dark = evaluate_samples(model, samples, 64, transform=lambda im, i: seen.append(i) or np.zeros_like(im))
    clean = evaluate_samples(model, samples, 64)
    assert seen == [s.id for s in samples]
    assert dark["at_original"]["pooled"]["sensitivity"] < clean["at_original"]["pooled"]["sensitivity"]
    assert dark["at_original"]["pooled"]["dice"] != clean["at_original"]["pooled"]["dice"]


def test_bench_reports_each_perturbation_and_its_drop(synthetic_dir: Path, capsys: pytest.CaptureFixture) -> None:
    model = load_pretrained("microaunet-kvasir")
    lines: list[str] = []
    result = bench_robustness(model, synthetic_dir, "all", size=64, names=["darker", "noise"],
                              log=lines.append)
    assert [r["name"] for r in result["rows"]] == ["clean", "darker", "noise"] and result["images"] == 24
    clean = result["rows"][0]
    assert clean["drop_per_image"] == 0 and clean["drop_pooled"] == 0
    for row in result["rows"][1:]:
        assert row["drop_pooled"] == pytest.approx(clean["pooled_dice"] - row["pooled_dice"])
    assert result["worst"]["drop_pooled"] in ("darker", "noise") and len(lines) == 3
    assert "robustness noise: 24/24 images" in capsys.readouterr().err  # progress lines without a terminal
    again = bench_robustness(model, synthetic_dir, "all", size=64, names=["darker", "noise"])
    assert again["rows"] == result["rows"]  # the same perturbed images every run
    table = format_robustness(result)
    assert "| noise | Gaussian noise, sigma 10 gray levels |" in table and "worst perturbation:" in table
    with pytest.raises(ValueError, match="unknown perturbation.*fog"):
        bench_robustness(model, synthetic_dir, "all", size=64, names=["fog"])


def test_bench_robustness_command(synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "r" / "robustness.json"
    assert main(["bench", "robustness", "--weights", "microaunet-kvasir", "--data", str(synthetic_dir),
                 "--split", "all", "--size", "64", "--perturbations", "jpeg_20", "--threads", "1",
                 "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert printed["model"] == "microaunet" and printed["weights"] == "microaunet-kvasir" and printed["threads"] == 1
    assert [r["name"] for r in printed["rows"]] == ["clean", "jpeg_20"]
    assert main(["bench", "robustness", "--data", str(tmp_path / "missing"), "--split", "all"]) == 2
    assert "missing: not a folder" in capsys.readouterr().err


def test_readme_shows_the_shipped_models_robustness_as_measured() -> None:
    """README's and results/robustness/README.md's table is side_by_side of the committed results."""
    results = [json.loads((ROOT / "results" / "robustness" / f"{name}.json").read_text())
               for name in ("microaunet-kvasir", "malunet-kvasir")]
    table = side_by_side(results)
    assert table in (ROOT / "README.md").read_text(), "README.md's robustness table differs; copy it:\n" + table
    assert table in (ROOT / "results" / "robustness" / "README.md").read_text()
    assert [r["name"] for r in results[0]["rows"][1:]] == [p.name for p in PERTURBATIONS]
    with pytest.raises(ValueError, match="same perturbations"):
        side_by_side([results[0], results[1] | {"rows": results[1]["rows"][:3]}])
