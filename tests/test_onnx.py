from __future__ import annotations

from pathlib import Path

import pytest
import torch

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from microaunet.export import export_onnx, parity  # noqa: E402
from microaunet.models import build_model  # noqa: E402

SMALL = ["microaunet", "microaunet-wide", "microaunet-nodwd", "malunet", "unext-s"]


@pytest.mark.parametrize("name", SMALL)
def test_export_runs_in_onnxruntime_with_standard_ops(name: str, tmp_path: Path) -> None:
    model = build_model(name, seed=0).eval()
    path = export_onnx(model, tmp_path / f"{name}.onnx", size=64)
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph)
    assert {node.domain for node in graph.graph.node} <= {"", "ai.onnx"}  # no custom ops
    # dynamic batch and spatial size: another shape than the one exported
    x = torch.randn(2, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    assert parity(model, path, x) <= 1e-4
