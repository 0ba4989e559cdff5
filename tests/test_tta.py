"""Flip test-time augmentation: 'none' is the model as before, 'flip'/'flip4' the mean of the flipped views, and the
same wrapper runs in evaluation, in Segmenter and, exported, as one ONNX graph."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from microaunet import load_pretrained
from microaunet.cli import main
from microaunet.data import find_pairs, read_image, read_mask
from microaunet.data.synthetic import synthetic_pair
from microaunet.data.transforms import resize_image, resize_mask, to_model_input
from microaunet.deploy.tta import TTA, TTA_MODES
from microaunet.evaluation.evaluate import evaluate_samples, predict_probability
from microaunet.evaluation.metrics import MetricAccumulator
from microaunet.models import build_model


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return build_model("microaunet", seed=0).eval()


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.randn(2, 3, 64, 96, generator=torch.Generator().manual_seed(0))


def views(model: nn.Module, x: torch.Tensor, flips: list[tuple[int, ...]]) -> torch.Tensor:
    """The mean of the views' probabilities, one forward pass per view, each flipped back: by hand."""
    with torch.no_grad():
        return sum(torch.sigmoid(model(x.flip(d) if d else x)).flip(d) if d else torch.sigmoid(model(x))
                   for d in flips) / len(flips)


def test_none_is_bit_identical_to_the_model(model: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        assert torch.equal(TTA(model, "none")(x), torch.sigmoid(model(x)))
    image, _ = synthetic_pair(np.random.default_rng(0), 80)
    batch = to_model_input(torch.from_numpy(resize_image(image, 64))[None])
    with torch.no_grad():  # what evaluation computed before TTA existed
        before = torch.sigmoid(model(batch.contiguous(memory_format=torch.channels_last)))[0, 0].numpy()
    assert np.array_equal(predict_probability(model, image, 64)[0], before)
    assert np.array_equal(predict_probability(model, image, 64, "none")[0], before)


def test_flip_is_the_mean_of_the_flipped_views(model: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        flip, flip4 = TTA(model, "flip")(x), TTA(model, "flip4")(x)
    # one batched pass against a pass per view: the same sums in another order
    assert torch.allclose(flip, views(model, x, [(), (3,)]), atol=1e-5, rtol=0)
    assert torch.allclose(flip4, views(model, x, [(), (3,), (2,), (2, 3)]), atol=1e-5, rtol=0)
    assert not torch.allclose(flip, views(model, x, [()]), atol=1e-3)  # the flipped view does change this model


class SymmetricConv(nn.Module):
    """Exactly flip-equivariant: one 3x3 convolution whose kernel is symmetric about both axes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 3, padding=1)
        with torch.no_grad():
            k = torch.randn(1, 3, 3, 3, generator=torch.Generator().manual_seed(1))
            self.conv.weight.copy_((k + k.flip(2) + k.flip(3) + k.flip(2, 3)) / 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


@pytest.mark.parametrize("mode", TTA_MODES)
def test_flip_equivariant_model_is_unchanged(mode: str, x: torch.Tensor) -> None:
    model = SymmetricConv().eval()
    with torch.no_grad():
        assert torch.allclose(TTA(model, mode)(x), torch.sigmoid(model(x)), atol=1e-6, rtol=0)


def test_unknown_mode_is_refused(model: nn.Module) -> None:
    with pytest.raises(ValueError, match="none, flip, flip4"):
        TTA(model, "rotate")


def test_evaluation_uses_and_records_the_mode(model: nn.Module, synthetic_dir: Path) -> None:
    samples = find_pairs(synthetic_dir).samples[:3]
    plain, flipped = (evaluate_samples(model, samples, size=64, tta=mode) for mode in ("none", "flip"))
    assert (plain["tta"], flipped["tta"]) == ("none", "flip")
    acc = MetricAccumulator()
    for s in samples:
        image = read_image(s.image)
        prob = predict_probability(model, image, 64, "flip")[0]
        batch = to_model_input(torch.from_numpy(resize_image(image, 64))[None])
        assert np.abs(prob - views(model, batch, [(), (3,)])[0, 0].numpy()).max() <= 1e-5  # batched, channels-last
        acc.add(s.id, prob >= 0.5, resize_mask(read_mask(s.mask), 64).astype(bool))
    assert [r["dice"] for r in flipped["per_image_rows"]] == [r["dice"] for r in acc.rows]


def test_exported_tta_graph_matches_pytorch(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """flip4's graph (flip's is the same with two views): the views batched inside, as in PyTorch."""
    ort = pytest.importorskip("onnxruntime")
    from microaunet.deploy.export import DeployModel
    from microaunet.deploy.segmenter import preprocess

    student = load_pretrained("microaunet-kvasir")
    image, _ = synthetic_pair(np.random.default_rng(0), 128)
    batch = preprocess([image], 128)
    path = tmp_path / "flip4.onnx"
    assert main(["export", "--weights", "microaunet-kvasir", "--tta", "flip4", "--size", "128", "-o", str(path),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tta"] == "flip4"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_modelmeta().custom_metadata_map["tta"] == "flip4"
    with torch.no_grad():
        expected = DeployModel(student, "flip4")(torch.from_numpy(batch)).numpy()
    assert np.abs(session.run(None, {"image": batch})[0] - expected).max() <= 1e-5
    assert np.abs(expected - views(student, torch.from_numpy(batch), TTA(student, "flip4").views).numpy()).max() <= 1e-5
