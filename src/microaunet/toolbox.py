"""The polyp literature's metrics, as its evaluation toolbox computes them (through ``pysodmetrics``).

PraNet, Polyp-PVT and their successors report metrics of the saliency-detection toolbox rather than the
thresholded Dice of the MicroAUNet paper: the prediction is saved as an 8-bit grey image at the ground
truth's resolution, min-max normalised per image, and

- ``mean_dice`` / ``mean_iou``: Dice and IoU at each of 256 thresholds, averaged over thresholds and images
  (the toolbox's "meanDic" / "meanIoU");
- ``s_measure`` (S-alpha, alpha = 0.5), ``weighted_f`` (F-beta-w), ``mean_e_measure`` / ``max_e_measure``
  (E-phi averaged over or maximised across thresholds), ``mae``.
"""

from __future__ import annotations

import numpy as np

TOOLBOX_METRICS = ("mean_dice", "mean_iou", "weighted_f", "s_measure", "mean_e_measure", "max_e_measure", "mae")


class ToolboxAccumulator:
    """Feeds probability maps and ground truths at the image's own resolution to pysodmetrics."""

    def __init__(self) -> None:
        import py_sod_metrics as sod
        self._curves = sod.FmeasureV2(metric_handlers={
            "dice": sod.DICEHandler(with_dynamic=True, with_adaptive=False),
            "iou": sod.IOUHandler(with_dynamic=True, with_adaptive=False),
        })
        self._s, self._e, self._wf, self._mae = sod.Smeasure(), sod.Emeasure(), sod.WeightedFmeasure(), sod.MAE()
        self.images = 0

    def add(self, probability: np.ndarray, target: np.ndarray) -> None:
        """``probability`` in [0, 1] and boolean ``target``, both at the ground truth's resolution."""
        if probability.shape != target.shape:
            raise ValueError(f"probability {probability.shape} and ground truth {target.shape} differ in shape")
        pred = np.clip(np.rint(probability * 255), 0, 255).astype(np.uint8)
        gt = target.astype(np.uint8) * 255
        for metric in (self._curves, self._s, self._e, self._wf, self._mae):
            metric.step(pred=pred, gt=gt)
        self.images += 1

    def summary(self) -> dict[str, float]:
        if not self.images:
            raise ValueError("no images were evaluated")
        curves = self._curves.get_results()
        e_curve = self._e.get_results()["em"]["curve"]
        return {
            "mean_dice": float(np.mean(curves["dice"]["dynamic"])),
            "mean_iou": float(np.mean(curves["iou"]["dynamic"])),
            "weighted_f": float(self._wf.get_results()["wfm"]),
            "s_measure": float(self._s.get_results()["sm"]),
            "mean_e_measure": float(np.mean(e_curve)),
            "max_e_measure": float(np.max(e_curve)),
            "mae": float(self._mae.get_results()["mae"]),
        }
