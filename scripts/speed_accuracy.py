"""What the speed options would cost in accuracy: Dice of the shipped weights on the Kvasir-SEG paper test split.

    python scripts/speed_accuracy.py resize ../shared/data/Kvasir-SEG [--limit 200]
        the training resize of the model input (INTER_AREA) against a 5x cheaper one at 720p (INTER_LINEAR)
    python scripts/speed_accuracy.py int8 ../shared/data/Kvasir-SEG [--limit 50] [--calib 32]
        float32 against int8 (static QDQ, ONNX Runtime's quantiser, calibrated on training images), with the
        batch-1 one-thread latency of each

Dice per image at each image's own resolution, threshold 0.5; JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from microaunet.data import find_pairs, read_image, read_mask
from microaunet.data.pairs import Sample
from microaunet.data.transforms import to_model_input
from microaunet.deploy.segmenter import Segmenter, onnx_session, preprocess, resolve_weights
from microaunet.evaluation.evaluate import split_ids
from microaunet.training.checkpoint import load_model

RESIZES = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR}


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    total = pred.sum() + truth.sum()
    return 1.0 if total == 0 else float(2 * (pred & truth).sum() / total)


def score(samples: list[Sample], variants: dict[str, Callable[[np.ndarray], np.ndarray]]) -> dict[str, list[float]]:
    """Each variant (image -> probability map at the model's size) scored on each sample at its own size."""
    scores: dict[str, list[float]] = {name: [] for name in variants}
    for sample in samples:
        image, truth = read_image(sample.image), read_mask(sample.mask).astype(bool)
        for name, probability in variants.items():
            full = cv2.resize(probability(image), truth.shape[::-1], interpolation=cv2.INTER_LINEAR) >= 0.5
            scores[name].append(dice(full, truth))
    return scores


def summary(scores: dict[str, list[float]], base: str, other: str) -> dict[str, float | dict[str, float]]:
    delta = np.array(scores[other]) - np.array(scores[base])
    return {"dice_per_image_at_original": {k: round(float(np.mean(v)), 4) for k, v in scores.items()},
            f"{other}_minus_{base}": round(float(delta.mean()), 5), "largest_drop": round(float(delta.min()), 4),
            "largest_gain": round(float(delta.max()), 4)}


def resize_cost(args: argparse.Namespace, test: list[Sample]) -> dict:
    torch.set_num_threads(1)
    model = load_model(resolve_weights(args.weights))[0].eval()

    def variant(flag: int) -> Callable[[np.ndarray], np.ndarray]:
        def probability(image: np.ndarray) -> np.ndarray:
            small = cv2.resize(image, (args.size, args.size), interpolation=flag)
            with torch.no_grad():
                return torch.sigmoid(model(to_model_input(torch.from_numpy(small)[None])))[0, 0].numpy()
        return probability

    return summary(score(test, {name: variant(flag) for name, flag in RESIZES.items()}), "area", "linear")


def latency_ms(session, x: np.ndarray, repeats: int = 200) -> float:
    for _ in range(20):
        session.run(None, {"image": x})
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        session.run(None, {"image": x})
        times.append(time.perf_counter() - t0)
    return round(1000 * float(np.median(times)), 3)


def int8_cost(args: argparse.Namespace, test: list[Sample], dataset) -> dict:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    segmenter = Segmenter(args.weights, size=args.size, threads=1)
    calib = dataset.subset(split_ids(dataset, "train", "paper"))[: args.calib]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"image": preprocess([read_image(s.image)], args.size)} for s in calib])

        def get_next(self):
            return next(self.items, None)

    with tempfile.TemporaryDirectory() as tmp:
        int8_path = Path(tmp) / "int8.onnx"
        quantize_static(str(segmenter.onnx_path()), str(int8_path), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
        sessions = {"fp32": onnx_session(segmenter.onnx_path(), 1), "int8": onnx_session(int8_path, 1)}
        variants = {name: (lambda image, s=s: s.run(None, {"image": preprocess([image], args.size)})[0][0, 0])
                    for name, s in sessions.items()}
        result = summary(score(test, variants), "fp32", "int8")
        x = preprocess([read_image(test[0].image)], args.size)
        result["latency_ms_batch1_1thread"] = {name: latency_ms(s, x) for name, s in sessions.items()}
    return {"calibration_images": len(calib)} | result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["resize", "int8"], help="the option whose cost to measure")
    parser.add_argument("data", help="the Kvasir-SEG folder")
    parser.add_argument("--weights", default="microaunet-kvasir", help="shipped weights or a checkpoint")
    parser.add_argument("--limit", type=int, help="the first N test images (default: 200 for resize, 50 for int8)")
    parser.add_argument("--calib", type=int, default=32, help="int8: training images to calibrate on")
    parser.add_argument("--size", type=int, default=256, help="model input size")
    args = parser.parse_args()
    dataset = find_pairs(args.data)
    test = dataset.subset(split_ids(dataset, "test", "paper"))[: args.limit or (200 if args.what == "resize" else 50)]
    result = resize_cost(args, test) if args.what == "resize" else int8_cost(args, test, dataset)
    print(json.dumps({"weights": args.weights, "split": "paper:test", "images": len(test)} | result, indent=2))


if __name__ == "__main__":
    main()
