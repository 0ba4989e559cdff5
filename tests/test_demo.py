"""The demo: what a new user sees first must be a trained model's score, with the range to expect."""

from __future__ import annotations

from pathlib import Path

import pytest

from microaunet import cli
from microaunet.demo import EXPECTED_DICE, run_demo
from microaunet.evaluation.evaluate import evaluate_samples


def test_a_short_demo_evaluates_weights_that_have_learnt(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The evaluated EMA weights score as the raw trained weights do: before the EMA warm-up, after a few hundred
    steps they were still mostly the initialisation (per-image Dice 0.24 against the raw weights' 0.68)."""
    result = run_demo(tmp_path, count=40, size=64, epochs=6, threads=1)
    assert capsys.readouterr().out == ""  # training's lines go to stderr: stdout is the result (demo --json)
    from microaunet.data import find_pairs, resolve_split
    from microaunet.training import TrainConfig, Trainer

    trainer = Trainer(TrainConfig.load(tmp_path / "run" / "config.json"))
    trainer.fit(resume=True)  # finished: loads the last checkpoint, trains nothing
    dataset = find_pairs(tmp_path / "data")
    test = dataset.subset(resolve_split("random", dataset)["test"])
    raw = evaluate_samples(trainer.model.eval(), test, size=64)["at_64"]["per_image"]["dice"]
    assert result["per_image"]["dice"] == pytest.approx(raw, abs=0.1)
    assert result["expected_per_image_dice"] is None  # not the default demo: no range to promise
    assert result["untrained_per_image_dice"] < result["per_image"]["dice"]


@pytest.mark.parametrize(("dice", "says"), [((EXPECTED_DICE[0] + EXPECTED_DICE[1]) / 2, "the model has learnt"),
                                             (0.2, "far below that, something is wrong")])
def test_the_demo_prints_what_to_expect(dice: float, says: str, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture) -> None:
    def fake_demo(*args, **kwargs) -> dict:
        scores = {"dice": dice, "iou": dice, "boundary_f": dice}
        return {"run": "r", "picture": "p.png", "test_images": 19, "per_image": scores, "pooled": scores,
                "expected_per_image_dice": EXPECTED_DICE, "untrained_per_image_dice": 0.1}

    monkeypatch.setattr("microaunet.demo.run_demo", fake_demo)
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    assert f"expected for this demo: per-image Dice {EXPECTED_DICE[0]:.2f}-{EXPECTED_DICE[1]:.2f}" in out
    assert says in out and "untrained, the same network scores per-image Dice 0.100" in out
