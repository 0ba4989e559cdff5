"""The Python inference API: ``Segmenter(...).predict(image)`` -> probability map and mask at the image's size.

Backends: ``onnx`` (ONNX Runtime on the CPU, the default) and ``torch`` (PyTorch, CUDA when asked
and present). The ONNX graph is exported once per weights file, size and test-time augmentation, and
cached (in :func:`microaunet.data.cache.default_cache_dir`, ``$MICROAUNET_CACHE`` when set).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from ..data.cache import announce_cache, default_cache_dir
from ..data.io import read_image
from ..data.transforms import resize_image, to_model_input
from ..training.checkpoint import load_model
from .export import EXPORT_VERSION, DeployModel, export_onnx
from .pretrained import DEFAULT_PRETRAINED, pretrained_path
from .tta import check_tta


@dataclass
class Prediction:
    probability: np.ndarray  # (H, W) float32 in [0, 1], at the input image's resolution
    mask: np.ndarray  # (H, W) bool


def as_rgb(image: np.ndarray, source: str = "image") -> np.ndarray:
    """Accept (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) uint8 arrays; return (H, W, 3) RGB."""
    if image.dtype != np.uint8:
        raise ValueError(f"{source}: expected a uint8 array, got {image.dtype}")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return image[..., :3]
    raise ValueError(f"{source}: expected an (H, W[, 1|3|4]) image, got shape {image.shape}")


def preprocess(images: list[np.ndarray], size: int) -> np.ndarray:
    """RGB uint8 images -> (B, 3, size, size) float32, normalised as in training."""
    batch = np.stack([resize_image(im, size) for im in images])
    return np.ascontiguousarray(to_model_input(torch.from_numpy(batch)).numpy())


def resolve_weights(weights: str | Path) -> Path:
    """A checkpoint path, or the name of shipped weights."""
    path = Path(weights)
    return path if path.suffix in (".pt", ".safetensors") or path.exists() else pretrained_path(str(weights))


def onnx_session(path: str | Path, threads: int = 0):
    """An ONNX Runtime CPU session with the options ``predict`` and ``bench speed`` share."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    # EXTENDED, not ALL: ALL adds the NCHWc layout, which pads these 4-32 channel maps to 8- or 16-channel
    # blocks and reorders around every GroupNorm; measured 1.1-1.8x slower for MicroAUNet and MALUNet
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class Segmenter:
    """Images in, probability maps and masks out, at each image's own size.

    ``weights``: shipped weights' name or a checkpoint path. Images are resized to ``size`` x ``size`` (the
    training size; one not divisible by 32 is padded and the output cropped back). ``tta``: ``none``,
    ``flip`` or ``flip4`` (:mod:`microaunet.deploy.tta`).
    """

    def __init__(self, weights: str | Path = DEFAULT_PRETRAINED, size: int = 256, threshold: float = 0.5,
                 backend: str = "onnx", device: str = "cpu", threads: int = 0, tta: str = "none") -> None:
        if size < 1:
            raise ValueError(f"size must be positive, got {size}")
        self.weights_path = resolve_weights(weights)
        self.model, self.info = load_model(self.weights_path)
        self.size, self.threshold, self.backend, self.tta = size, threshold, backend, check_tta(tta)
        if backend == "torch":
            if device.startswith("cuda") and not torch.cuda.is_available():
                raise ValueError("device cuda asked for, but PyTorch sees no CUDA device")
            self.device = torch.device(device)
            # channels-last is faster on a CPU, but its GroupNorm kernel drifts up to 4e-4 in probability
            self.memory_format = torch.channels_last if self.device.type == "cuda" else torch.contiguous_format
            self.runner = DeployModel(self.model.to(self.device, memory_format=self.memory_format), tta).eval()
            if threads:
                torch.set_num_threads(threads)
        elif backend == "onnx":
            self.session = self._onnx_session(threads)
        else:
            raise ValueError(f"backend must be 'onnx' or 'torch', got {backend!r}")

    def _onnx_session(self, threads: int):
        import onnxruntime  # noqa: F401  (where it is missing, fail before spending an export)

        digest = hashlib.sha256(self.weights_path.read_bytes()).hexdigest()[:16]
        name = f"{self.info['model']}-{digest}-{self.size}-{self.tta}-v{EXPORT_VERSION}.onnx"
        path = default_cache_dir() / "onnx" / name
        if not path.is_file():
            announce_cache(default_cache_dir(), "ONNX exports")
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            export_onnx(self.model, tmp, self.size, self.tta, model_name=self.info["model"],
                        weights=self.weights_path.name)
            os.replace(tmp, path)
        return onnx_session(path, threads)

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """(B, 3, S, S) normalised float32 -> (B, S, S) probabilities."""
        if self.backend == "onnx":
            return self.session.run(None, {"image": batch})[0][:, 0]
        with torch.no_grad():
            x = torch.from_numpy(batch).to(self.device).contiguous(memory_format=self.memory_format)
            return self.runner(x)[:, 0].float().cpu().numpy()

    def at_image_size(self, probability: np.ndarray, height: int, width: int) -> Prediction:
        """A (S, S) probability map resized back to the image and thresholded."""
        full = cv2.resize(probability, (width, height), interpolation=cv2.INTER_LINEAR)
        return Prediction(full, full >= self.threshold)

    def predict_batch(self, images: list[np.ndarray]) -> list[Prediction]:
        images = [as_rgb(im) for im in images]
        probs = self.probabilities(preprocess(images, self.size))
        return [self.at_image_size(prob, *image.shape[:2]) for image, prob in zip(images, probs)]

    def predict(self, image: np.ndarray | str | Path) -> Prediction:
        """One image: an RGB array (grayscale and RGBA are converted) or a path to an image file."""
        array = read_image(image) if isinstance(image, (str, Path)) else image
        return self.predict_batch([array])[0]
