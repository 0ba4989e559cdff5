"""ONNX export: probabilities out (the sigmoid is part of the graph), dynamic batch and spatial size."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

OPSET = 17
EXPORT_VERSION = 2  # part of cached exports' names: bump whenever the exported graph changes


class ProbabilityModel(nn.Module):
    """Wraps a logits model so that the exported graph returns sigmoid probabilities."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(image))


def export_onnx(model: nn.Module, path: str | Path, size: int = 256) -> Path:
    """Export with input 'image' (B, 3, H, W) normalised as in training, output 'probability' (B, 1, H, W)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapped = ProbabilityModel(model).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shape checks it skips while tracing
        torch.onnx.export(
            wrapped, (torch.randn(1, 3, size, size),), str(path), input_names=["image"],
            output_names=["probability"], opset_version=OPSET, dynamo=False,
            dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                          "probability": {0: "batch", 2: "height", 3: "width"}},
        )
    _bypass_initializer_identities(path)
    return path


def _bypass_initializer_identities(path: Path) -> None:
    """Feed consumers of ``Identity(initializer)`` the initializer itself.

    The exporter shares equal weights (e.g. untrained GroupNorm scales, all ones) through Identity nodes,
    and ONNX Runtime 1.2x's graph optimisers then reject the model ("Node input ... is not a graph input").
    """
    import onnx

    model = onnx.load(str(path))
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
    onnx.save(model, str(path))


def parity(model: nn.Module, path: str | Path, x: torch.Tensor) -> float:
    """Maximum absolute difference between PyTorch's and ONNX Runtime's probabilities on ``x``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    onnx_prob = session.run(None, {"image": x.numpy()})[0]
    with torch.no_grad():
        torch_prob = torch.sigmoid(model.eval()(x)).numpy()
    return float(np.abs(onnx_prob - torch_prob).max())
