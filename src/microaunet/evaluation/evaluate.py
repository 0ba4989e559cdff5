"""Evaluation on a split: the paper's five metrics, pooled and per image, plus boundary metrics,
at the model's input size (the paper's protocol) and at each image's own resolution."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from ..data import DataError, PairedDataset, find_pairs, read_image, read_mask, resolve_split, train_val_ids
from ..data.pairs import Sample
from ..data.transforms import resize_image, resize_mask, to_model_input
from ..deploy.tta import TTA, check_tta
from ..models.common import STRIDE
from ..progress import progress
from .metrics import MetricAccumulator
from .toolbox import TOOLBOX_METRICS, ToolboxAccumulator

CONVENTIONS = (
    "per_image: each metric on each image, then the mean over images (the polyp literature's mDice); "
    "pooled: one confusion matrix over all pixels of the split (the MicroAUNet authors' mDice). "
    "Threshold 0.5 on sigmoid probabilities. 0/0 ratios count as 1 (an empty ground truth predicted empty "
    "scores Dice 1). boundary_f: boundary F-score at the stated pixel tolerance; hd95 in pixels, left out "
    "of the mean where exactly one mask is empty (counted in hd95_undefined)."
)


@torch.no_grad()
def predict_probability(model: nn.Module, image: np.ndarray, size: int,
                        tta: str = "none") -> tuple[np.ndarray, np.ndarray]:
    """Probabilities at the model's input size and resized back to the image's own size (``tta``: see
    :mod:`microaunet.deploy.tta`)."""
    x = to_model_input(torch.from_numpy(resize_image(image, size))[None]).contiguous(memory_format=torch.channels_last)
    prob = TTA(model, tta)(x)[0, 0].numpy()
    h, w = image.shape[:2]
    return prob, cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)


ImageTransform = Callable[[np.ndarray, str], np.ndarray]  # (RGB uint8 image at its own size, image id) -> image


def evaluate_samples(model: nn.Module, samples: list[Sample], size: int = 256, threshold: float = 0.5,
                     tolerance: float = 2.0, toolbox: bool = False,
                     predictions: dict[str, np.ndarray] | None = None, tta: str = "none",
                     transform: ImageTransform | None = None, desc: str = "evaluate") -> dict[str, Any]:
    """Metrics of ``model`` on ``samples``; with ``toolbox``, also the polyp toolbox's (at original size).
    A ``predictions`` dict receives each image's thresholded prediction at its own size, by image id;
    ``tta`` averages flipped views (:mod:`microaunet.deploy.tta`); ``transform`` changes each image as read, before
    the model's resize (a perturbation; masks stay as read); ``desc`` names the work in progress lines."""
    model.eval()
    check_tta(tta)
    if size % STRIDE:
        raise ValueError(f"size must be divisible by {STRIDE}, got {size}")
    at_size, at_original = MetricAccumulator(tolerance), MetricAccumulator(tolerance)
    literature = ToolboxAccumulator() if toolbox else None
    for sample in progress(samples, desc, "images"):
        image, mask = read_image(sample.image), read_mask(sample.mask)
        if image.shape[:2] != mask.shape:
            raise DataError(f"{sample.mask}: mask is {mask.shape[1]}x{mask.shape[0]} but its image "
                            f"{sample.image.name} is {image.shape[1]}x{image.shape[0]}")
        if transform is not None:
            image = transform(image, sample.id)
        try:
            prob, prob_full = predict_probability(model, image, size, tta)
            at_size.add(sample.id, prob >= threshold, resize_mask(mask, size).astype(bool))
            at_original.add(sample.id, prob_full >= threshold, mask)
            if literature:
                literature.add(prob_full, mask)
        except (ValueError, RuntimeError) as e:  # whatever fails on one image: say which
            raise DataError(f"{sample.image}: {str(e).strip().splitlines()[0]}") from None
        if predictions is not None:
            predictions[sample.id] = prob_full >= threshold
    result = {f"at_{size}": at_size.summary(), "at_original": at_original.summary(), "tta": tta}
    if literature:
        result["toolbox"] = literature.summary()
    return result | {"per_image_rows": [{"id": i, **r} for i, r in zip(at_size.ids, at_size.rows)]}


