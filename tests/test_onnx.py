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


@pytest.mark.parametrize("name", ["microaunet", "malunet"])
def test_group_norm_exports_without_shape_arithmetic(name: str, tmp_path: Path) -> None:
    """GroupNorm exports as per-channel row/column means and a group-averaging 1x1 conv: no InstanceNorm
    over a whole group in one float32 sum, no Shape/Gather nodes (and ONNX Runtime's optimisers accept the
    untrained model, whose equal GroupNorm weights the exporter shares)."""
    import onnxruntime as ort

    path = export_onnx(build_model(name, seed=0).eval(), tmp_path / "m.onnx", size=64)
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert "InstanceNormalization" not in ops
    if name == "microaunet":  # MALUNet's external attention reshapes by itself
        assert not ops & {"Shape", "Gather"}, ops
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
