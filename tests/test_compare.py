"""Paired comparison of two evaluations: exact cases, the permutation test against its full enumeration, the
bootstrap interval against the normal approximation, and the errors that name the files."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from microaunet.cli import main
from microaunet.evaluation.compare import compare_evaluations, load_rows, paired_comparison, paired_values


def _write_eval(path: Path, values: dict[str, float], metric: str = "dice") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"per_image_rows": [{"id": k, metric: v} for k, v in values.items()]}))
    return path


def test_equal_runs_differ_by_nothing() -> None:
    a = np.linspace(0.2, 0.9, 25)
    c = paired_comparison(a, a.copy())
    assert (c.difference, c.ci_low, c.ci_high, c.p_value, c.a_better, c.b_better) == (0, 0, 0, 1.0, 0, 0)


def test_a_constant_gain_has_a_point_interval_and_the_smallest_p() -> None:
    b = np.linspace(0.1, 0.8, 30)
    c = paired_comparison(b + 0.1, b, resamples=2_000)
    assert c.difference == pytest.approx(0.1) and c.ci_low == pytest.approx(0.1) and c.ci_high == pytest.approx(0.1)
    assert c.p_value == 1 / 2_001 and (c.a_better, c.b_better, c.images) == (30, 0, 30)
    assert c.mean_a == pytest.approx(b.mean() + 0.1) and c.mean_b == pytest.approx(b.mean())


def test_permutation_p_matches_the_full_enumeration_of_signs() -> None:
    d = np.array([0.30, -0.05, 0.12, 0.08, -0.02, 0.20, 0.01, -0.10])
    flipped = np.array([np.mean(np.array(signs) * d) for signs in itertools.product((-1, 1), repeat=len(d))])
    exact = np.mean(np.abs(flipped) >= abs(d.mean()) - 1e-12)
    c = paired_comparison(d, np.zeros_like(d), resamples=40_000, seed=3)
    assert c.p_value == pytest.approx(exact, abs=0.01)
    assert 0.05 < exact < 0.5  # a case in between, where the test has something to get right


def test_bootstrap_interval_matches_the_normal_approximation_on_a_large_sample() -> None:
    rng = np.random.default_rng(0)
    b = rng.uniform(0.3, 0.9, 400)
    a = b + rng.normal(0.02, 0.1, 400)
    c = paired_comparison(a, b)
    d = a - b
    half = 1.96 * d.std(ddof=1) / np.sqrt(len(d))
    assert c.ci_low == pytest.approx(d.mean() - half, abs=0.15 * half)
    assert c.ci_high == pytest.approx(d.mean() + half, abs=0.15 * half)


def test_values_are_paired_by_image_id_and_undefined_ones_left_out() -> None:
    rows_a = [{"id": "x", "hd95": 3.0}, {"id": "y", "hd95": float("nan")}, {"id": "z", "hd95": 5.0}]
    rows_b = [{"id": "z", "hd95": 1.0}, {"id": "x", "hd95": 2.0}, {"id": "y", "hd95": 7.0}]
    a, b = paired_values(rows_a, rows_b, "hd95")
    assert a.tolist() == [3.0, 5.0] and b.tolist() == [2.0, 1.0]


def test_different_test_sets_and_unknown_metrics_are_errors_that_name_both() -> None:
    with pytest.raises(ValueError, match=r"run-a and run-b were not evaluated on the same images: 1 only in the first"):
        paired_values([{"id": "x", "dice": 1.0}], [{"id": "y", "dice": 1.0}], "dice", ("run-a", "run-b"))
    with pytest.raises(ValueError, match=r"run-b: no per-image 'iou' \(known: dice\)"):
        paired_values([{"id": "x", "iou": 1.0}], [{"id": "x", "dice": 1.0}], "iou", ("run-a", "run-b"))


def test_load_rows_reads_a_file_or_a_run_folder_and_names_what_is_wrong(tmp_path: Path) -> None:
    _write_eval(tmp_path / "run" / "eval_test.json", {"x": 0.5})
    assert load_rows(tmp_path / "run") == [{"id": "x", "dice": 0.5}]
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(FileNotFoundError, match="elsewhere/eval_test.json: no such evaluation file"):
        load_rows(tmp_path / "elsewhere")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not an evaluation"):
        load_rows(tmp_path / "bad.json")
    (tmp_path / "empty.json").write_text("{}")
    with pytest.raises(ValueError, match="empty.json: holds no per-image rows"):
        load_rows(tmp_path / "empty.json")


def test_compare_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a = _write_eval(tmp_path / "a.json", {"x": 0.9, "y": 0.8, "z": 0.7})
    b = _write_eval(tmp_path / "b.json", {"x": 0.5, "y": 0.9, "z": 0.4})
    assert main(["compare", str(a), str(b), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == compare_evaluations(a, b).as_dict()
    assert result["difference"] == pytest.approx(0.2) and (result["a_better"], result["b_better"]) == (2, 1)
    assert main(["compare", str(a), str(b)]) == 0
    assert "A higher on 2 images, B on 1, equal on 0" in capsys.readouterr().out
    assert main(["compare", str(a), str(b), "--resamples", "0"]) == 2
    assert "--resamples must be at least 1, not 0" in capsys.readouterr().err
    c = _write_eval(tmp_path / "c.json", {"w": 0.5})
    assert main(["compare", str(a), str(c)]) == 2
    assert f"{a} and {c} were not evaluated on the same images" in capsys.readouterr().err
