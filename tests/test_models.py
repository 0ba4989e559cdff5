from __future__ import annotations

import pytest
import torch

from microaunet.models import MODELS, FeatureOutput, build_model, count_parameters, list_models
from microaunet.models.microaunet import LSCAB
from microaunet.training.losses import bce_dice_loss

EXACT = {"microaunet": 24_881, "microaunet-wide": 84_281, "malunet": 177_943, "microaunet-nodwd": 55_920,
         "microaunet-ad": 24_881, "microaunet-gn1": 24_881}


@pytest.mark.parametrize("name,count", EXACT.items())
def test_exact_parameter_counts(name: str, count: int) -> None:
    assert count_parameters(build_model(name)) == count


@pytest.mark.parametrize("name,target,tolerance", [("unet", 7.77e6, 0.02), ("sanet", 23.90e6, 0.03)])
def test_baseline_sizes_match_the_paper(name: str, target: float, tolerance: float) -> None:
    assert abs(count_parameters(build_model(name)) - target) / target <= tolerance


def test_unext_s_size() -> None:
    # UNeXt-S exactly as its authors define it (widths 8-16-32-64-128, shifted-MLP ratio 1) has
    # 253,561 parameters: 15% below the 0.30M of the MicroAUNet paper's Table 2, a disagreement that
    # `microaunet complexity` flags. The count is pinned so that a change of the network is noticed.
    assert count_parameters(build_model("unext-s")) == 253_561


def test_microaunet_block_counts_match_architecture_md() -> None:
    m = build_model("microaunet")
    assert [count_parameters(e) for e in m.encoders] == [53, 320, 792, 1_424, 2_352, 4_480]
    assert count_parameters(m.bridge) == 4_263
    assert [count_parameters(d) for d in m.decoders] == [5_088, 2_832, 1_616, 952, 448]
    norms = list(m.encoder_norms) + list(m.decoder_norms)
    assert len(norms) == 10 and sum(count_parameters(n) for n in norms) == 256
    assert count_parameters(m.head) == 5


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("size", [256, 352])
def test_output_shape(name: str, size: int) -> None:
    model = build_model(name).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, size, size))
    assert out.shape == (1, 1, size, size)


@pytest.mark.parametrize("name", list_models())
def test_smallest_input(name: str) -> None:
    model = build_model(name).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 64)).shape == (1, 1, 32, 64)


@pytest.mark.parametrize("name", list_models())
def test_rejects_sizes_not_divisible_by_32(name: str) -> None:
    with pytest.raises(ValueError, match="divisible by 32"):
        build_model(name)(torch.randn(1, 3, 100, 64))


def test_rejects_wrong_channel_count() -> None:
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        build_model("microaunet")(torch.randn(1, 1, 64, 64))


def test_unknown_model_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="microaunet"):
        build_model("nope")


def test_lscab_alpha_beta_learnable_and_start_at_half() -> None:
    bridge = build_model("microaunet").bridge
    assert isinstance(bridge, LSCAB)
    for p in (bridge.alpha, bridge.beta):
        assert p.requires_grad and p.item() == 0.5
    names = {n for n, _ in build_model("microaunet").named_parameters()}
    assert {"bridge.alpha", "bridge.beta"} <= names


@pytest.mark.parametrize("name", [n for n, s in MODELS.items() if s.distillable])
def test_return_features(name: str) -> None:
    model = build_model(name).eval()
    x = torch.randn(2, 3, 64, 64)
    out = model(x, return_features=True)
    assert isinstance(out, FeatureOutput)
    widths = model.widths
    assert [tuple(t.shape) for t in out.skips] == [(2, widths[i], 64 >> (i + 1), 64 >> (i + 1)) for i in range(5)]
    assert out.decoder.shape == (2, widths[0], 32, 32)
    assert torch.equal(out.logits, model(x))


def test_student_and_teacher_skips_share_spatial_sizes() -> None:
    x = torch.randn(1, 3, 64, 64)
    s = build_model("microaunet")(x, return_features=True).skips
    t = build_model("malunet")(x, return_features=True).skips
    assert [a.shape[2:] for a in s] == [b.shape[2:] for b in t]
    assert [2 * a.shape[1] for a in s] == [b.shape[1] for b in t]


@pytest.mark.parametrize("name", list_models())
def test_seeded_initialisation_is_deterministic(name: str) -> None:
    a, b = build_model(name, seed=3), build_model(name, seed=3)
    c = build_model(name, seed=4)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


# The heavy baselines take fewer Adam steps than the 60 of the others, with the same bar (the loss below 0.4 of
# the first): measured on this batch, SANet's best of the last five is 0.23 of the first after 10 steps and 0.09
# after 20, UNet's 0.38 after 30 and 0.29 after 40
OVERFIT_STEPS = {"unet": 40, "sanet": 20}


@pytest.mark.parametrize("name", list_models())
def test_overfits_one_synthetic_batch(name: str) -> None:
    import numpy as np

    from microaunet.data.synthetic import synthetic_pair

    rng = np.random.default_rng(0)
    pairs = [synthetic_pair(rng, 64) for _ in range(2)]
    x = torch.stack([torch.from_numpy(p[0]).permute(2, 0, 1).float() / 127.5 - 1 for p in pairs])
    y = torch.stack([torch.from_numpy(p[1]).float()[None] for p in pairs])
    torch.manual_seed(0)
    model = build_model(name, seed=0).train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(OVERFIT_STEPS.get(name, 60)):
        loss = bce_dice_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert min(losses[-5:]) < 0.4 * losses[0], losses[::10]
