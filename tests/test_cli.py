from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from microaunet.cli import COMMANDS, main
from microaunet.data import find_pairs, read_mask
from microaunet.evaluation.predictions import load_predictions


@pytest.mark.parametrize("argv", [[], *[[name] for name in COMMANDS], ["data", "check"], ["data", "download"]])
def test_help_everywhere(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0 and "usage: microaunet" in capsys.readouterr().out


def test_every_option_has_help_and_shows_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from microaunet.cli import all_parsers, build_parser

    monkeypatch.setenv("COLUMNS", "1000")  # no wrapping: argparse breaks lines at hyphens too
    parsers = all_parsers(build_parser())
    assert len(parsers) > len(COMMANDS)  # the subcommands' own subcommands (data check, bench speed, ...) too
    for parser in parsers:
        text = " ".join(parser.format_help().split())
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            name = "/".join(action.option_strings) or action.dest
            assert action.help, f"{parser.prog} {name} has no help text"
            if action.option_strings and action.default is not None and action.default is not False:
                assert f"(default: {action.default})" in text, f"{parser.prog} {name}: its default is not shown"


def test_console_script_is_installed() -> None:
    out = subprocess.run([sys.executable, "-m", "microaunet.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "evaluate" in out.stdout


def test_bad_inputs_give_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'missing'}: not a folder"
    assert main(["evaluate", "--ckpt", str(tmp_path / "none.pt"), "--data", str(tmp_path)]) == 2
    assert "none.pt: no such checkpoint" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    assert main(["evaluate", "--ckpt", str(tmp_path / "junk.pt"), "--data", str(tmp_path)]) == 2
    assert "junk.pt: not a readable checkpoint" in capsys.readouterr().err


def test_complexity_json(capsys: pytest.CaptureFixture) -> None:
    assert main(["complexity", "--models", "microaunet", "malunet", "--json"]) == 0
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["microaunet"]["params"] == 24_881 and rows["malunet"]["params"] == 177_943
    assert rows["microaunet"]["gmacs_vs_paper"].startswith("-")  # the paper's 0.148 is flagged
    assert rows["malunet"]["gmacs_vs_paper"] == "ok"


def test_train_then_evaluate_end_to_end(synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    assert main(["train", "--data", str(synthetic_dir), "--split", "random", "--size", "64", "--epochs", "1",
                 "--batch-size", "4", "--threads", "1", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--ckpt", str(run / "last.pt"), "--data", str(synthetic_dir), "--size", "64",
                 "--toolbox", "--json", "--out", str(tmp_path / "eval.json"),
                 "--save-predictions", str(tmp_path / "predictions.npz")]) == 0
    result = json.loads(capsys.readouterr().out)
    kept = load_predictions(tmp_path / "predictions.npz")
    pairs = find_pairs(synthetic_dir)
    masks = {s.id: read_mask(s.mask) for s in pairs.subset(list(kept))}
    assert len(kept) == 5 and all(kept[i].shape == masks[i].shape for i in kept)
    overlap = sum(int((kept[i] & masks[i]).sum()) for i in kept)  # the pooled Dice at original size, again
    assert 2 * overlap / sum(int(kept[i].sum() + masks[i].sum()) for i in kept) == pytest.approx(
        result["at_original"]["pooled"]["dice"], abs=1e-12)
    assert result["split_definition"] == "random" and result["images"] == 5  # read from the checkpoint
    for family in ("at_64", "at_original"):
        assert {"per_image", "pooled"} <= result[family].keys()
        assert 0 <= result[family]["per_image"]["dice"] <= 1
    assert len(json.loads((tmp_path / "eval.json").read_text())["per_image_rows"]) == 5
    assert 0 <= result["toolbox"]["mean_dice"] <= 1 and 0 <= result["toolbox"]["mae"] <= 1
    results = tmp_path / "results" / "run1"
    results.mkdir(parents=True)
    (tmp_path / "eval.json").rename(results / "eval_test.json")
    (run / "config.json").rename(results / "config.json")
    assert main(["report", str(tmp_path / "results"), "--out", str(tmp_path / "report")]) == 0
    table = capsys.readouterr().out
    dice = format(result["at_64"]["pooled"]["dice"], ".3f")
    name = synthetic_dir.name
    assert f"| MicroAUNet, supervised only | {name} | {name} random:test | 1 | 42 | {dice} |" in table
    assert "| MALUNet | 177,943 | 0.0827 |" in table  # Table 2
    for output in ("tables.md", "table1.csv", "table2.csv", "fig3_radar.png", "fig4_scatter.png", f"fig5_{name}.png"):
        assert (tmp_path / "report" / output).stat().st_size > 0, output
    assert main(["report", str(tmp_path / "nothing")]) == 2


def test_evaluate_shipped_weights_by_name(synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """--weights NAME (or --pretrained NAME) wherever --ckpt PATH works; evaluate needs one of the two."""
    common = ["--data", str(synthetic_dir), "--split", "all", "--size", "64", "--json"]
    assert main(["evaluate", "--weights", "microaunet-kvasir", *common, "--tta", "flip"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert (result["weights"], result["model"], result["epochs"], result["tta"]) == (
        "microaunet-kvasir", "microaunet", 300, "flip")
    assert result["ckpt"].endswith("microaunet-kvasir.safetensors") and result["images"] == 24
    assert "evaluate: 24/24 images" in err  # progress, off a terminal, on stderr
    assert main(["evaluate", "--pretrained", "microaunet-kvasir", *common]) == 0
    assert json.loads(capsys.readouterr().out)["tta"] == "none"
    with pytest.raises(SystemExit) as refused:
        main(["evaluate", *common])
    assert refused.value.code == 2 and "one of the arguments --ckpt --weights" in capsys.readouterr().err


def test_evaluate_names_the_mis_sized_mask(synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import shutil

    data = tmp_path / "data"
    shutil.copytree(synthetic_dir, data)
    mask = sorted((data / "masks").iterdir())[3]
    cv2.imwrite(str(mask), cv2.resize(cv2.imread(str(mask)), (100, 80)))
    assert main(["evaluate", "--weights", "microaunet-kvasir", "--data", str(data), "--split", "all",
                 "--size", "64"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == f"error: {mask}: mask is 100x80 but its image {mask.stem}.png is 64x64", err


def test_missing_optional_package_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if ONNX Runtime were not installed
    assert main(["predict", str(tmp_path / "image.png"), "--weights", "microaunet-kvasir"]) == 2
    assert "pip install 'microaunet[onnx]'" in capsys.readouterr().err


def test_freshly_distilled_checkpoint_exports_and_predicts(synthetic_dir: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    """train -> distill -> export and predict straight from the student's last.pt (not only shipped weights)."""
    common = ["--data", str(synthetic_dir), "--split", "random", "--size", "64", "--epochs", "1",
              "--batch-size", "4", "--threads", "1", "--layout", "nchw"]
    assert main(["train", "--model", "malunet", *common, "--out", str(tmp_path / "teacher")]) == 0
    student = tmp_path / "student" / "last.pt"
    assert main(["distill", "--teacher", str(tmp_path / "teacher" / "last.pt"), "--student", "microaunet",
                 *common, "--out", str(student.parent)]) == 0
    capsys.readouterr()
    assert main(["export", "--ckpt", str(student), "--size", "64", "-o", str(tmp_path / "s.onnx"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["max_abs_diff_probability"] <= 1e-4
    image = tmp_path / "frame.png"  # not at the model's 64x64: masks and overlays come back at 90x70
    cv2.imwrite(str(image), cv2.resize(cv2.imread(str(next((synthetic_dir / "images").iterdir()))), (90, 70)))
    assert main(["predict", str(image), "--ckpt", str(student), "--size", "64", "-o", str(tmp_path / "pred")]) == 0
    source = cv2.imread(str(image))
    mask = cv2.imread(str(tmp_path / "pred" / "masks" / f"{image.stem}.png"), cv2.IMREAD_GRAYSCALE)
    overlay = cv2.imread(str(tmp_path / "pred" / "overlays" / f"{image.stem}.png"))
    assert mask.shape == source.shape[:2] and overlay.shape == source.shape and set(np.unique(mask)) <= {0, 255}
