"""Dice of the shipped weights on the Kvasir-SEG paper test split with the training resize (INTER_AREA) against a
cheaper one (INTER_LINEAR) for the model input: what a faster video resize would cost.

    python scripts/resize_dice.py ../shared/data/Kvasir-SEG [--weights microaunet-kvasir] [--limit 200]
"""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
import torch

from microaunet.data import find_pairs, read_image, read_mask
from microaunet.data.transforms import to_model_input
from microaunet.deploy.segmenter import resolve_weights
from microaunet.evaluation.evaluate import split_ids
from microaunet.training.checkpoint import load_model

RESIZES = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR}


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    total = pred.sum() + truth.sum()
    return 1.0 if total == 0 else float(2 * (pred & truth).sum() / total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="the Kvasir-SEG folder")
    parser.add_argument("--weights", default="microaunet-kvasir", help="shipped weights or a checkpoint")
    parser.add_argument("--limit", type=int, default=200, help="the first N test images")
    parser.add_argument("--size", type=int, default=256, help="model input size")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, info = load_model(resolve_weights(args.weights))
    model.eval()
    dataset = find_pairs(args.data)
    samples = dataset.subset(split_ids(dataset, "test", "paper"))[: args.limit]
    scores: dict[str, list[float]] = {name: [] for name in RESIZES}
    changed = []
    for sample in samples:
        image, truth = read_image(sample.image), read_mask(sample.mask).astype(bool)
        h, w = truth.shape
        masks = {}
        for name, flag in RESIZES.items():
            small = cv2.resize(image, (args.size, args.size), interpolation=flag)
            with torch.no_grad():
                prob = torch.sigmoid(model(to_model_input(torch.from_numpy(small)[None])))[0, 0].numpy()
            masks[name] = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5
            scores[name].append(dice(masks[name], truth))
        changed.append(float((masks["area"] != masks["linear"]).mean()))
    means = {name: round(float(np.mean(v)), 4) for name, v in scores.items()}
    delta = np.array(scores["linear"]) - np.array(scores["area"])
    print(json.dumps({"weights": args.weights, "images": len(samples), "split": "paper:test",
                      "dice_per_image_at_original": means, "linear_minus_area": round(float(delta.mean()), 5),
                      "largest_drop": round(float(delta.min()), 4), "largest_gain": round(float(delta.max()), 4),
                      "pixels_changed_mean": round(float(np.mean(changed)), 5)}, indent=2))


if __name__ == "__main__":
    main()
