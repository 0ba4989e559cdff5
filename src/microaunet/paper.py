"""The MicroAUNet paper's printed results (Tables 1 and 3), quoted to sit beside our measurements.

Every value is the paper's pooled metric (one confusion matrix over the test split, 300 epochs),
keyed by our run labels and test dataset names.
"""

from __future__ import annotations

PAPER_METRICS = ("dice", "iou", "accuracy", "specificity", "sensitivity")
PAPER_EPOCHS = 300  # the paper's training schedule, for every model

_ROWS = {
    # label: (Kvasir-SEG mDice, mIoU, Acc, Spe, Sen), (CVC-ClinicDB ...)
    "UNet": ((0.818, 0.746, 0.940, 0.967, 0.859), (0.823, 0.750, 0.953, 0.966, 0.860)),
    "SANet": ((0.886, 0.847, 0.944, 0.960, 0.895), (0.898, 0.869, 0.957, 0.963, 0.901)),
    "UNeXt-S": ((0.879, 0.837, 0.944, 0.968, 0.872), (0.889, 0.865, 0.956, 0.970, 0.872)),
    "MALUNet": ((0.892, 0.857, 0.946, 0.962, 0.897), (0.906, 0.875, 0.959, 0.964, 0.912)),
    "MicroAUNet": ((0.904, 0.861, 0.951, 0.964, 0.902), (0.902, 0.869, 0.957, 0.962, 0.908)),
    "MicroAUNet-1 (no DWD convs)": ((0.892, 0.857, 0.946, 0.960, 0.896), (0.906, 0.875, 0.960, 0.966, 0.911)),
    "MicroAUNet-2 (no imitation)": ((0.875, 0.840, 0.943, 0.957, 0.892), (0.878, 0.846, 0.951, 0.956, 0.903)),
    "MicroAUNet-3 (no preference)": ((0.873, 0.836, 0.941, 0.955, 0.891), (0.881, 0.843, 0.953, 0.959, 0.906)),
}
DATASETS = ("Kvasir-SEG", "CVC-ClinicDB")


def paper_result(label: str, dataset: str) -> dict[str, float] | None:
    """The paper's pooled metrics of a model on a dataset, or None where the paper has no such row."""
    if label not in _ROWS or dataset not in DATASETS:
        return None
    return dict(zip(PAPER_METRICS, _ROWS[label][DATASETS.index(dataset)]))
