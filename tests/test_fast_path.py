"""The reformulated CPU path of models.layers.Conv2d computes the plain convolution: outputs and gradients."""

from __future__ import annotations

import pytest
import torch

from microaunet.models import build_model
from microaunet.models.layers import Conv2d, fast_cpu_path
from microaunet.training.losses import bce_dice_loss

CASES = {  # (in, out, kernel, groups, dilation, padding, bias): every branch of the fast path, and fallbacks
    "pointwise": (3, 4, 1, 1, 1, 0, True),
    "depthwise 3x3": (4, 4, 3, 4, 1, 1, False),
    "depthwise dilated": (8, 8, 3, 8, 2, 2, True),
    "depthwise 1x1": (4, 4, 1, 4, 1, 0, True),
    "to one channel 7x7": (2, 1, 7, 1, 1, 0, False),
    "to one channel dilated": (2, 1, 7, 1, 3, 9, True),
    "dense 3x3 (plain path)": (4, 8, 3, 1, 1, 1, True),
    "grouped (plain path)": (8, 8, 3, 2, 1, 1, True),
}


def _grads(conv: Conv2d, x: torch.Tensor, fast: bool) -> list[torch.Tensor]:
    conv.zero_grad()
    x = x.detach().clone().requires_grad_(True)
    with fast_cpu_path(fast):
        y = conv(x)
    (y * torch.rand(y.shape, generator=torch.Generator().manual_seed(3))).sum().backward()  # no cancellation
    return [y.detach(), x.grad] + [p.grad.clone() for p in conv.parameters()]


@pytest.mark.parametrize("case", list(CASES))
def test_each_reformulation_matches_the_plain_convolution(case: str) -> None:
    c_in, c_out, k, groups, dilation, padding, bias = CASES[case]
    torch.manual_seed(0)
    conv = Conv2d(c_in, c_out, k, padding=padding, dilation=dilation, groups=groups, bias=bias)
    x = torch.randn(3, c_in, 20, 24)
    plain, fast = _grads(conv, x, False), _grads(conv, x, True)
    for a, b in zip(plain, fast):
        assert a.shape == b.shape
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6 * a.abs().max().item())


def test_the_fast_path_is_off_outside_its_block_and_for_other_layouts() -> None:
    conv = Conv2d(4, 4, 3, padding=1, groups=4)
    x = torch.randn(2, 4, 8, 8)
    calls = []
    original = torch.nn.functional.conv2d

    def spy(inp, *args, **kwargs):
        calls.append(inp.shape)
        return original(inp, *args, **kwargs)

    torch.nn.functional.conv2d = spy
    try:
        conv(x)
        with fast_cpu_path():
            conv(x)
            conv(x.contiguous(memory_format=torch.channels_last))
    finally:
        torch.nn.functional.conv2d = original
    # the plain call, the fast one (the batch folded into channels), and channels-last (plain again)
    assert calls == [torch.Size([2, 4, 8, 8]), torch.Size([1, 8, 8, 8]), torch.Size([2, 4, 8, 8])]


def _training_step(name: str, fast: bool, dtype: torch.dtype) -> tuple[float, dict[str, torch.Tensor]]:
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1)).to(dtype)
    y = (torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(2)) > 0.5).to(dtype)
    model = build_model(name, seed=0).train().to(dtype)
    with fast_cpu_path(fast):
        loss = bce_dice_loss(model(x), y)
    loss.backward()
    return loss.item(), {n: p.grad.double() for n, p in model.named_parameters()}


@pytest.mark.parametrize("name", ["microaunet", "malunet"])
def test_a_training_step_has_the_same_loss_and_gradients(name: str) -> None:
    """The whole network in training mode: loss and every gradient. In float64 the two formulations agree to
    rounding; in float32 the loss does (some weight gradients just before a GroupNorm are sums that cancel almost
    exactly, so their float32 values are noise for either formulation and are compared in float64)."""
    plain_loss, plain = _training_step(name, False, torch.float64)
    fast_loss, fast = _training_step(name, True, torch.float64)
    assert fast_loss == pytest.approx(plain_loss, rel=1e-12)
    for key, g in plain.items():
        torch.testing.assert_close(fast[key], g, rtol=1e-9, atol=1e-12 * max(1.0, g.abs().max().item()), msg=key)
    assert _training_step(name, True, torch.float32)[0] == pytest.approx(_training_step(name, False, torch.float32)[0],
                                                                          abs=1e-6)
