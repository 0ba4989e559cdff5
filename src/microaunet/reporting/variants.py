"""The one home of the paper's model variants as the report names them: how a run's config maps to a label
(MicroAUNet means distilled, as in the paper), the order of the summary, which rows are Table 3's ablations,
the paper's printed figures for each, and the pairs the report compares image by image.

Every paper figure is the paper's pooled metric (one confusion matrix over the test split, 300 epochs).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models import display_name
from ..training.config import TrainConfig

PAPER_METRICS = ("dice", "iou", "accuracy", "specificity", "sensitivity")
PAPER_EPOCHS = 300  # the paper's training schedule, for every model
DATASETS = ("Kvasir-SEG", "CVC-ClinicDB")  # the paper's, in the order of its tables
Row = tuple[float, float, float, float, float]  # the paper's mDice, mIoU, Acc, Spe, Sen


@dataclass(frozen=True)
class Variant:
    label: str
    ablation: bool = False  # one of Table 3's ablations (not a Table 1 row)
    paper: tuple[Row, Row] | None = None  # (Kvasir-SEG, CVC-ClinicDB)


# in the summary's order
VARIANTS = (
    Variant("MALUNet", paper=((0.892, 0.857, 0.946, 0.962, 0.897), (0.906, 0.875, 0.959, 0.964, 0.912))),
    Variant("MicroAUNet", paper=((0.904, 0.861, 0.951, 0.964, 0.902), (0.902, 0.869, 0.957, 0.962, 0.908))),
    Variant("MicroAUNet, supervised only"),
    Variant("MicroAUNet-1 (no DWD convs)", True,
            ((0.892, 0.857, 0.946, 0.960, 0.896), (0.906, 0.875, 0.960, 0.966, 0.911))),
    Variant("MicroAUNet-2 (no imitation)", True,
            ((0.875, 0.840, 0.943, 0.957, 0.892), (0.878, 0.846, 0.951, 0.956, 0.903))),
    Variant("MicroAUNet-3 (no preference)", True,
            ((0.873, 0.836, 0.941, 0.955, 0.891), (0.881, 0.843, 0.953, 0.959, 0.906))),
    Variant("UNeXt-S", paper=((0.879, 0.837, 0.944, 0.968, 0.872), (0.889, 0.865, 0.956, 0.970, 0.872))),
    Variant("UNet", paper=((0.818, 0.746, 0.940, 0.967, 0.859), (0.823, 0.750, 0.953, 0.966, 0.860))),
    Variant("SANet", paper=((0.886, 0.847, 0.944, 0.960, 0.895), (0.898, 0.869, 0.957, 0.963, 0.901))),
)
BY_LABEL = {v.label: v for v in VARIANTS}
SUMMARY_ORDER = tuple(v.label for v in VARIANTS)
ABLATED = tuple(v.label for v in VARIANTS if v.ablation)
ABLATION_LABELS = ("MicroAUNet", *ABLATED, "MicroAUNet, supervised only")  # Table 3's rows
# (A, B) compared image by image in the report, run against run of the same seed (a student, its ablations and
# its supervised control share the teacher of their seed)
COMPARISONS = (
    ("MicroAUNet", "MALUNet"), ("MicroAUNet", "MicroAUNet, supervised only"),
    ("MicroAUNet-1 (no DWD convs)", "MicroAUNet"), ("MicroAUNet-2 (no imitation)", "MicroAUNet"),
    ("MicroAUNet-3 (no preference)", "MicroAUNet"), ("UNeXt-S", "MicroAUNet"),
)


def run_label(model: str, config: TrainConfig | None) -> str:
    """The paper's name for a trained variant; runs of this package's other recipes say what they changed."""
    name = display_name(model)
    kd = config.kd if config else "none"
    if kd == "output":
        changes = ["output KD"] + (["over-parameterised"] if config.overparam else []) \
            + (["deep supervision"] if config.deep_supervision else [])
        return f"{name} ({', '.join(changes)})"
    if model in ("microaunet", "microaunet-nodwd"):
        if kd == "none":
            return f"{name}, supervised only"
        paper = config.paper_kd
        if model == "microaunet-nodwd":
            return "MicroAUNet-1 (no DWD convs)" if paper.imitation and paper.preference else f"{name}, ablated"
        if not paper.imitation:
            return "MicroAUNet-2 (no imitation)"
        if not paper.preference:
            return "MicroAUNet-3 (no preference)"
        return "MicroAUNet"
    return f"{name}, distilled" if kd == "paper" else name


def paper_result(label: str, dataset: str) -> dict[str, float] | None:
    """The paper's pooled metrics of a variant on a dataset, or None where the paper has no such row."""
    variant = BY_LABEL.get(label)
    if variant is None or variant.paper is None or dataset not in DATASETS:
        return None
    return dict(zip(PAPER_METRICS, variant.paper[DATASETS.index(dataset)]))
