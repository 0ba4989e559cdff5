"""Segmentation metrics: the paper's five, boundary metrics, and both ways of aggregating them.

Two aggregates are reported everywhere, because the literature mixes them:

- ``per_image``: each metric computed on each image, then averaged over images
  (what the polyp literature, e.g. PraNet, calls mDice / mIoU);
- ``pooled``: one confusion matrix over all test pixels, then each metric once (what the
  MicroAUNet authors' code computes and what its tables print as mDice / mIoU).

Empty cases: every ratio whose numerator and denominator are both zero is 1 (nothing to find and
nothing found is a perfect score; e.g. an empty ground truth predicted empty has Dice 1, and
sensitivity 1 on an image without polyp). Boundary F-score: 1 when both masks are empty, 0 when
exactly one is. HD95: 0 when both are empty, undefined (NaN, left out of means and counted in
``hd95_undefined``) when exactly one is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

CONFUSION_METRICS = ("dice", "iou", "accuracy", "specificity", "sensitivity")
BOUNDARY_METRICS = ("boundary_f", "hd95")


def _ratio(num: float, den: float) -> float:
    return 1.0 if den == 0 else float(num) / float(den)


def confusion(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(tp, fp, fn, tn) as int64 for two boolean masks of the same shape."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {target.shape} differ in shape")
    pred, target = pred.astype(bool), target.astype(bool)
    tp = int(np.count_nonzero(pred & target))
    fp = int(np.count_nonzero(pred & ~target))
    fn = int(np.count_nonzero(~pred & target))
    return np.array([tp, fp, fn, pred.size - tp - fp - fn], dtype=np.int64)


def from_confusion(cm: np.ndarray) -> dict[str, float]:
    tp, fp, fn, tn = (int(v) for v in cm)
    return {
        "dice": _ratio(2 * tp, 2 * tp + fp + fn),
        "iou": _ratio(tp, tp + fp + fn),
        "accuracy": _ratio(tp + tn, tp + fp + fn + tn),
        "specificity": _ratio(tn, tn + fp),
        "sensitivity": _ratio(tp, tp + fn),
    }


def boundary(mask: np.ndarray) -> np.ndarray:
    """The mask's inner boundary: its pixels with a 4-neighbour outside it (the image edge counts as outside)."""
    mask = mask.astype(bool)
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def _distance_to(mask_boundary: np.ndarray) -> np.ndarray:
    """Euclidean distance of every pixel to the nearest pixel of a non-empty boundary."""
    return ndimage.distance_transform_edt(~mask_boundary)


def boundary_f(pred: np.ndarray, target: np.ndarray, tolerance: float = 2.0) -> float:
    """F-score of boundary pixels matched within ``tolerance`` pixels (Csurka et al.'s BF score)."""
    bp, bt = boundary(pred), boundary(target)
    if not bp.any() and not bt.any():
        return 1.0
    if not bp.any() or not bt.any():
        return 0.0
    precision = float(np.mean(_distance_to(bt)[bp] <= tolerance))
    recall = float(np.mean(_distance_to(bp)[bt] <= tolerance))
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def hd95(pred: np.ndarray, target: np.ndarray) -> float:
    """95th percentile of the symmetric boundary distances in pixels (the medpy definition)."""
    bp, bt = boundary(pred), boundary(target)
    if not bp.any() and not bt.any():
        return 0.0
    if not bp.any() or not bt.any():
        return float("nan")
    distances = np.concatenate([_distance_to(bt)[bp], _distance_to(bp)[bt]])
    return float(np.percentile(distances, 95))


def image_metrics(pred: np.ndarray, target: np.ndarray, tolerance: float = 2.0) -> dict[str, float]:
    """All metrics of one image from two boolean masks."""
    out = from_confusion(confusion(pred, target))
    out["boundary_f"] = boundary_f(pred, target, tolerance)
    out["hd95"] = hd95(pred, target)
    return out


@dataclass
class MetricAccumulator:
    """Collects per-image metrics and the pooled confusion matrix over a test set."""

    tolerance: float = 2.0
    ids: list[str] = field(default_factory=list)
    rows: list[dict[str, float]] = field(default_factory=list)
    pooled_cm: np.ndarray = field(default_factory=lambda: np.zeros(4, dtype=np.int64))

    def add(self, image_id: str, pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
        row = image_metrics(pred, target, self.tolerance)
        self.pooled_cm += confusion(pred, target)
        self.ids.append(image_id)
        self.rows.append(row)
        return row

    def summary(self) -> dict[str, object]:
        if not self.rows:
            raise ValueError("no images were evaluated")
        per_image = {}
        for name in CONFUSION_METRICS + BOUNDARY_METRICS:
            values = np.array([r[name] for r in self.rows], dtype=np.float64)
            per_image[name] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
            per_image[name + "_std"] = float(np.nanstd(values)) if np.isfinite(values).any() else float("nan")
        hd_undefined = int(sum(np.isnan(r["hd95"]) for r in self.rows))
        return {
            "images": len(self.rows),
            "per_image": per_image,
            "pooled": from_confusion(self.pooled_cm),
            "hd95_undefined": hd_undefined,
            "boundary_tolerance_px": self.tolerance,
        }
