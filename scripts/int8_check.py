"""int8 (static QDQ, ONNX Runtime's quantiser, calibrated on training images) against float32 for the shipped
weights: Dice on the first test images of the Kvasir-SEG paper split, and batch-1 one-thread latency.

    python scripts/int8_check.py ../shared/data/Kvasir-SEG [--weights microaunet-kvasir] [--test 50] [--calib 32]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from microaunet.data import find_pairs, read_image, read_mask
from microaunet.deploy.segmenter import Segmenter, onnx_session, preprocess
from microaunet.evaluation.evaluate import split_ids


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    total = pred.sum() + truth.sum()
    return 1.0 if total == 0 else float(2 * (pred & truth).sum() / total)


def latency_ms(session, x: np.ndarray, repeats: int = 200) -> float:
    for _ in range(20):
        session.run(None, {"image": x})
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        session.run(None, {"image": x})
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def main() -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="the Kvasir-SEG folder")
    parser.add_argument("--weights", default="microaunet-kvasir", help="shipped weights or a checkpoint")
    parser.add_argument("--test", type=int, default=50, help="the first N test images")
    parser.add_argument("--calib", type=int, default=32, help="training images to calibrate on")
    args = parser.parse_args()
    segmenter = Segmenter(args.weights, threads=1)
    dataset = find_pairs(args.data)
    calib = dataset.subset(split_ids(dataset, "train", "paper"))[: args.calib]
    test = dataset.subset(split_ids(dataset, "test", "paper"))[: args.test]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"image": preprocess([read_image(s.image)], segmenter.size)} for s in calib])

        def get_next(self):
            return next(self.items, None)

    with tempfile.TemporaryDirectory() as tmp:
        int8_path = Path(tmp) / "int8.onnx"
        quantize_static(str(segmenter.onnx_path()), str(int8_path), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
        sessions = {"fp32": onnx_session(segmenter.onnx_path(), 1), "int8": onnx_session(int8_path, 1)}
        scores: dict[str, list[float]] = {name: [] for name in sessions}
        for sample in test:
            image, truth = read_image(sample.image), read_mask(sample.mask).astype(bool)
            x = preprocess([image], segmenter.size)
            for name, session in sessions.items():
                prob = session.run(None, {"image": x})[0][0, 0]
                full = cv2.resize(prob, truth.shape[::-1], interpolation=cv2.INTER_LINEAR) >= segmenter.threshold
                scores[name].append(dice(full, truth))
        x = preprocess([read_image(test[0].image)], segmenter.size)
        result = {"weights": args.weights, "test_images": len(test), "calibration_images": len(calib),
                  "dice_per_image_at_original": {k: round(float(np.mean(v)), 4) for k, v in scores.items()},
                  "latency_ms_batch1_1thread": {k: round(latency_ms(s, x), 3) for k, s in sessions.items()}}
    result["dice_cost"] = round(result["dice_per_image_at_original"]["fp32"]
                                - result["dice_per_image_at_original"]["int8"], 4)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