def split_ids(dataset: PairedDataset, split: str, definition: str, split_seed: int = 42,
              val_fraction: float = 0.1) -> list[str]:
    """The ids of ``split``: 'test' or 'train' of the definition, 'val' (the validation set that training carves
    out of the training ids, with the same fraction and seed), or 'all'."""
    if split == "all":
        return dataset.ids
    definition_ids = resolve_split(definition, dataset, seed=split_seed)
    if split == "val":
        return train_val_ids(definition_ids, dataset, val_fraction, seed=split_seed)[1]
    return definition_ids[split]


def run_split_definition(config: dict[str, Any], data: str | Path, split: str, given: str | None = None) -> str:
    """The split definition to read ``data`` with for a model whose run had ``config``: ``given``, else the one
    its run read ``data`` with, else paper.

    A run on several datasets records one definition for all or one per dataset, and carved each dataset's
    validation set out of that dataset's training ids; so ``split="val"`` of such a run must name one of its
    datasets (by folder, as resolved from here)."""
    if given:
        return given
    folders, definitions = config.get("data"), config.get("split") or "paper"
    if not isinstance(folders, list):
        return definitions
    definitions = definitions if isinstance(definitions, list) else [definitions] * len(folders)
    by_folder = {Path(folder).resolve(): definition for folder, definition in zip(folders, definitions)}
    definition = by_folder.get(Path(data).resolve())
    if definition is None and split == "val":
        raise ValueError(f"--split val: {data} is not one of the datasets this run trained on "
                         f"({', '.join(folders)}), whose validation sets were carved out of each one's training ids; "
                         "give one of them (or --split-def to name the definition yourself)")
    return definition or "paper"


def evaluate_split(model: nn.Module, data: str | Path, split: str = "test", definition: str = "paper",
                   size: int = 256, threshold: float = 0.5, tolerance: float = 2.0,
                   split_seed: int = 42, toolbox: bool = False,
                   predictions: dict[str, np.ndarray] | None = None, tta: str = "none",
                   val_fraction: float = 0.1, transform: ImageTransform | None = None,
                   desc: str = "evaluate") -> dict[str, Any]:
    """Evaluate on the ``split`` subset ('test', 'train', 'val' or 'all', see :func:`split_ids`) of the split
    ``definition`` (``predictions``, ``tta``, ``transform`` and ``desc``: as for :func:`evaluate_samples`)."""
    dataset = find_pairs(data)
    ids = split_ids(dataset, split, definition, split_seed, val_fraction)
    if not ids:
        raise ValueError(f"{data}: the '{split}' part of split '{definition}' is empty")
    result = evaluate_samples(model, dataset.subset(ids), size, threshold, tolerance, toolbox, predictions, tta,
                              transform, desc)
    return {"data": str(data), "split_definition": definition, "split": split, "images": len(ids),
            "size": size, "threshold": threshold, "conventions": CONVENTIONS} | result


def split_label(r: dict[str, Any]) -> str:
    """'paper:test', 'sequence:test', ...; plain 'all' when every pair was tested, whatever the definition."""
    return "all" if r["split"] == "all" else f"{r['split_definition']}:{r['split']}"


def format_evaluation(r: dict[str, Any]) -> str:
    names = ("dice", "iou", "accuracy", "specificity", "sensitivity")
    tta = f", test-time augmentation {r['tta']}" if r.get("tta", "none") != "none" else ""
    lines = [f"{r.get('model', '')} on {r['data']} ({split_label(r)}, {r['images']} images{tta})"]
    header = f"{'':24}" + "".join(f"{n[:11]:>12}" for n in names) + f"{'boundary_f':>12}{'hd95_px':>10}"
    lines.append(header)
    for key in (f"at_{r['size']}", "at_original"):
        s = r[key]
        lines.append(f"{key + ' per-image':24}" + "".join(f"{s['per_image'][n]:12.4f}" for n in names)
                     + f"{s['per_image']['boundary_f']:12.4f}{s['per_image']['hd95']:10.2f}")
        lines.append(f"{key + ' pooled':24}" + "".join(f"{s['pooled'][n]:12.4f}" for n in names))
    if "toolbox" in r:
        lines.append("polyp toolbox (original size): "
                     + ", ".join(f"{n} {r['toolbox'][n]:.4f}" for n in TOOLBOX_METRICS))
    tolerance = r[f"at_{r['size']}"]["boundary_tolerance_px"]
    lines.append(f"boundary tolerance {tolerance} px; " + r["conventions"])
    return "\n".join(lines)
