"""The polyp toolbox metrics of microaunet.evaluation.toolbox: exact cases, and pysodmetrics' own figures."""

from __future__ import annotations

import numpy as np
import pytest

from microaunet.evaluation.toolbox import TOOLBOX_METRICS, ToolboxAccumulator

# pysodmetrics 1.6.2 on _cases() (FmeasureV2 with dynamic DICE/IOU handlers, Smeasure, Emeasure,
# WeightedFmeasure, MAE, each fed the 8-bit prediction and the 0/255 ground truth, as the toolbox saves them)
PYSODMETRICS = {"mean_dice": 0.5864741313234403, "mean_iou": 0.506259538202362, "weighted_f": 0.5400395171097463,
                "s_measure": 0.7234304363253519, "mean_e_measure": 0.6362466982055255,
                "max_e_measure": 0.8073162439864436, "mae": 0.27253880273082465}


def _cases() -> list[tuple[np.ndarray, np.ndarray]]:
    """Polyps of several sizes with noisy predictions, an empty and a full ground truth, a constant prediction."""
    rng = np.random.default_rng(0)
    cases = []
    for i in range(6):
        gt = np.zeros((37, 53), bool)
        gt[5 + i:20 + 2 * i, 10:30 + i] = True
        cases.append((np.clip(gt * 0.7 + rng.random(gt.shape) * 0.4 - 0.1 * i / 6, 0, 1), gt))
    cases.append((rng.random((20, 30)), np.zeros((20, 30), bool)))
    cases.append((rng.random((20, 30)), np.ones((20, 30), bool)))
    cases.append((np.full((20, 30), 0.3), cases[0][1][:20, :30]))
    return cases


def test_matches_pysodmetrics_figures() -> None:
    acc = ToolboxAccumulator()
    for prob, gt in _cases():
        acc.add(prob, gt)
    assert acc.summary() == pytest.approx(PYSODMETRICS, abs=1e-12)


def test_matches_pysodmetrics_where_installed() -> None:
    """The same against the installed pysodmetrics (not a dependency: every release caps numpy and OpenCV)."""
    sod = pytest.importorskip("py_sod_metrics")
    curves = sod.FmeasureV2(metric_handlers={"dice": sod.DICEHandler(with_dynamic=True, with_adaptive=False),
                                             "iou": sod.IOUHandler(with_dynamic=True, with_adaptive=False)})
    s, e, wf, mae = sod.Smeasure(), sod.Emeasure(), sod.WeightedFmeasure(), sod.MAE()
    acc = ToolboxAccumulator()
    rng = np.random.default_rng(1)
    for prob, gt in _cases():
        prob = np.clip(prob + rng.normal(0, 0.05, prob.shape), 0, 1)
        acc.add(prob, gt)
        for metric in (curves, s, e, wf, mae):
            metric.step(pred=np.clip(np.rint(prob * 255), 0, 255).astype(np.uint8), gt=gt.astype(np.uint8) * 255)
    results, e_curve = curves.get_results(), e.get_results()["em"]["curve"]
    expected = {"mean_dice": np.mean(results["dice"]["dynamic"]), "mean_iou": np.mean(results["iou"]["dynamic"]),
                "weighted_f": wf.get_results()["wfm"], "s_measure": s.get_results()["sm"],
                "mean_e_measure": np.mean(e_curve), "max_e_measure": np.max(e_curve), "mae": mae.get_results()["mae"]}
    assert acc.summary() == pytest.approx(expected, abs=1e-12)


def test_perfect_binary_prediction_exact_values() -> None:
    gt = np.zeros((10, 10), bool)
    gt[2:6, 3:7] = True  # 16 of 100 pixels
    acc = ToolboxAccumulator()
    acc.add(gt.astype(np.float32), gt)
    r = acc.summary()
    # threshold 0 marks every pixel positive (Dice 32/116, IoU 16/100); thresholds 1..255 are exact
    assert r["mean_dice"] == pytest.approx((255 + 32 / 116) / 256, abs=1e-12)
    assert r["mean_iou"] == pytest.approx((255 + 16 / 100) / 256, abs=1e-12)
    assert r["mae"] == 0.0 and r["s_measure"] == pytest.approx(1.0) and r["weighted_f"] == pytest.approx(1.0)
    assert set(r) == set(TOOLBOX_METRICS)


def _mean_dice_by_hand(prob: np.ndarray, gt: np.ndarray) -> float:
    pred = np.rint(prob * 255) / 255
    pred = (pred - pred.min()) / (pred.max() - pred.min())  # the toolbox's per-image min-max
    grey = (pred * 255).astype(np.uint8)
    dices = []
    for t in range(256):
        p = grey >= t
        dices.append(2 * np.sum(p & gt) / (p.sum() + gt.sum()))
    return float(np.mean(dices))


def test_mean_dice_averages_256_thresholds_then_images() -> None:
    rng = np.random.default_rng(0)
    acc, expected = ToolboxAccumulator(), []
    for _ in range(3):
        gt = rng.random((24, 32)) < 0.3
        prob = np.clip(gt * 0.6 + rng.random((24, 32)) * 0.5, 0, 1)
        acc.add(prob, gt)
        expected.append(_mean_dice_by_hand(prob, gt))
    r = acc.summary()
    assert r["mean_dice"] == pytest.approx(np.mean(expected), abs=1e-9)
    assert 0 < r["mae"] < 1 and r["mean_e_measure"] <= r["max_e_measure"]


def test_shape_mismatch_and_empty_are_errors() -> None:
    acc = ToolboxAccumulator()
    with pytest.raises(ValueError, match="no images"):
        acc.summary()
    with pytest.raises(ValueError, match="differ in shape"):
        acc.add(np.zeros((4, 4)), np.zeros((4, 5), bool))
