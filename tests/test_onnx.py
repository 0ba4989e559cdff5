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


def _trained_like(name: str) -> torch.nn.Module:
    """A model whose norms carry trained-looking affine parts (negative scales too) and BatchNorm statistics,
    so that the graph's folds are exercised off their identity."""
    model = build_model(name, seed=0)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.GroupNorm, torch.nn.BatchNorm2d)):
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator))
                module.bias.copy_(0.3 * torch.randn(module.bias.shape, generator=generator))
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.copy_(0.1 * torch.randn(module.running_mean.shape, generator=generator))
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)
    return model.eval()


@pytest.mark.parametrize("name", ["microaunet", "malunet"])
@pytest.mark.parametrize("fixed_size", [False, True])
def test_fused_graph_equals_pytorch(name: str, fixed_size: bool, tmp_path: Path) -> None:
    """The export's folds (GroupNorm's affine into the next 1x1 conv and past the max-pool, (a + 1) * x for
    a * x + x) and the fixed-size graph leave the function as it was: within 1e-5 of PyTorch's probabilities."""
    model = _trained_like(name)
    path = export_onnx(model, tmp_path / "m.onnx", size=64, fixed_size=fixed_size)
    x = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    assert parity(model, path, x) <= 1e-5
    graph = onnx.load(str(path))
    if fixed_size:  # only the batch is free, and no padding arithmetic is left
        dims = [d.dim_param or d.dim_value for d in graph.graph.input[0].type.tensor_type.shape.dim]
        assert dims == ["batch", 3, 64, 64] and "Mod" not in {n.op_type for n in graph.graph.node}


def test_group_norm_folds_remove_passes(tmp_path: Path) -> None:
    """Where a 1x1 conv follows, the norm's scale and shift are in the conv's weights: two elementwise nodes
    fewer over the map than the norm and the conv exported one after the other, and the same function."""
    import onnxruntime as ort

    from microaunet.models.layers import DWUnit

    unit = DWUnit(8, 12, kernel_size=3).eval()
    with torch.no_grad():
        unit[1].weight.uniform_(-2, 2)
        unit[1].bias.uniform_(-1, 1)
    x = torch.randn(2, 8, 16, 16)
    counts = {}
    for form, module in (("folded", unit), ("plain", torch.nn.Sequential(*unit))):
        path = tmp_path / f"{form}.onnx"
        torch.onnx.export(module, (x,), str(path), opset_version=17, dynamo=False, input_names=["x"])
        options = ort.SessionOptions()  # as ONNX Runtime runs it: constants folded (the folded weights among them)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(tmp_path / f"{form}-optimised.onnx")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        with torch.no_grad():
            assert np.abs(session.run(None, {"x": x.numpy()})[0] - unit(x).numpy()).max() <= 1e-5
        ops = [n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node
               if n.op_type in ("Mul", "Add", "Div")]
        counts[form] = len(ops)
    assert counts["folded"] <= counts["plain"] - 2, counts


def test_openvino_backend_agrees_with_onnxruntime(tmp_path: Path) -> None:
    """The same fixed-size graph through OpenVINO (skipped where it is not installed). OpenVINO's kernels round
    differently (its reductions and GELU): measured up to 5e-3 in probability on the trained student against
    ONNX Runtime's 1.6e-5, so the masks are compared, and the probabilities within 1e-2."""
    pytest.importorskip("openvino")
    from microaunet.deploy.segmenter import OpenVINORunner

    model = _trained_like("microaunet")
    path = export_onnx(model, tmp_path / "m.onnx", size=64, fixed_size=True)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3)).numpy()
    reference = _session(path).run(None, {"image": x})[0]
    runner = OpenVINORunner(path, threads=1)
    for batch in (x, x[:1]):  # one compiled model per batch size
        out = runner.run(batch)
        assert out.shape == (len(batch), 1, 64, 64)
        assert np.abs(out - reference[: len(batch)]).max() <= 1e-2
        assert ((out >= 0.5) == (reference[: len(batch)] >= 0.5)).mean() >= 0.999
