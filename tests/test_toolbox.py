"""The polyp toolbox metrics (pysodmetrics) as wired by microaunet.toolbox."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("py_sod_metrics", reason="the toolbox metrics need pysodmetrics (microaunet[report])")

from microaunet.toolbox import TOOLBOX_METRICS, ToolboxAccumulator  # noqa: E402


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
