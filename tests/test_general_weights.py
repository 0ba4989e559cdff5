"""scripts/general_weights.py without training: the runs and what each needs, the test splits opened only in
phase 5, the choice of the photometric strength from hand-made validation results, and the later phases refusing
to start before the screen is complete."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "general_weights.py"
SCREEN = ["screen-s0", "screen-s0.25", "screen-s0.5", "screen-s1"]
DATASETS = ["kvasir-seg", "cvc-clinicdb", "bkai-neopolyp"]


@pytest.fixture(scope="module")
def gw() -> ModuleType:
    spec = importlib.util.spec_from_file_location("general_weights", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def listed(gw: ModuleType, capsys: pytest.CaptureFixture, *argv: str) -> dict[str, tuple[int, list[str], list[str]]]:
    """--list as {name: (phase, needs, commands)}."""
    assert gw.main(["--list", *argv]) == 0
    runs: dict[str, tuple[int, list[str], list[str]]] = {}
    for line in capsys.readouterr().out.splitlines():
        head = re.match(r"(\S+)  \[phase (\d); needs ([^\]]+)\]", line)
        if head:
            name = head[1]
            runs[name] = (int(head[2]), [] if head[3] == "nothing" else head[3].split(", "), [])
        else:
            runs[name][2].append(line.strip())
    return runs


def test_list_prints_every_run_with_what_it_needs(gw: ModuleType, capsys: pytest.CaptureFixture) -> None:
    runs = listed(gw, capsys)
    expected = {name: (1, []) for name in SCREEN}
    for seed in (42, 43, 44):
        expected |= {f"teacher{seed}": (2, SCREEN), f"student{seed}": (3, [f"teacher{seed}"]),
                     f"teacher{seed}-test": (5, [f"teacher{seed}"]), f"student{seed}-test": (5, [f"student{seed}"])}
    for short in ("kvasir", "cvc", "bkai"):
        expected |= {f"teacher-no-{short}": (4, SCREEN), f"student-no-{short}": (4, [f"teacher-no-{short}"])}
    assert {name: (phase, needs) for name, (phase, needs, _) in runs.items()} == expected

    screen = runs["screen-s0.5"][2]
    assert screen[0].startswith("microaunet train --model malunet ") and "--photometric 0.5 --epochs 100 " in screen[0]
    assert sum("--split val" in c for c in screen[1:]) == 6 and sum("bench robustness" in c for c in screen) == 3
    student = runs["student43"][2][0]
    assert student.startswith("microaunet distill --kd paper --teacher ")
    assert "results/general/teacher43/final.safetensors" in student and "--seed 43 " in student
    assert "--photometric <S> --epochs 300 " in student  # no screen yet: S is still to be chosen
    lodo, held_out = runs["teacher-no-cvc"][2]
    assert "CVC-ClinicDB" not in lodo and lodo.count("--data ") == 2
    assert "--split all" in held_out and "CVC-ClinicDB/PNG" in held_out
    tests = runs["student44-test"][2]
    assert len(tests) == 6 and all("--split test" in c and "results/general/student44/" in c for c in tests)
    opened = {name for name, (_, _, commands) in runs.items() if any("--split test" in c for c in commands)}
    assert opened == {name for name in runs if name.endswith("-test")}  # the test splits: phase 5 only


def write_screen(results: Path, strength: str, clean: list[float], perturbed: dict[str, list[float]]) -> None:
    """A collected screen run: each dataset's validation evaluation and robustness bench, with these pooled Dice
    (and per-image Dice of 1 minus those, which would rank the other way: the rule must not read them)."""
    folder = results / f"screen-s{strength}"
    folder.mkdir(parents=True)
    for k, dataset in enumerate(DATASETS):
        dice = {"pooled": {"dice": clean[k]}, "per_image": {"dice": 1 - clean[k]}}
        (folder / f"eval_val_{dataset}.json").write_text(json.dumps({"size": 256, "at_256": dice}))
        rows = [{"name": "clean", "pooled_dice": 0.5, "per_image_dice": 0.4}]
        rows += [{"name": n, "pooled_dice": d[k], "per_image_dice": 1 - d[k]} for n, d in perturbed.items()]
        (folder / f"robustness_val_{dataset}.json").write_text(json.dumps({"rows": rows}))
    (folder / "provenance.json").write_text("{}")


def test_the_rule_picks_the_most_robust_strength_near_the_best_clean_one(
        gw: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    opts = gw.Options(work=tmp_path)
    # clean (mean of the three datasets): S=1 0.800 is best; 0.5 0.790 is within 0.01; 0.25 0.789 is not; 0 far
    # worst (mean over datasets, then the lowest perturbation): 0.25 0.75 (not eligible), 0.5 0.70, 1 0.68
    write_screen(opts.results, "0", [0.70, 0.70, 0.70], {"darker": [0.60, 0.60, 0.60]})
    write_screen(opts.results, "0.25", [0.789, 0.789, 0.789], {"darker": [0.75, 0.75, 0.75], "noise": [0.8] * 3})
    write_screen(opts.results, "0.5", [0.78, 0.79, 0.80], {"darker": [0.90, 0.50, 0.70], "noise": [0.71] * 3})
    assert gw.main(["--smoke", str(tmp_path), "--list", "--only", "teacher42"]) == 0  # lists before the choice
    assert "--photometric <S> " in capsys.readouterr().out
    with pytest.raises(RuntimeError, match="screen-s1 not collected"):
        gw.record_choice(opts)
    write_screen(opts.results, "1", [0.80, 0.80, 0.80], {"darker": [0.69, 0.69, 0.69], "noise": [0.68, 0.67, 0.69]})
    scores = gw.screen_scores(opts)
    assert scores[0.5]["clean"] == pytest.approx(0.79) and scores[0.5]["worst"] == pytest.approx(0.70)
    assert scores[1.0]["worst"] == pytest.approx(0.68) and scores[1.0]["worst_perturbation"] == "noise"
    assert gw.choose_strength(scores) == 0.5
    assert gw.record_choice(opts) == 0.5
    assert json.loads((opts.results / "photometric_choice.json").read_text())["chosen"] == 0.5
    assert gw.chosen_strength(opts) == 0.5
    assert gw.main(["--smoke", str(tmp_path), "--list", "--only", "teacher42"]) == 0
    assert "--photometric 0.5 " in capsys.readouterr().out
    # exactly 0.01 below the best is within; a tie in worst(S) goes to the smaller S
    assert gw.choose_strength({0.0: {"clean": 0.80, "worst": 0.5}, 1.0: {"clean": 0.79, "worst": 0.6}}) == 1.0
    assert gw.choose_strength({0.25: {"clean": 0.80, "worst": 0.6}, 0.5: {"clean": 0.80, "worst": 0.6}}) == 0.25


def test_later_phases_refuse_to_start_before_the_screen(gw: ModuleType, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    for run in ("teacher42", "student42", "teacher-no-bkai", "teacher42-test"):
        assert gw.main(["--smoke", str(tmp_path), "--only", run]) == 2
        assert f"{run}: refused, it needs " in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "data").exists()  # nothing started, nothing written
