"""The Python inference API: ``Segmenter(...).predict(image)`` -> probability map and mask at the image's size.

Backends: ``onnx`` (ONNX Runtime on the CPU, the default), ``openvino`` (OpenVINO on the CPU, the same ONNX
graph; ``pip install "microaunet[openvino]"``) and ``torch`` (PyTorch, CUDA when asked and present). The ONNX
graph is exported once per weights file, size and test-time augmentation, at that fixed size (the batch stays
free), and cached (in :func:`microaunet.data.cache.default_cache_dir`, ``$MICROAUNET_CACHE`` when set).
Inference runs on one thread unless ``threads`` says otherwise (:mod:`microaunet.threads`).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ..data.cache import announce_cache, default_cache_dir
from ..data.io import read_image
from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD, resize_image
from ..threads import choose_threads
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


_MEAN = np.array(IMAGENET_MEAN, np.float32)[:, None, None]
_STD = np.array(IMAGENET_STD, np.float32)[:, None, None]


def preprocess(images: list[np.ndarray], size: int) -> np.ndarray:
    """RGB uint8 images -> (B, 3, size, size) float32, normalised as in training: bit for bit what
    :func:`~microaunet.data.transforms.to_model_input` computes (the same float32 operations in the same
    order), in NCHW before the arithmetic, which makes it 4x faster (0.2 ms at 256x256)."""
    batch = np.ascontiguousarray(np.stack([resize_image(im, size) for im in images]).transpose(0, 3, 1, 2))
    x = batch.astype(np.float32)
    x /= np.float32(255.0)
    x -= _MEAN
    x /= _STD
    return x


def resolve_weights(weights: str | Path) -> Path:
    """A checkpoint path, or the name of shipped weights."""
    path = Path(weights)
    return path if path.suffix in (".pt", ".safetensors") or path.exists() else pretrained_path(str(weights))


BACKENDS = ("onnx", "openvino", "torch")


def onnx_session(path: str | Path, threads: int = 0, spinning: bool = False):
    """An ONNX Runtime CPU session with the options ``predict`` and ``bench speed`` share: ``threads`` intra-op
    threads (0: :func:`microaunet.threads.choose_threads`, one unless told otherwise), which sleep while they
    wait unless ``spinning``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    # EXTENDED, not ALL: ALL adds the NCHWc layout, which pads these 4-32 channel maps to 8- or 16-channel
    # blocks and reorders around every GroupNorm; measured 1.8x slower for MicroAUNet (results/speed.md)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = choose_threads(threads)
    # spinning threads hold a core while they wait for work: 5-15x slower where other processes need the cores
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OpenVINORunner:
    """The exported ONNX graph compiled by OpenVINO for the CPU, one compiled model per batch size (static
    shapes: OpenVINO runs this graph 2-3x slower with free dimensions), in float32 (a CPU with bfloat16 support
    would otherwise run it in bfloat16)."""

    def __init__(self, path: str | Path, threads: int = 0) -> None:
        try:
            import openvino
        except ImportError:
            raise ModuleNotFoundError("the openvino backend needs OpenVINO: pip install 'microaunet[openvino]'",
                                      name="openvino") from None
        self.core, self.path = openvino.Core(), str(path)
        self.config = {"INFERENCE_NUM_THREADS": choose_threads(threads), "PERFORMANCE_HINT": "LATENCY",
                       "INFERENCE_PRECISION_HINT": "f32"}
        self.requests: dict[tuple[int, ...], Any] = {}

    def run(self, batch: np.ndarray) -> np.ndarray:
        request = self.requests.get(batch.shape)
        if request is None:
            model = self.core.read_model(self.path)
            model.reshape(list(batch.shape))
            request = self.requests[batch.shape] = self.core.compile_model(model, "CPU", self.config)\
                .create_infer_request()
        return request.infer({0: batch})[0].copy()


