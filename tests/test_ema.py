"""The EMA's warm-up: a short run's average is of its recent weights, not of its random initialisation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from microaunet.training.ema import decay_at, weight_ema


def test_the_decay_rises_to_its_ceiling() -> None:
    assert decay_at(0, 0.999) == pytest.approx(0.1)
    assert decay_at(90, 0.999) == pytest.approx(91 / 100)
    assert decay_at(10**6, 0.999) == 0.999


def test_the_average_follows_the_formula_and_forgets_the_start() -> None:
    model = nn.Linear(1, 1, bias=False)
    ema = weight_ema(model, 0.999)
    expected = 0.0
    for n in range(240):  # the demo's length: the first weights (after one step, still near random) are 100
        with torch.no_grad():
            model.weight.fill_(100.0 if n == 0 else 1.0)
        ema.update_parameters(model)
        expected = 100.0 if n == 0 else expected + (1 - decay_at(n, 0.999)) * (1.0 - expected)
    assert ema.module.weight.item() == pytest.approx(expected, rel=1e-5)
    # without the warm-up 0.999 ** 239 = 79% of the first weights would remain: 79.8 here
    assert ema.module.weight.item() < 1.5


def test_integer_buffers_are_copied_not_averaged() -> None:
    model = nn.BatchNorm1d(2)
    ema = weight_ema(model, 0.999)
    for _ in range(5):
        model.train()(torch.randn(4, 2))
        ema.update_parameters(model)
    assert ema.module.num_batches_tracked.item() == model.num_batches_tracked.item() == 5
