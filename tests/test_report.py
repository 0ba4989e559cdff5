"""Report grouping, labels and the fixed rule of the qualitative figure, on hand-made evaluation files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from microaunet.data.synthetic import write_synthetic_dataset
from microaunet.evaluation.predictions import save_predictions
from microaunet.models import build_model
from microaunet.reporting.figures import (
    HEADER_BASELINES,
    HEADER_HEIGHT,
    drawable_run,
    model_colours,
    model_name,
    pick_images,
    qualitative_figure,
)
from microaunet.reporting.report import (
    MAIN_COLUMNS,
    comparison_section,
    group_table,
    schedule_tables,
    sections,
    seed_section,
    summary_section,
)
from microaunet.reporting.runs import collect, group
from microaunet.reporting.variants import run_label
from microaunet.training.checkpoint import save_weights
from microaunet.training.config import PaperKD, TrainConfig

DISTILL = {"imitation": True, "preference": True}


def _block(dice: float) -> dict:
    pooled = {"dice": dice, "iou": dice / (2 - dice), "accuracy": 0.9, "specificity": 0.95, "sensitivity": 0.8}
    return {"pooled": pooled, "per_image": pooled | {"boundary_f": 0.5, "hd95": 10.0}}


def _write_run(root: Path, name: str, model: str, seed: int, dice: float, train: str = "data/Kvasir-SEG",
               test: str = "data/Kvasir-SEG", distill: dict | None = None, rows: dict | None = None,
               size: int = 256, split: str = "paper", part: str = "test", precision: str | None = None,
               epochs: int = 100) -> None:
    run = root / name
    run.mkdir(parents=True)
    config = {"model": model, "data": train, "split": split, "epochs": epochs, "seed": seed}
    if precision:
        config["precision"] = precision
    if distill:
        config["extra"] = {"distill": distill, "teacher": "runs/malunet/last.pt"}  # as runs before 0.2 wrote it
    (run / "config.json").write_text(json.dumps(config))
    rows = rows or {"a": dice}
    result = {"model": model, "ckpt": str(run / "last.pt"), "data": test, "split_definition": split, "split": part,
              "size": size, "threshold": 0.5, "at_256": _block(dice), "at_original": _block(dice),
              "per_image_rows": [{"id": k, "dice": v} for k, v in rows.items()]}
    (run / "eval_test.json").write_text(json.dumps(result))


@pytest.mark.parametrize(("model", "distill", "label"), [
    ("microaunet", DISTILL, "MicroAUNet"),
    ("microaunet", None, "MicroAUNet, supervised only"),
    ("microaunet", {"imitation": False, "preference": True}, "MicroAUNet-2 (no imitation)"),
    ("microaunet", {"imitation": True, "preference": False}, "MicroAUNet-3 (no preference)"),
    ("microaunet-nodwd", DISTILL, "MicroAUNet-1 (no DWD convs)"),
    ("malunet", None, "MALUNet"),
    ("unext-s", None, "UNeXt-S"),
])
def test_run_labels_follow_the_paper(model: str, distill: dict | None, label: str) -> None:
    old = TrainConfig.from_dict({"model": model} | ({"extra": {"distill": distill, "teacher": "t.pt"}} if distill
                                                   else {}))
    assert run_label(model, old) == label
    new = TrainConfig(model=model, kd="paper", teachers=["t.pt"], paper_kd=PaperKD(**distill)) if distill \
        else TrainConfig(model=model)
    assert run_label(model, new) == label  # the same run, as this version writes its config


def test_seeds_are_grouped_into_mean_and_sample_std(tmp_path: Path) -> None:
    for seed, dice in ((1, 0.6), (2, 0.8)):
        _write_run(tmp_path, f"malunet-s{seed}", "malunet", seed, dice)
    _write_run(tmp_path, "student", "microaunet", 1, 0.5, distill=DISTILL)
    groups = group(collect(tmp_path))
    assert [(g.label, len(g.members)) for g in groups] == [("MALUNet", 2), ("MicroAUNet", 1)]
    table, records = group_table(groups, MAIN_COLUMNS, with_paper=True)
    assert "| MALUNet | Kvasir-SEG | Kvasir-SEG paper:test | 100 | 1,2 | 0.700 ± 0.141 |" in table
    assert "| *MALUNet (paper)* | Kvasir-SEG | Kvasir-SEG | 300 | - | 0.892 | 0.857 |" in table
    assert records[0]["dice_pooled"] == pytest.approx(0.7)
    assert records[0]["dice_pooled_std"] == pytest.approx(0.02 ** 0.5)
    assert records[1]["dice_pooled_std"] == 0.0


def test_runs_trained_in_bf16_form_their_own_group_and_say_so(tmp_path: Path) -> None:
    _write_run(tmp_path, "sanet-fp32", "sanet", 1, 0.6, precision="fp32")
    _write_run(tmp_path, "sanet-bf16", "sanet", 2, 0.8, precision="bf16")
    _write_run(tmp_path, "sanet-old", "sanet", 3, 0.7)  # written before the option existed: float32
    groups = group(collect(tmp_path))
    assert sorted((g.precision, [m.seed for m in g.members]) for g in groups) == [("bf16", [2]), ("fp32", [1, 3])]
    table, records = group_table(groups, MAIN_COLUMNS, with_paper=True)
    assert "| SANet | Kvasir-SEG | Kvasir-SEG paper:test | 100 bf16 | 2 | 0.800 |" in table
    assert "| SANet | Kvasir-SEG | Kvasir-SEG paper:test | 100 | 1,3 | 0.650 ± 0.071 |" in table
    assert sorted(r["precision"] for r in records) == ["bf16", "fp32"]


def test_the_papers_row_follows_the_last_schedule_of_its_model_once(tmp_path: Path) -> None:
    _write_run(tmp_path, "malunet-e100", "malunet", 1, 0.7)
    _write_run(tmp_path, "malunet-e300", "malunet", 1, 0.8, epochs=300)
    _write_run(tmp_path, "malunet-e300-cvc", "malunet", 1, 0.8, train="data/CVC-ClinicDB", test="data/CVC-ClinicDB",
               epochs=300)
    table, _ = group_table(group(collect(tmp_path)), MAIN_COLUMNS, with_paper=True)
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    assert [(row[0], row[1], row[3]) for row in rows] == [
        ("MALUNet", "Kvasir-SEG", "100"), ("MALUNet", "Kvasir-SEG", "300"), ("*MALUNet (paper)*", "Kvasir-SEG", "300"),
        ("MALUNet", "CVC-ClinicDB", "300"), ("*MALUNet (paper)*", "CVC-ClinicDB", "300")]


def test_summary_has_one_table_per_schedule_with_one_dice_column_per_dataset(tmp_path: Path) -> None:
    cvc = "data/CVC-ClinicDB/PNG"
    _write_run(tmp_path, "unet-e100", "unet", 1, 0.9, precision="bf16")
    for seed, dice in ((1, 0.6), (2, 0.8)):
        _write_run(tmp_path, f"malunet-e100-s{seed}", "malunet", seed, dice)
    _write_run(tmp_path, "malunet-e100-cvc", "malunet", 1, 0.7, train=cvc, test=cvc)
    _write_run(tmp_path, "control-e300", "microaunet", 3, 0.5, epochs=300)
    _write_run(tmp_path, "cross", "malunet", 1, 0.1, test=cvc)  # another dataset: generalisation, not here
    _write_run(tmp_path, "random", "malunet", 1, 0.2, split="random")  # not the paper's split: not here
    text, records = summary_section(group(collect(tmp_path)), {"malunet": 177_943})
    parts = text.split("\n\n")
    assert parts[1] == "300 epochs, the paper's schedule:"
    assert parts[3] == "100 epochs, a reduced schedule (the paper's: 300), the same for every row of this table:"
    tables = [[[c.strip() for c in line.strip("|").split("|")] for line in part.splitlines()] for part in parts[2::2]]
    assert tables[0][2:] == [["MicroAUNet, supervised only", "-", "0.500 / 0.500", "-", "3", "-"]]
    assert tables[1][2:] == [
        ["MALUNet", "177,943", "0.700 ± 0.141 / 0.700 ± 0.141", "0.700 / 0.700", "Kvasir-SEG 1,2; CVC-ClinicDB 1",
         "0.892 / 0.906"],
        ["UNet (bf16)", "-", "0.900 / 0.900", "-", "1", "0.818 / 0.823"]]
    assert len(records) == 4 and records[1]["dice_pooled_std"] == pytest.approx(0.02 ** 0.5)
    assert summary_section([], {})[0].endswith("(no evaluations of this kind yet)\n")


def test_seed_spread_gives_the_difference_a_t_test_resolves(tmp_path: Path) -> None:
    for seed, dice in ((1, 0.6), (2, 0.7), (3, 0.8)):
        _write_run(tmp_path, f"teacher-s{seed}", "malunet", seed, dice)
    _write_run(tmp_path, "student", "microaunet", 1, 0.5, distill=DISTILL)  # one seed: no spread to show
    text, records = seed_section(group(collect(tmp_path)))
    assert "| MALUNet | Kvasir-SEG | 100 | 1,2,3 | 0.100 | 0.100 | 0.227 | 0.227 |" in text
    assert len(records) == 1
    # t(0.975, 4) = 2.7764 from the printed tables, for two models of three seeds each
    assert records[0]["resolvable_dice_pooled"] == pytest.approx(2.7764451 * 0.1 * (2 / 3) ** 0.5, rel=1e-6)


def test_comparisons_pair_runs_of_the_same_seed_trained_and_tested_alike_image_by_image(tmp_path: Path) -> None:
    cvc = "data/CVC-ClinicDB/PNG"
    for seed in (1, 2, 3):
        _write_run(tmp_path, f"teacher-s{seed}", "malunet", seed, 0.8, rows={"a": 0.9, "b": 0.7, "c": 0.8})
    for seed in (1, 2):
        _write_run(tmp_path, f"student-s{seed}", "microaunet", seed, 0.6, distill=DISTILL,
                   rows={"a": 0.5, "b": 0.8, "c": 0.5})
    _write_run(tmp_path, "control-s2", "microaunet", 2, 0.5, rows={"a": 0.5, "b": 0.8, "c": 0.5})
    _write_run(tmp_path, "student-cvc", "microaunet", 1, 0.6, distill=DISTILL, train=cvc, test=cvc, rows={"a": 0.1})
    _write_run(tmp_path, "teacher-e300", "malunet", 1, 0.8, epochs=300)
    _write_run(tmp_path, "teacher-on-cvc", "malunet", 1, 0.5, test=cvc, part="all", rows={"x": 0.6, "y": 0.2})
    _write_run(tmp_path, "student-on-cvc", "microaunet", 1, 0.5, test=cvc, part="all", distill=DISTILL,
               rows={"x": 0.3, "y": 0.3})
    text, records = comparison_section(group(collect(tmp_path)))
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("|")][2:]
    assert [tuple(r[:6]) for r in rows] == [
        ("Kvasir-SEG", "Kvasir-SEG paper:test", "100", "1", "MicroAUNet", "MALUNet"),
        ("Kvasir-SEG", "Kvasir-SEG paper:test", "100", "2", "MicroAUNet", "MALUNet"),
        ("Kvasir-SEG", "Kvasir-SEG paper:test", "100", "2", "MicroAUNet", "MicroAUNet, supervised only"),
        ("Kvasir-SEG", "CVC-ClinicDB all", "100", "1", "MicroAUNet", "MALUNet")]
    assert rows[0][6:9] == ["0.600", "0.800", "-0.200"] and rows[0][11] == "1 / 2"
    assert rows[2][8:] == ["+0.000", "+0.000 to +0.000", "1.0000", "0 / 0"]
    assert rows[3][6:9] == ["0.300", "0.400", "-0.100"] and rows[3][11] == "1 / 1"
    assert records[0]["difference"] == pytest.approx(-0.2) and records[0]["images"] == 3
    assert comparison_section([])[0].endswith("(no evaluations of this kind yet)\n")


def test_each_schedule_gets_its_own_table_that_says_so(tmp_path: Path) -> None:
    _write_run(tmp_path, "malunet-e100", "malunet", 1, 0.7)
    _write_run(tmp_path, "unext-e100", "unext-s", 1, 0.75)
    _write_run(tmp_path, "malunet-e300", "malunet", 1, 0.8, epochs=300)
    text, records = schedule_tables("Table 1: caption.", group(collect(tmp_path)), MAIN_COLUMNS, True)
    parts = text.split("\n\n")
    assert parts[0] == "Table 1: caption." and parts[1] == "300 epochs, the paper's schedule:"
    assert parts[3].startswith("100 epochs, a reduced schedule")
    assert [[line.split(" | ")[0] for line in part.splitlines()[2:]] for part in (parts[2], parts[4])] == [
        ["| MALUNet", "| *MALUNet (paper)*"], ["| MALUNet", "| *MALUNet (paper)*", "| UNeXt-S", "| *UNeXt-S (paper)*"]]
    assert [r["epochs"] for r in records] == [300, 100, 100]
    empty, _ = schedule_tables("Table 3: caption.", [], MAIN_COLUMNS, True)
    assert empty == "Table 3: caption.\n\n(no evaluations of this kind yet)\n"


def test_cross_dataset_and_unseen_video_runs_go_to_the_generalisation_table(tmp_path: Path) -> None:
    cvc = "data/CVC-ClinicDB/PNG"
    _write_run(tmp_path, "in", "malunet", 1, 0.8)
    _write_run(tmp_path, "cross", "malunet", 1, 0.6, test=cvc)
    _write_run(tmp_path, "cross-all", "malunet", 1, 0.6, test=cvc, part="all")
    _write_run(tmp_path, "sequence", "malunet", 1, 0.5, train=cvc, test=cvc, split="sequence")
    _write_run(tmp_path, "random", "unet", 1, 0.7, split="random")
    _write_run(tmp_path, "ablated", "microaunet", 1, 0.7, distill={"imitation": False, "preference": True})
    tables = sections(group(collect(tmp_path)))
    found = {name: [(g.label, g.tested_on, g.test_split) for g in groups]
             for name, (_, groups, _, _) in tables.items()}
    assert found["table1"] == [("MALUNet", "Kvasir-SEG", "paper:test"), ("UNet", "Kvasir-SEG", "random:test")]
    assert found["generalisation"] == [("MALUNet", "CVC-ClinicDB", "paper:test"), ("MALUNet", "CVC-ClinicDB", "all"),
                                       ("MALUNet", "CVC-ClinicDB", "sequence:test")]
    assert found["table3"] == [("MicroAUNet-2 (no imitation)", "Kvasir-SEG", "paper:test")]
    table, _ = group_table(tables["generalisation"][1], MAIN_COLUMNS, with_paper=True)
    assert "(paper)" not in table  # the paper's numbers sit beside the paper's protocol only
    table, _ = group_table(tables["table1"][1], MAIN_COLUMNS, with_paper=True)
    assert "*MALUNet (paper)*" in table and "*UNet (paper)*" not in table


def test_each_model_and_schedule_keeps_one_colour_on_both_datasets(tmp_path: Path) -> None:
    for data in ("data/Kvasir-SEG", "data/CVC-ClinicDB"):
        for model in ("malunet", "unet"):
            _write_run(tmp_path, f"{model}-{Path(data).name}", model, 1, 0.8, train=data, test=data)
    _write_run(tmp_path, "malunet-e300", "malunet", 1, 0.9, epochs=300)
    _write_run(tmp_path, "unet-bf16", "unet", 1, 0.8, precision="bf16")
    groups = group(collect(tmp_path))
    colours = model_colours(groups)
    assert sorted(colours) == ["MALUNet (100 ep)", "MALUNet (300 ep)", "UNet (100 ep)", "UNet (100 ep, bf16)"]
    assert len(set(colours.values())) == 4
    assert {model_name(g) for g in groups if g.tested_on == "CVC-ClinicDB"} == {"MALUNet (100 ep)", "UNet (100 ep)"}


@pytest.mark.parametrize(("second_model", "second_seed", "n_groups"), [("unet", 1, 2), ("malunet", 2, 1)])
def test_qualitative_images_are_picked_by_quantiles_of_mean_dice(tmp_path: Path, second_model: str,
                                                                   second_seed: int, n_groups: int) -> None:
    rows_a = {f"img{i}": i / 10 for i in range(10)}
    rows_b = {f"img{i}": 1 - i / 10 for i in range(10)} | {"img9": 0.5}
    _write_run(tmp_path, "a", "malunet", 1, 0.8, rows=rows_b)
    _write_run(tmp_path, "b", second_model, second_seed, 0.8, rows=rows_a)
    groups = group(collect(tmp_path))
    assert len(groups) == n_groups  # two models, or two seeds of one model averaged alike
    # mean Dice is 0.5 for img0..img8 and 0.7 for img9: ties keep id order, img9 is the easiest
    assert pick_images(groups) == ["img1", "img3", "img5", "img7", "img9"]


def test_qualitative_figure_uses_weights_kept_beside_the_evaluation_and_names_the_missing(tmp_path: Path) -> None:
    data = write_synthetic_dataset(tmp_path / "data", count=6, size=64, seed=3)
    rows = {f"synth_{i:04d}": i / 6 for i in range(6)}
    _write_run(tmp_path / "runs", "teacher", "malunet", 1, 0.8, train=str(data), test=str(data), rows=rows, size=64)
    _write_run(tmp_path / "runs", "student", "microaunet", 1, 0.7, train=str(data), test=str(data), rows=rows,
               size=64, distill=DISTILL)
    save_weights(build_model("malunet"), "malunet", tmp_path / "runs" / "teacher" / "final.safetensors")
    groups = group(collect(tmp_path / "runs"))
    path, missing = qualitative_figure(groups, tmp_path / "fig5.png", tile=32)
    assert missing == ["MicroAUNet (100 ep)"]
    # one header band, then five picked rows; columns: image, ground truth, the teacher's prediction
    assert cv2.imread(str(path)).shape == (HEADER_HEIGHT + 5 * 32, 3 * 32, 3)
    (tmp_path / "runs" / "teacher" / "final.safetensors").unlink()
    assert qualitative_figure(groups, tmp_path / "none.png", tile=32) == (
        None, ["MicroAUNet (100 ep)", "MALUNet (100 ep)"])


def test_qualitative_figure_draws_the_first_seed_whose_weights_are_kept(tmp_path: Path) -> None:
    data = write_synthetic_dataset(tmp_path / "data", count=6, size=64, seed=3)
    rows = {f"synth_{i:04d}": i / 6 for i in range(6)}
    for seed in (1, 2):
        _write_run(tmp_path / "runs", f"teacher-s{seed}", "malunet", seed, 0.8, train=str(data), test=str(data),
                   rows=rows, size=64)
    save_weights(build_model("malunet"), "malunet", tmp_path / "runs" / "teacher-s2" / "final.safetensors")
    groups = group(collect(tmp_path / "runs"))
    assert [m.seed for m in groups[0].members] == [1, 2]
    assert drawable_run(groups[0])[0].seed == 2
    path, missing = qualitative_figure(groups, tmp_path / "fig5.png", tile=32)
    assert missing == [] and cv2.imread(str(path)).shape == (HEADER_HEIGHT + 5 * 32, 3 * 32, 3)


def test_qualitative_figure_draws_kept_predictions_where_the_weights_are_not_kept(tmp_path: Path) -> None:
    data = write_synthetic_dataset(tmp_path / "data", count=6, size=64, seed=3)
    rows = {f"synth_{i:04d}": i / 6 for i in range(6)}
    _write_run(tmp_path / "runs", "unet", "unet", 1, 0.8, train=str(data), test=str(data), rows=rows, size=64)
    kept = tmp_path / "runs" / "unet" / "predictions.npz"
    save_predictions(kept, {i: np.ones((64, 64), bool) for i in rows})  # the whole image predicted polyp
    groups = group(collect(tmp_path / "runs"))
    path, missing = qualitative_figure(groups, tmp_path / "fig5.png", tile=64)
    assert missing == [] and drawable_run(groups[0])[1] == kept
    grid = cv2.imread(str(path))
    assert grid.shape == (HEADER_HEIGHT + 5 * 64, 3 * 64, 3)
    image, prediction = grid[HEADER_HEIGHT + 16, :64].astype(int), grid[HEADER_HEIGHT + 16, 128:].astype(int)
    assert (prediction[:, 1] - prediction[:, 2]).mean() > (image[:, 1] - image[:, 2]).mean() + 20  # tinted green
    save_predictions(kept, {"synth_0000": np.ones((64, 64), bool)})
    with pytest.raises(ValueError, match="predictions.npz: no prediction for image"):
        qualitative_figure(groups, tmp_path / "fig5.png", tile=64)


def test_a_metric_reported_by_only_some_seeds_says_how_many(tmp_path: Path) -> None:
    for seed in (1, 2, 3):
        _write_run(tmp_path, f"malunet-s{seed}", "malunet", seed, 0.6 + seed / 10)
    result_path = tmp_path / "malunet-s3" / "eval_test.json"
    result = json.loads(result_path.read_text())
    result["toolbox"] = {"mean_dice": 0.7, "mean_iou": 0.6, "weighted_f": 0.5, "s_measure": 0.8,
                         "mean_e_measure": 0.9, "max_e_measure": 0.95, "mae": 0.05}
    result_path.write_text(json.dumps(result))
    table, _ = group_table(group(collect(tmp_path)), MAIN_COLUMNS)
    row = table.splitlines()[2]
    assert "| 0.800 ± 0.100 |" in row and "| 0.700 (n=1) |" in row


def test_qualitative_figure_wraps_a_long_model_name_above_its_schedule(tmp_path: Path) -> None:
    data = write_synthetic_dataset(tmp_path / "data", count=6, size=64, seed=3)
    rows = {f"synth_{i:04d}": i / 6 for i in range(6)}
    _write_run(tmp_path / "runs", "control", "microaunet", 1, 0.6, train=str(data), test=str(data), rows=rows, size=64)
    save_predictions(tmp_path / "runs" / "control" / "predictions.npz", {i: np.ones((64, 64), bool) for i in rows})
    groups = group(collect(tmp_path / "runs"))
    assert groups[0].label == "MicroAUNet, supervised only"  # longer than a header line
    path, _ = qualitative_figure(groups, tmp_path / "fig5.png", tile=192)
    header = cv2.imread(str(path))[:HEADER_HEIGHT] < 128
    lines = [header[baseline - 8:baseline] for baseline in HEADER_BASELINES]  # name, its wrapped end, schedule and seed
    image_column, model_column = slice(0, 192), slice(2 * 192, 3 * 192)
    assert [line[:, image_column].any() for line in lines] == [True, False, False]
    assert [line[:, model_column].any() for line in lines] == [True, True, True]


def test_dice_by_polyp_size_groups_the_test_images_by_the_share_their_polyp_covers(tmp_path: Path) -> None:
    data = tmp_path / "Kvasir-SEG"
    (data / "images").mkdir(parents=True)
    (data / "masks").mkdir()
    sides = {"a": 4, "b": 8, "c": 12, "d": 16, "e": 20, "f": 24}  # square polyps in 32x32 images: shares grow a..f
    for name, side in sides.items():
        mask = np.zeros((32, 32), np.uint8)
        mask[:side, :side] = 255
        cv2.imwrite(str(data / "images" / f"{name}.png"), np.zeros((32, 32, 3), np.uint8))
        cv2.imwrite(str(data / "masks" / f"{name}.png"), mask)
    dice = {"a": 0.1, "b": 0.3, "c": 0.5, "d": 0.6, "e": 0.8, "f": 1.0}
    _write_run(tmp_path / "results", "teacher", "malunet", 1, 0.5, rows=dice, epochs=300)
    _write_run(tmp_path / "results", "teacher-e100", "malunet", 1, 0.5, rows=dice)  # another schedule: left out
    script = Path(__file__).resolve().parents[1] / "scripts" / "dice_by_polyp_size.py"
    proc = subprocess.run([sys.executable, str(script), "--results", str(tmp_path / "results"), "--kvasir", str(data)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"small < {144 / 1024:.3f} <= medium < {400 / 1024:.3f} <= large" in proc.stdout
    assert "| MALUNet | 1 | 0.200 | 0.550 | 0.900 | 0.550 |" in proc.stdout
    assert proc.stdout.count("| MALUNet |") == 1 and "CVC-ClinicDB" not in proc.stdout


def test_recipe_screen_table_reads_validation_evaluations_only(tmp_path: Path) -> None:
    from microaunet.reporting.recipe import recipe_section

    screen = tmp_path / "recipe" / "screen"
    for name, dice in (("paper", 0.60), ("kd-ensemble", 0.70), ("kd-ensemble-seed43", 0.68)):
        _write_run(screen, name, "microaunet", 43 if "seed43" in name else 42, dice, part="val")
        (screen / name / "eval_test.json").rename(screen / name / "eval_val.json")
        (screen / name / "provenance.json").write_text(json.dumps({"change": f"change of {name}"}))
    _write_run(tmp_path, "malunet", "malunet", 42, 0.9)  # a test-split evaluation: not a screen row
    text, rows = recipe_section(tmp_path)
    assert [r["run"] for r in rows] == ["kd-ensemble", "kd-ensemble-seed43", "paper"]
    assert rows[0]["delta_pooled_vs_reference"] == pytest.approx(0.10)
    assert "| kd-ensemble | change of kd-ensemble | 100 | 42 | 0.700 |" in text
    assert "kd-ensemble / kd-ensemble-seed43: 0.020" in text
    assert [e.label for e in collect(tmp_path)] == ["MALUNet"]  # the paper's tables never see validation scores