class Segmenter:
    """Images in, probability maps and masks out, at each image's own size.

    ``weights``: shipped weights' name or a checkpoint path. Images are resized to ``size`` x ``size`` (the
    training size; one not divisible by 32 is padded and the output cropped back). ``tta``: ``none``,
    ``flip`` or ``flip4`` (:mod:`microaunet.deploy.tta`). ``backend``: one of :data:`BACKENDS`. ``threads``:
    inference threads (0: :func:`microaunet.threads.choose_threads`, one unless ``MICROAUNET_THREADS`` says
    otherwise).
    """

    def __init__(self, weights: str | Path = DEFAULT_PRETRAINED, size: int = 256, threshold: float = 0.5,
                 backend: str = "onnx", device: str = "cpu", threads: int = 0, tta: str = "none") -> None:
        if size < 1:
            raise ValueError(f"size must be positive, got {size}")
        self.weights_path = resolve_weights(weights)
        self.model, self.info = load_model(self.weights_path)
        self.size, self.threshold, self.backend, self.tta = size, threshold, backend, check_tta(tta)
        self.device_name, self.threads = device, threads
        if backend == "torch":
            if device.startswith("cuda") and not torch.cuda.is_available():
                raise ValueError("device cuda asked for, but PyTorch sees no CUDA device")
            self.device = torch.device(device)
            # channels-last is faster on a CPU, but its GroupNorm kernel drifts up to 4e-4 in probability
            self.memory_format = torch.channels_last if self.device.type == "cuda" else torch.contiguous_format
            self.runner = DeployModel(self.model.to(self.device, memory_format=self.memory_format), tta).eval()
            if self.device.type == "cpu":
                torch.set_num_threads(choose_threads(threads))
        elif backend == "onnx":
            import onnxruntime  # noqa: F401  (where it is missing, fail before spending an export)

            self.session = onnx_session(self.onnx_path(), threads)
        elif backend == "openvino":
            self.session = OpenVINORunner(self.onnx_path(), threads)
        else:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")

    def with_tta(self, tta: str) -> Segmenter:
        """A segmenter like this one (weights, size, threshold, backend, device, threads) with test-time
        augmentation ``tta``: this one itself when it already has that mode."""
        if check_tta(tta) == self.tta:
            return self
        return Segmenter(self.weights_path, self.size, self.threshold, self.backend, self.device_name, self.threads,
                         tta)

    def onnx_path(self) -> Path:
        """The cached ONNX export of these weights at this size and TTA (exported on first use)."""
        digest = hashlib.sha256(self.weights_path.read_bytes()).hexdigest()[:16]
        name = f"{self.info['model']}-{digest}-{self.size}-{self.tta}-v{EXPORT_VERSION}.onnx"
        path = default_cache_dir() / "onnx" / name
        if not path.is_file():
            announce_cache(default_cache_dir(), "ONNX exports")
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            export_onnx(self.model, tmp, self.size, self.tta, model_name=self.info["model"],
                        weights=self.weights_path.name, fixed_size=True)
            os.replace(tmp, path)
        return path

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """(B, 3, S, S) normalised float32 -> (B, S, S) probabilities."""
        if self.backend == "onnx":
            return self.session.run(None, {"image": batch})[0][:, 0]
        if self.backend == "openvino":
            return self.session.run(batch)[:, 0]
        with torch.no_grad():
            x = torch.from_numpy(batch).to(self.device).contiguous(memory_format=self.memory_format)
            return self.runner(x)[:, 0].float().cpu().numpy()

    def at_image_size(self, probability: np.ndarray, height: int, width: int) -> Prediction:
        """A (S, S) probability map resized back to the image and thresholded."""
        full = cv2.resize(probability, (width, height), interpolation=cv2.INTER_LINEAR)
        return Prediction(full, full >= self.threshold)

    def mask_at_image_size(self, probability: np.ndarray, height: int, width: int) -> np.ndarray:
        """The mask of :meth:`at_image_size` as uint8 0/255 (what a mask PNG holds), without the bool pass."""
        full = cv2.resize(probability, (width, height), interpolation=cv2.INTER_LINEAR)
        return cv2.compare(full, self.threshold, cv2.CMP_GE)

    def predict_batch(self, images: list[np.ndarray]) -> list[Prediction]:
        images = [as_rgb(im) for im in images]
        probs = self.probabilities(preprocess(images, self.size))
        return [self.at_image_size(prob, *image.shape[:2]) for image, prob in zip(images, probs)]

    def predict(self, image: np.ndarray | str | Path) -> Prediction:
        """One image: an RGB array (grayscale and RGBA are converted) or a path to an image file."""
        array = read_image(image) if isinstance(image, (str, Path)) else image
        return self.predict_batch([array])[0]
