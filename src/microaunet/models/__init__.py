"""One registry for every network of the paper: ``build_model(name, **kwargs)``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .blocks import LDGAOnDepthwise, fold_training_branches
from .common import FeatureOutput, count_parameters
from .lightunet import PAPER_WIDTHS, WIDE_WIDTHS, malunet, microaunet
from .sanet import sanet
from .unet import unet
from .unext import unext_s


@dataclass(frozen=True)
class ModelSpec:
    name: str
    factory: Callable[..., nn.Module]
    description: str
    distillable: bool = False
    paper_params_m: float | None = None  # Table 2 of the paper
    paper_gflops: float | None = None  # Table 2's "FLOPs (G)" (thop MACs, see docs)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("microaunet", lambda **kw: microaunet(PAPER_WIDTHS, **kw),
                  "MicroAUNet at the paper's widths [4, 8, 12, 16, 24, 32]", True, 0.0249, 0.148),
        ModelSpec("microaunet-wide", lambda **kw: microaunet(WIDE_WIDTHS, **kw),
                  "MicroAUNet at the authors' code default widths [8, 16, 24, 32, 48, 64]", True),
        ModelSpec("microaunet-nodwd", lambda **kw: microaunet(PAPER_WIDTHS, dense_convs=True, **kw),
                  "ablation MicroAUNet-1: dense 3x3 convs instead of DWD convs", True),
        ModelSpec("microaunet-ad", lambda **kw: microaunet(PAPER_WIDTHS, ldga=LDGAOnDepthwise, **kw),
                  "MicroAUNet with the authors' code's LDGA (attention from and into the DW unit's output)", True),
        ModelSpec("malunet", malunet, "MALUNet (Ruan et al. 2022), the distillation teacher", True, 0.175, 0.083),
        ModelSpec("unet", unet, "U-Net, base width 32", False, 7.77, 13.78),
        ModelSpec("unext-s", unext_s, "UNeXt-S (Valanarasu and Patel 2022)", False, 0.30, 0.10),
        ModelSpec("sanet", sanet, "SANet (Wei et al. 2021), Res2Net-50 backbone from scratch", False, 23.90, 5.99),
    )
}


def list_models() -> list[str]:
    return list(MODELS)


def build_model(name: str, seed: int | None = None, **kwargs) -> nn.Module:
    """A freshly initialised network; with ``seed`` the initialisation is reproducible."""
    if name not in MODELS:
        raise ValueError(f"unknown model '{name}'; choose one of: {', '.join(MODELS)}")
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return MODELS[name].factory(**kwargs)
    return MODELS[name].factory(**kwargs)


__all__ = ["MODELS", "ModelSpec", "FeatureOutput", "build_model", "count_parameters", "fold_training_branches",
           "list_models"]
