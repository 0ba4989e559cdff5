"""The polyp literature's metrics, computed as its evaluation toolbox computes them.

PraNet, Polyp-PVT and their successors report metrics of the saliency-detection toolbox rather than the
thresholded Dice of the MicroAUNet paper: the prediction is saved as an 8-bit grey image at the ground
truth's resolution, min-max normalised per image, and

- ``mean_dice`` / ``mean_iou``: Dice and IoU at each of 256 thresholds, averaged over thresholds and images
  (the toolbox's "meanDic" / "meanIoU");
- ``s_measure`` (S-alpha, alpha = 0.5), ``weighted_f`` (F-beta-w), ``mean_e_measure`` / ``max_e_measure``
  (E-phi averaged over or maximised across thresholds), ``mae``.

The formulas are those of ``pysodmetrics`` (the toolbox's Python port, which the tests compare this module
with), written out here because every release of it caps numpy (its latest below 2.3.5, and OpenCV below 5),
which made installing it downgrade both.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import convolve, distance_transform_edt

TOOLBOX_METRICS = ("mean_dice", "mean_iou", "weighted_f", "s_measure", "mean_e_measure", "max_e_measure", "mae")
EPS = np.spacing(1)  # MATLAB's eps, as the toolbox uses it


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0."""
    denominator = np.asarray(denominator, np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(denominator), where=denominator != 0)


