"""The training recipe's parts: over-parameterised DWD convs that fold into the paper's network, the authors'
LDGA form as its own registry entry, deep supervision, and output distillation from precomputed teacher targets."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from microaunet.cli import main
from microaunet.data.synthetic import synthetic_pair
from microaunet.data.transforms import to_model_input
from microaunet.models import build_model, count_parameters, fold_training_branches
from microaunet.training.checkpoint import load_model, save_weights
from microaunet.training.config import OutputKD
from microaunet.training.distillation import (
    OutputDistillation,
    channel_wise_kl,
    ensemble_probabilities,
)
from microaunet.training.losses import DeepSupervision, bce_dice_loss, decoder_stage_channels


def _briefly_trained(seed: int = 0) -> torch.nn.Module:
    """An over-parameterised MicroAUNet after a few AdamW steps on synthetic polyps (BatchNorm statistics moved)."""
    rng = np.random.default_rng(seed)
    pairs = [synthetic_pair(rng, 64) for _ in range(8)]
    x = to_model_input(torch.from_numpy(np.stack([p[0] for p in pairs])))
    y = torch.from_numpy(np.stack([p[1] for p in pairs])).float().unsqueeze(1)
    model = build_model("microaunet", seed=seed, overparam=True).train()
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    for step in range(10):
        idx = torch.arange(4) + 4 * (step % 2)
        loss = bce_dice_loss(model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_the_folded_network_is_the_paper_network_and_computes_the_same_function() -> None:
    trained = _briefly_trained()
    assert count_parameters(trained) > 24_881
    folded = fold_training_branches(copy.deepcopy(trained)).eval()
    assert count_parameters(folded) == 24_881
    assert list(folded.state_dict()) == list(build_model("microaunet").state_dict())
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        exact = copy.deepcopy(trained).double()(x.double())
        p_train, p_fold = torch.sigmoid(trained(x)), torch.sigmoid(folded(x))
        # folded in float64 throughout, the two agree to float64 rounding: the fold itself is exact
        folded64 = fold_training_branches(copy.deepcopy(trained).double())
        for module in folded64.modules():  # the fold writes float32 blocks: evaluate them in float64 too
            module.double()
        assert (folded64(x.double()) - exact).abs().max().item() <= 1e-4 * exact.abs().max().item()
    # float32: the probabilities differ by no more than float32 arithmetic moves the unfolded network itself
    own_rounding = (p_train.double() - torch.sigmoid(exact)).abs().max().item()
    assert (p_fold - p_train).abs().max().item() <= max(1e-5, 2 * own_rounding)


def test_the_authors_ldga_is_a_separate_model_with_the_same_parameters() -> None:
    paper, authors = build_model("microaunet", seed=0).eval(), build_model("microaunet-ad", seed=0).eval()
    assert count_parameters(authors) == 24_881
    authors.load_state_dict(paper.state_dict())  # the same parameters, name by name
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert not torch.allclose(paper(x), authors(x))
    block = authors.encoders[1][1]
    with torch.no_grad():
        d = block.dw(torch.ones(1, 4, 8, 8))
        expected = block.proj(torch.sigmoid(block.attn(d)) * d) + block.shortcut(torch.ones(1, 4, 8, 8))
        assert torch.allclose(block(torch.ones(1, 4, 8, 8)), expected)


def test_deep_supervision_scores_every_decoder_stage_and_trains_its_heads() -> None:
    model = build_model("microaunet", seed=0)
    deep = DeepSupervision(decoder_stage_channels(model.widths), weight=0.5)
    x, masks = torch.randn(2, 3, 64, 64), (torch.rand(2, 1, 64, 64) > 0.5).float()
    out = model(x, return_features=True)
    assert [s.shape[1] for s in out.stages] == [24, 16, 12, 8, 4] and out.stages[-1] is out.decoder
    loss = deep(out.stages[:-1], masks)
    loss.backward()
    assert loss.item() > 0 and all(h.weight.grad.abs().sum() > 0 for h in deep.heads)


def test_the_group_count_variant_has_the_same_parameters_and_normalises_over_all_channels() -> None:
    paper, gn1 = build_model("microaunet", seed=0).eval(), build_model("microaunet-gn1", seed=0).eval()
    norms = [m for m in gn1.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert norms and all(m.num_groups == 1 for m in norms)
    assert all(m.num_groups == 4 for m in paper.modules() if isinstance(m, torch.nn.GroupNorm))
    gn1.load_state_dict(paper.state_dict())  # the same parameters, name by name
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert not torch.allclose(paper(x), gn1(x))
        y = torch.randn(2, 8, 5, 5)
        expected = (y - y.mean((1, 2, 3), keepdim=True)) / torch.sqrt(y.var((1, 2, 3), unbiased=False, keepdim=True)
                                                                      + norms[0].eps)
        one = torch.nn.GroupNorm(1, 8)
        assert torch.allclose(type(norms[0])(1, 8)(y), expected, atol=1e-5) and torch.allclose(one(y), expected,
                                                                                                atol=1e-5)


def test_ensemble_probabilities_average_models_and_flipped_views() -> None:
    a, b = build_model("microaunet", seed=0).eval(), build_model("microaunet-ad", seed=1).eval()
    images = np.stack([synthetic_pair(np.random.default_rng(i), 64)[0] for i in range(3)])
    x = to_model_input(torch.from_numpy(images))
    with torch.no_grad():
        views = [torch.sigmoid(m(x)) for m in (a, b)] + [torch.sigmoid(m(x.flip(3))).flip(3) for m in (a, b)]
    expected = torch.stack(views).mean(0)[:, 0].numpy()
    got = ensemble_probabilities([a, b], images, "flip")
    assert got.dtype == np.float16 and np.abs(got.astype(np.float32) - expected).max() < 1e-3


def test_distillation_losses_vanish_when_the_student_is_the_teacher() -> None:
    logits = torch.randn(2, 1, 16, 16)
    assert channel_wise_kl(logits, logits).item() == pytest.approx(0.0, abs=1e-6)
    assert channel_wise_kl(logits, logits.flip(3)).item() > 0.01
    objective = OutputDistillation(["unused.safetensors"], OutputKD(weight=1.0))
    model = build_model("microaunet", seed=0).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        soft = torch.sigmoid(model(x))
        _, parts = objective(model, x, (soft > 0.5).float(), 0.0, soft_targets=soft)
    assert parts["kd"] == pytest.approx(0.0, abs=1e-5)


def test_output_distillation_end_to_end(synthetic_dir: Path, tmp_path: Path) -> None:
    teacher = tmp_path / "teacher.safetensors"
    save_weights(build_model("unext-s", seed=0).eval(), "unext-s", teacher)
    run = tmp_path / "student"
    argv = ["distill", "--kd", "output", "--teacher", str(teacher), "--teacher", str(teacher), "--teacher-tta", "flip",
            "--data", str(synthetic_dir), "--split", "random", "--size", "64", "--epochs", "1", "--batch-size", "4",
            "--threads", "1", "--layout", "nchw", "--overparam", "--deep-supervision", "0.3", "--out", str(run)]
    assert main(argv) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["overparam"] and config["kd"] == "output" and len(config["teachers"]) == 2
    assert config["output_kd"]["tta"] == "flip" and config["deep_supervision"] == 0.3
    header = (run / "log.csv").read_text().splitlines()[0]
    assert "loss_kd" in header and "loss_deep" in header
    shipped, _ = load_model(run / "final.safetensors")
    from_checkpoint, _ = load_model(run / "last.pt")  # the branches, folded on loading
    assert count_parameters(shipped) == count_parameters(from_checkpoint) == 24_881
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(shipped(x), from_checkpoint(x), atol=1e-6)
    assert list((tmp_path / "cache").glob("teacher-targets-*.npy"))  # computed once, cached for the next run


def test_the_val_split_is_the_validation_set_training_carved(synthetic_dir: Path, tmp_path: Path) -> None:
    """Recipe screens are scored on it: the same ids the trainer held out, never the test split."""
    from microaunet.data import find_pairs, load_training_data
    from microaunet.evaluation.evaluate import split_ids

    data = load_training_data(synthetic_dir, "random", 64, 0.25, 7, tmp_path / "cache")
    dataset = find_pairs(synthetic_dir)
    val = split_ids(dataset, "val", "random", split_seed=7, val_fraction=0.25)
    assert val == data.val.ids and set(val).isdisjoint(split_ids(dataset, "test", "random", split_seed=7))
