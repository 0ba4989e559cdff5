"""ONNX export: a graph that takes images and returns probabilities, with its preprocessing in its metadata.

What the exported graph accepts, as input ``image``:

- by default, float32 ``(B, 3, H, W)``: RGB, divided by 255, then normalised per channel with the ImageNet
  mean and standard deviation (:data:`microaunet.data.augment.IMAGENET_MEAN` / ``IMAGENET_STD``), as in training;
- with ``raw_input``, uint8 ``(B, H, W, 3)``: RGB images as image libraries return them (NHWC, 0-255); the
  scaling and normalisation are inside the graph.

Batch, height and width are free: a height or width not divisible by 32 is padded (bottom and right, with the
normalised value 0) inside the graph and the output cropped back. With ``fixed_size`` only the batch is free
and the graph is specialised to ``size`` x ``size`` (no padding nodes where 32 divides it): what
:class:`~microaunet.deploy.segmenter.Segmenter`, which resizes every image to ``size``, exports and caches.
The models were trained on square images of ``input_size`` (metadata, 256 for the shipped weights): resize
to it for the accuracy the README reports. Output ``probability``: float32 ``(B, 1, H, W)`` in [0, 1];
``threshold`` (metadata) makes it a mask. With ``tta`` the graph batches the flipped views itself
(:mod:`microaunet.deploy.tta`). The model's metadata (``custom_metadata_map`` in ONNX Runtime) says all of
this, key by key.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD, to_model_input
from ..models.common import STRIDE
from .tta import TTA

OPSET = 17
EXPORT_VERSION = 4  # part of cached exports' names: bump whenever the exported graph changes


class DeployModel(nn.Module):
    """Images -> probabilities, as the exported graph computes them (and Segmenter's torch backend runs them):
    optional normalisation of uint8 NHWC input, padding to multiples of 32, test-time augmentation, crop."""

    def __init__(self, model: nn.Module, tta: str = "none", raw_input: bool = False, fixed_size: bool = False) -> None:
        super().__init__()
        self.tta, self.raw_input, self.fixed_size = TTA(model, tta), raw_input, fixed_size

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = to_model_input(image) if self.raw_input else image
        h, w = x.shape[2], x.shape[3]
        pad_h, pad_w = (STRIDE - h % STRIDE) % STRIDE, (STRIDE - w % STRIDE) % STRIDE
        # traced for free sizes, the padding must follow the input's size, so it stays in the graph
        if (self.fixed_size or not torch.jit.is_tracing()) and not (pad_h or pad_w):
            return self.tta(x)
        return self.tta(F.pad(x, (0, pad_w, 0, pad_h)))[:, :, :h, :w]


def example_input(size: int, raw_input: bool, batch: int = 1, height: int | None = None,
                  width: int | None = None, seed: int = 0) -> torch.Tensor:
    """A random input of the kind the exported graph takes (uint8 NHWC with ``raw_input``, else float NCHW)."""
    height, width = height or size, width or size
    generator = torch.Generator().manual_seed(seed)
    if raw_input:
        return torch.randint(0, 256, (batch, height, width, 3), generator=generator, dtype=torch.uint8)
    return torch.randn(batch, 3, height, width, generator=generator)


def deployment_metadata(size: int, tta: str = "none", raw_input: bool = False, threshold: float = 0.5,
                        model_name: str = "", weights: str = "") -> dict[str, str]:
    """What a program needs to feed the graph and read its output, as ONNX metadata (strings; lists in JSON)."""
    from .. import __version__

    layout = "NHWC" if raw_input else "NCHW"
    return {
        "model": model_name,
        "weights": weights,
        "microaunet_version": __version__,
        "input_name": "image",
        "input_layout": layout,
        "input_dtype": "uint8" if raw_input else "float32",
        "colour_order": "RGB",
        "scaling": "none (0-255; done inside the graph)" if raw_input else "x / 255",
        "mean": json.dumps(list(IMAGENET_MEAN)),
        "std": json.dumps(list(IMAGENET_STD)),
        "normalisation": "inside the graph" if raw_input else "by the caller: (x / 255 - mean) / std per channel",
        "input_size": str(size),
        "spatial_size": "any H and W; padded inside the graph to multiples of 32 and cropped back; the model was "
                        f"trained on {size}x{size} images: resize to that",
        "output_name": "probability",
        "output": "float32 (B, 1, H, W) sigmoid probabilities in [0, 1]",
        "threshold": str(threshold),
        "tta": tta,
    }


def export_onnx(model: nn.Module, path: str | Path, size: int = 256, tta: str = "none", raw_input: bool = False,
                threshold: float = 0.5, model_name: str = "", weights: str = "", fixed_size: bool = False) -> Path:
    """Export ``model`` as the graph the module docstring describes, input 'image', output 'probability'."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapped = DeployModel(model, tta, raw_input, fixed_size).eval()
    spatial = {0: "batch", 1: "height", 2: "width"} if raw_input else {0: "batch", 2: "height", 3: "width"}
    output = {0: "batch", 2: "height", 3: "width"}
    if fixed_size:
        spatial, output = {0: "batch"}, {0: "batch"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shape checks it skips while tracing
        torch.onnx.export(
            wrapped, (example_input(size, raw_input),), str(path), input_names=["image"],
            output_names=["probability"], opset_version=OPSET, dynamo=False,
            dynamic_axes={"image": spatial, "probability": output},
        )
    import onnx

    graph = onnx.load(str(path))
    _bypass_initializer_identities(graph)
    metadata = deployment_metadata(size, tta, raw_input, threshold, model_name, weights)
    if fixed_size:
        metadata["spatial_size"] = f"{size}x{size} only (a graph specialised to that size): resize to it"
    onnx.helper.set_model_props(graph, metadata)
    onnx.save(graph, str(path))
    return path


def _bypass_initializer_identities(model) -> None:  # an onnx.ModelProto, edited in place
    """Feed consumers of ``Identity(initializer)`` the initializer itself.

    The exporter shares equal weights (e.g. untrained GroupNorm scales, all ones) through Identity nodes,
    and ONNX Runtime 1.2x's graph optimisers then reject the model ("Node input ... is not a graph input").
    """
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    alias = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Identity" and n.input[0] in initializers}
    outputs = {o.name for o in graph.output}
    alias = {k: v for k, v in alias.items() if k not in outputs}
    if not alias:
        return
    kept = [n for n in graph.node if not (n.op_type == "Identity" and n.output[0] in alias)]
    for node in kept:
        node.input[:] = [alias.get(name, name) for name in node.input]
    del graph.node[:]
    graph.node.extend(kept)


def parity(model: nn.Module, path: str | Path, x: torch.Tensor, tta: str = "none", raw_input: bool = False) -> float:
    """Maximum absolute difference between PyTorch's and ONNX Runtime's probabilities on ``x``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    onnx_prob = session.run(None, {"image": x.numpy()})[0]
    with torch.no_grad():
        torch_prob = DeployModel(model.eval(), tta, raw_input)(x).numpy()
    return float(np.abs(onnx_prob - torch_prob).max())
