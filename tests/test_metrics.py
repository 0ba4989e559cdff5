from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.metrics import accuracy_score, f1_score, jaccard_score, recall_score

from microaunet.evaluation.metrics import (
    MetricAccumulator,
    boundary,
    boundary_f,
    confusion,
    from_confusion,
    hd95,
    image_metrics,
)


def square(size: int, top: int, left: int, side: int) -> np.ndarray:
    m = np.zeros((size, size), bool)
    m[top:top + side, left:left + side] = True
    return m


def test_hand_made_overlap() -> None:
    gt = square(10, 0, 0, 4)  # 16 pixels
    pred = square(10, 0, 2, 4)  # 16 pixels, 8 shared
    tp, fp, fn, tn = confusion(pred, gt)
    assert (tp, fp, fn, tn) == (8, 8, 8, 76)
    m = from_confusion(np.array([tp, fp, fn, tn]))
    assert m["dice"] == pytest.approx(0.5)
    assert m["iou"] == pytest.approx(8 / 24)
    assert m["accuracy"] == pytest.approx(84 / 100)
    assert m["specificity"] == pytest.approx(76 / 84)
    assert m["sensitivity"] == pytest.approx(0.5)


def test_empty_cases() -> None:
    empty = np.zeros((8, 8), bool)
    some = square(8, 2, 2, 3)
    both_empty = image_metrics(empty, empty)
    assert [both_empty[k] for k in ("dice", "iou", "accuracy", "specificity", "sensitivity", "boundary_f", "hd95")] == [
        1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    false_alarm = image_metrics(some, empty)  # nothing to find, something found
    assert false_alarm["dice"] == 0.0 and false_alarm["iou"] == 0.0
    assert false_alarm["sensitivity"] == 1.0 and false_alarm["specificity"] == pytest.approx(55 / 64)
    assert false_alarm["boundary_f"] == 0.0 and math.isnan(false_alarm["hd95"])
    missed = image_metrics(empty, some)
    assert missed["dice"] == 0.0 and missed["sensitivity"] == 0.0 and missed["specificity"] == 1.0
    full = np.ones((8, 8), bool)
    assert image_metrics(full, full)["specificity"] == 1.0  # no negatives at all


def test_boundary_of_a_square_is_its_ring() -> None:
    b = boundary(square(10, 2, 2, 4))
    assert b.sum() == 12 and not b[3:5, 3:5].any()


def test_boundary_f_and_hd95_hand_made() -> None:
    gt = square(20, 5, 5, 6)
    assert boundary_f(gt, gt) == 1.0 and hd95(gt, gt) == 0.0
    shifted = square(20, 5, 8, 6)  # 3 px to the right
    assert boundary_f(shifted, gt, tolerance=3) == 1.0
    assert boundary_f(shifted, gt, tolerance=2) < 1.0
    assert hd95(shifted, gt) == pytest.approx(3.0)


def brute_hd95(a: np.ndarray, b: np.ndarray) -> float:
    pa, pb = np.argwhere(boundary(a)), np.argwhere(boundary(b))
    d = cdist(pa, pb)
    return float(np.percentile(np.concatenate([d.min(1), d.min(0)]), 95))


@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_independent_implementations_on_random_masks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    gt = rng.random((32, 40)) < 0.3
    pred = rng.random((32, 40)) < 0.4
    m = image_metrics(pred, gt)
    y, p = gt.ravel(), pred.ravel()
    assert m["dice"] == pytest.approx(f1_score(y, p))
    assert m["iou"] == pytest.approx(jaccard_score(y, p))
    assert m["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert m["sensitivity"] == pytest.approx(recall_score(y, p))
    assert m["specificity"] == pytest.approx(recall_score(y, p, pos_label=False))
    assert m["hd95"] == pytest.approx(brute_hd95(pred, gt))


def test_per_image_and_pooled_differ_as_defined() -> None:
    acc = MetricAccumulator()
    big, small = square(20, 0, 0, 10), square(20, 0, 0, 2)
    acc.add("a", big, big)  # dice 1 on 100 px
    acc.add("b", np.zeros((20, 20), bool), small)  # dice 0 on 4 px
    s = acc.summary()
    assert s["images"] == 2
    assert s["per_image"]["dice"] == pytest.approx(0.5)
    assert s["pooled"]["dice"] == pytest.approx(200 / 204)
    assert s["hd95_undefined"] == 1 and s["per_image"]["hd95"] == 0.0


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        confusion(np.zeros((2, 2), bool), np.zeros((3, 2), bool))