def _counts_at_thresholds(grey: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True and false positives at thresholds 255, 254, ..., 0 (``grey >= t``)."""
    bins = np.linspace(0, 256, 257)
    tp = np.cumsum(np.flip(np.histogram(grey[gt], bins=bins)[0]))
    fp = np.cumsum(np.flip(np.histogram(grey[~gt], bins=bins)[0]))
    return tp, fp


def _s_object(x: np.ndarray) -> float:
    mean = np.mean(x)
    std = np.std(x, ddof=1) if x.size > 1 else 0.0
    return 2 * mean / (mean**2 + 1 + std + EPS)


def _ssim(pred: np.ndarray, gt: np.ndarray) -> float:
    n = pred.size
    x, y = np.mean(pred), np.mean(gt)
    sigma_x = np.sum((pred - x) ** 2) / (n - 1 + EPS)
    sigma_y = np.sum((gt - y) ** 2) / (n - 1 + EPS)
    sigma_xy = np.sum((pred - x) * (gt - y)) / (n - 1 + EPS)
    alpha = 4 * x * y * sigma_xy
    beta = (x**2 + y**2) * (sigma_x + sigma_y)
    if alpha != 0:
        return alpha / (beta + EPS)
    return 1.0 if beta == 0 else 0.0


def s_measure(pred: np.ndarray, gt: np.ndarray, alpha: float = 0.5) -> float:
    """Structure measure (Fan et al., ICCV 2017): object- and region-aware similarity."""
    y = np.mean(gt)
    if y == 0:
        return float(1 - np.mean(pred))
    if y == 1:
        return float(np.mean(pred))
    objects = _s_object(pred[gt]) * y + _s_object((1 - pred)[~gt]) * (1 - y)
    h, w = gt.shape
    cy, cx = np.argwhere(gt).mean(axis=0).round()
    cy, cx = int(cy) + 1, int(cx) + 1  # MATLAB's 1-based split, as the toolbox draws it
    w_lt, w_rt, w_lb = cx * cy / (h * w), cy * (w - cx) / (h * w), (h - cy) * cx / (h * w)
    regions = (_ssim(pred[:cy, :cx], gt[:cy, :cx]) * w_lt + _ssim(pred[:cy, cx:], gt[:cy, cx:]) * w_rt
               + _ssim(pred[cy:, :cx], gt[cy:, :cx]) * w_lb
               + _ssim(pred[cy:, cx:], gt[cy:, cx:]) * (1 - w_lt - w_rt - w_lb))
    return float(max(0.0, alpha * objects + (1 - alpha) * regions))


def e_measure_curve(grey: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Enhanced-alignment measure (Fan et al., IJCAI 2018) at thresholds 255, ..., 0 of the 8-bit map."""
    size, fg = gt.size, np.count_nonzero(gt)
    tp, fp = _counts_at_thresholds(grey, gt)
    predicted = tp + fp
    if fg == 0:
        return (size - predicted) / (size - 1 + EPS)
    if fg == size:
        return predicted / (size - 1 + EPS)
    fn, tn = fg - tp, size - predicted - (fg - tp)
    mean_pred, mean_gt = predicted / size, fg / size
    total = np.zeros(256)
    for count, p, g in ((tp, 1 - mean_pred, 1 - mean_gt), (fp, 1 - mean_pred, -mean_gt),
                        (fn, -mean_pred, 1 - mean_gt), (tn, -mean_pred, -mean_gt)):
        align = 2 * p * g / (p**2 + g**2 + EPS)
        total += (align + 1) ** 2 / 4 * count
    return total / (size - 1 + EPS)


def _gaussian_kernel(size: int = 7, sigma: float = 5.0) -> np.ndarray:
    """MATLAB's fspecial('gaussian', size, sigma)."""
    m = (size - 1) / 2
    y, x = np.ogrid[-m:m + 1, -m:m + 1]
    h = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    h[h < np.finfo(h.dtype).eps * h.max()] = 0
    return h / h.sum()


def weighted_f(pred: np.ndarray, gt: np.ndarray, beta: float = 1.0) -> float:
    """Weighted F-measure (Margolin et al., CVPR 2014); 0 for an empty ground truth, as in the toolbox."""
    if not gt.any():
        return 0.0
    distance, nearest = distance_transform_edt(~gt, return_indices=True)
    error = np.abs(pred - gt)
    dependent = error.copy()
    dependent[~gt] = dependent[nearest[0][~gt], nearest[1][~gt]]  # a background pixel takes its edge's error
    smoothed = convolve(dependent, weights=_gaussian_kernel(), mode="constant", cval=0)
    least = np.where(gt & (smoothed < error), smoothed, error)
    weighted = least * np.where(gt, 1.0, 2 - np.exp(np.log(0.5) / 5 * distance))
    tp = np.sum(gt) - np.sum(weighted[gt])
    fp = np.sum(weighted[~gt])
    recall = 1 - np.mean(weighted[gt])
    precision = tp / (tp + fp + EPS)
    return float((1 + beta) * recall * precision / (recall + beta * precision + EPS))


class ToolboxAccumulator:
    """Probability maps and ground truths at the image's own resolution in, the toolbox's means out."""

    def __init__(self) -> None:
        self._dice: list[np.ndarray] = []
        self._iou: list[np.ndarray] = []
        self._e: list[np.ndarray] = []
        self._s: list[float] = []
        self._wf: list[float] = []
        self._mae: list[float] = []

    def add(self, probability: np.ndarray, target: np.ndarray) -> None:
        """``probability`` in [0, 1] and boolean ``target``, both at the ground truth's resolution."""
        if probability.shape != target.shape:
            raise ValueError(f"probability {probability.shape} and ground truth {target.shape} differ in shape")
        pred = np.clip(np.rint(probability * 255), 0, 255).astype(np.uint8) / 255  # the saved 8-bit image
        if pred.max() != pred.min():
            pred = (pred - pred.min()) / (pred.max() - pred.min())
        gt = np.asarray(target, bool)
        grey = (pred * 255).astype(np.uint8)
        tp, fp = _counts_at_thresholds(grey, gt)
        fg = np.count_nonzero(gt)
        self._dice.append(_divide(2 * tp, tp + fg + fp))
        self._iou.append(_divide(tp, fg + fp))
        self._e.append(e_measure_curve(grey, gt))
        self._s.append(s_measure(pred, gt))
        self._wf.append(weighted_f(pred, gt))
        self._mae.append(float(np.mean(np.abs(pred - gt))))

    def summary(self) -> dict[str, float]:
        if not self._mae:
            raise ValueError("no images were evaluated")
        e_curve = np.mean(self._e, axis=0)
        return {
            "mean_dice": float(np.mean(np.mean(self._dice, axis=0))),
            "mean_iou": float(np.mean(np.mean(self._iou, axis=0))),
            "weighted_f": float(np.mean(self._wf)),
            "s_measure": float(np.mean(self._s)),
            "mean_e_measure": float(np.mean(e_curve)),
            "max_e_measure": float(np.max(e_curve)),
            "mae": float(np.mean(self._mae)),
        }
