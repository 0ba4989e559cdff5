"""The weights shipped in the package load, are what they say, and run through the default Segmenter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import real_dataset

from microaunet import count_parameters, list_pretrained, load_pretrained
from microaunet.data import find_pairs
from microaunet.data.splits import resolve_split
from microaunet.evaluation.evaluate import evaluate_samples

RESULTS = Path(__file__).resolve().parents[1] / "results"
SHIPPED_RUNS = {  # each shipped model: the collected run it comes from, and that run's dataset
    "malunet-kvasir": ("kvasir-seg/malunet-e300", ("Kvasir-SEG",)),
    "microaunet-kvasir": ("kvasir-seg/microaunet-distill-e300", ("Kvasir-SEG",)),
    "malunet-cvc": ("cvc-clinicdb/malunet-e300", ("CVC-ClinicDB", "PNG")),
    "microaunet-cvc": ("cvc-clinicdb/microaunet-distill-e300", ("CVC-ClinicDB", "PNG")),
}


@pytest.mark.parametrize("dataset", ["kvasir", "cvc"])
def test_shipped_weights(dataset: str) -> None:
    assert set(SHIPPED_RUNS) == set(list_pretrained())
    student = load_pretrained(f"microaunet-{dataset}")
    assert student.pretrained_info["model"] == "microaunet" and count_parameters(student) == 24_881
    assert student.pretrained_info["config"]["extra"]["teacher_model"] == "malunet"  # as the 0.1 run wrote it
    teacher = load_pretrained(f"malunet-{dataset}")
    assert count_parameters(teacher) == 177_943


@pytest.mark.parametrize("name", sorted(SHIPPED_RUNS))
def test_shipped_weights_are_the_evaluated_run(name: str) -> None:
    """The shipped model scores on the first test images what its run's committed evaluation recorded."""
    run, data_parts = SHIPPED_RUNS[name]
    dataset = find_pairs(real_dataset(*data_parts))
    recorded = json.loads((RESULTS / run / "eval_test.json").read_text())
    ids = resolve_split("paper", dataset)["test"][:8]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the recorded evaluation ran: another count sums in another order
    try:
        result = evaluate_samples(load_pretrained(name), dataset.subset(ids), size=recorded["size"])
    finally:
        torch.set_num_threads(threads)
    expected = {row["id"]: row["dice"] for row in recorded["per_image_rows"]}
    assert [row["id"] for row in result["per_image_rows"]] == ids
    # equal here; another CPU's kernels may flip a few pixels at the threshold (up to 0.001 Dice at 2 threads)
    assert [row["dice"] for row in result["per_image_rows"]] == pytest.approx([expected[i] for i in ids], abs=5e-3)


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="microaunet-kvasir"):
        load_pretrained("nope")


def test_cli_names_every_shipped_model_and_refuses_others(capsys: pytest.CaptureFixture,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from microaunet.cli import main

    monkeypatch.setenv("COLUMNS", "200")  # argparse wraps help text at hyphens too
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert all(name in help_text for name in SHIPPED_RUNS)
    with pytest.raises(SystemExit) as refused:
        main(["predict", "--pretrained", "nope", "image.png"])
    assert refused.value.code == 2 and "invalid choice: 'nope'" in capsys.readouterr().err


def test_default_segmenter_runs_the_shipped_student() -> None:
    pytest.importorskip("onnxruntime")
    from microaunet.deploy.segmenter import Segmenter

    image = np.random.default_rng(0).integers(0, 255, (300, 200, 3), dtype=np.uint8)
    assert Segmenter().predict(image).mask.shape == (300, 200)


def test_shipped_student_onnx_parity() -> None:
    pytest.importorskip("onnxruntime")
    from microaunet.data.synthetic import synthetic_pair
    from microaunet.deploy.segmenter import Segmenter

    image, _ = synthetic_pair(np.random.default_rng(0), 256)
    a = Segmenter().predict(image)
    b = Segmenter(backend="torch").predict(image)
    assert a.mask.shape == (256, 256) and np.abs(a.probability - b.probability).max() <= 1e-4


@pytest.mark.parametrize("name", sorted(SHIPPED_RUNS))
def test_model_card_says_what_the_weights_are(name: str) -> None:
    from microaunet import model_card

    card = model_card(name)
    run, data_parts = SHIPPED_RUNS[name]
    config = json.loads((RESULTS / run / "config.json").read_text())
    assert card["name"] == name and card["model"] == name.split("-")[0]
    assert card["parameters"] == (24_881 if card["model"] == "microaunet" else 177_943)
    assert (card["epochs"], card["seed"], card["trained_on"]) == (300, config["seed"], data_parts[0])


@pytest.mark.parametrize("name", sorted(SHIPPED_RUNS))
def test_every_shipped_model_has_a_card_written_from_its_records(name: str) -> None:
    """The card in the package is what scripts/model_cards.py writes from results/ now (regenerate it when the
    records change), and its in-domain figures are the run's own evaluation."""
    import importlib.util

    from microaunet.deploy.pretrained import format_card, model_card

    spec = importlib.util.spec_from_file_location("model_cards", RESULTS.parent / "scripts" / "model_cards.py")
    cards = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cards)
    card = model_card(name)
    assert card == json.loads(json.dumps(cards.card(name, cards.SHIPPED[name])))
    run, _ = SHIPPED_RUNS[name]
    recorded = json.loads((RESULTS / run / "eval_test.json").read_text())
    own = card["tested_on"][0]
    assert own["dice_pooled"] == round(recorded["at_256"]["pooled"]["dice"], 4) and own["images"] == recorded["images"]
    text = format_card(card)
    assert text.startswith(f"{name}: ") and "limit: " in text


def test_models_and_info_commands(capsys: pytest.CaptureFixture) -> None:
    from microaunet.cli import main

    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(SHIPPED_RUNS) and any("(default)" in line for line in lines)
    assert main(["info", "microaunet-kvasir", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["parameters"] == 24_881
