from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from microaunet.deploy.export import export_onnx, parity  # noqa: E402
from microaunet.models import build_model, list_models  # noqa: E402

# SANet: 50 randomly initialised Res2Net layers amplify float32 summation-order differences to a few 1e-4
PARITY = {"sanet": 1e-3}


@pytest.mark.parametrize("name", list_models())
def test_export_runs_in_onnxruntime_with_standard_ops(name: str, tmp_path: Path) -> None:
    model = build_model(name, seed=0).eval()
    path = export_onnx(model, tmp_path / f"{name}.onnx", size=64)
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph)
    assert {node.domain for node in graph.graph.node} <= {"", "ai.onnx"}  # no custom ops
    # dynamic batch and spatial size: another shape than the one exported
    x = torch.randn(2, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    assert parity(model, path, x) <= PARITY.get(name, 1e-4)


@pytest.mark.parametrize("name", ["microaunet", "malunet"])
def test_group_norm_exports_without_shape_arithmetic(name: str, tmp_path: Path) -> None:
    """GroupNorm exports as per-channel row/column means and a group-averaging 1x1 conv: no InstanceNorm
    over a whole group in one float32 sum, no Shape/Gather nodes (and ONNX Runtime's optimisers accept the
    untrained model, whose equal GroupNorm weights the exporter shares)."""
    import onnxruntime as ort

    path = export_onnx(build_model(name, seed=0).eval(), tmp_path / "m.onnx", size=64)
    nodes = onnx.load(str(path)).graph.node
    assert "InstanceNormalization" not in {node.op_type for node in nodes}
    if name == "microaunet":  # MALUNet's external attention reshapes by itself
        # the network's own nodes; the wrapper around it reads the input's size to pad it to multiples of 32
        ops = {node.op_type for node in nodes if node.name.startswith("/tta/model/")}
        assert "Conv" in ops and not ops & {"Shape", "Gather"}, ops
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _session(path: Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_raw_input_graph_normalises_inside_and_says_how_to_feed_it(tmp_path: Path) -> None:
    """uint8 RGB (B, H, W, 3) in the raw graph gives what the normalised input gives the plain graph; the metadata
    says what each takes."""
    import json

    from microaunet import __version__
    from microaunet.data.transforms import IMAGENET_MEAN, IMAGENET_STD, to_model_input

    model = build_model("microaunet", seed=0).eval()
    raw = export_onnx(model, tmp_path / "raw.onnx", 64, raw_input=True, threshold=0.4, model_name="microaunet",
                      weights="w.safetensors")
    plain = export_onnx(model, tmp_path / "plain.onnx", 64)
    images = np.random.default_rng(0).integers(0, 256, (2, 64, 96, 3), dtype=np.uint8)
    p_raw = _session(raw).run(None, {"image": images})[0]
    p_plain = _session(plain).run(None, {"image": to_model_input(torch.from_numpy(images)).numpy()})[0]
    assert p_raw.shape == (2, 1, 64, 96) and np.abs(p_raw - p_plain).max() <= 1e-5
    meta = _session(raw).get_modelmeta().custom_metadata_map
    assert (meta["input_layout"], meta["input_dtype"], meta["colour_order"]) == ("NHWC", "uint8", "RGB")
    assert json.loads(meta["mean"]) == list(IMAGENET_MEAN) and json.loads(meta["std"]) == list(IMAGENET_STD)
    assert (meta["input_size"], meta["threshold"], meta["tta"]) == ("64", "0.4", "none")
    assert (meta["model"], meta["weights"], meta["microaunet_version"]) == ("microaunet", "w.safetensors", __version__)
    meta = _session(plain).get_modelmeta().custom_metadata_map
    assert (meta["input_layout"], meta["input_dtype"], meta["scaling"]) == ("NCHW", "float32", "x / 255")


@pytest.mark.parametrize("raw_input", [False, True])
def test_graph_pads_sizes_not_divisible_by_32(raw_input: bool, tmp_path: Path) -> None:
    """A 70x100 input (ONNX Runtime once failed on it with a broadcast error) is padded inside and cropped back."""
    from microaunet.deploy.export import example_input

    model = build_model("microaunet", seed=0).eval()
    path = export_onnx(model, tmp_path / "m.onnx", 64, raw_input=raw_input)
    x = example_input(64, raw_input, batch=1, height=70, width=100)
    assert _session(path).run(None, {"image": x.numpy()})[0].shape == (1, 1, 70, 100)
    assert parity(model, path, x, raw_input=raw_input) <= 1e-4
