"""The one registry of networks: ``build_model(name, **kwargs)``, with each network's display name and the
paper's Table 2 figures. One file per family holds the networks (microaunet.py, malunet.py, unet.py, ...)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .malunet import MALUNET_WIDTHS, malunet
from .microaunet import PAPER_WIDTHS, LDGAOnDepthwise, microaunet
from .sanet import sanet
from .unet import unet
from .unext import unext_s


@dataclass(frozen=True)
class ModelSpec:
    name: str
    display_name: str  # as the paper and the report name it
    factory: Callable[..., nn.Module]
    description: str
    distillable: bool = False
    paper_params_m: float | None = None  # Table 2 of the paper
    paper_gflops: float | None = None  # Table 2's "FLOPs (G)" (thop MACs, see docs)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("microaunet", "MicroAUNet", lambda **kw: microaunet(PAPER_WIDTHS, **kw),
                  "MicroAUNet at the paper's widths [4, 8, 12, 16, 24, 32]", True, 0.0249, 0.148),
        ModelSpec("microaunet-wide", "MicroAUNet-wide", lambda **kw: microaunet(MALUNET_WIDTHS, **kw),
                  "MicroAUNet at the authors' code default widths [8, 16, 24, 32, 48, 64]", True),
        ModelSpec("microaunet-nodwd", "MicroAUNet-1", lambda **kw: microaunet(PAPER_WIDTHS, dense_convs=True, **kw),
                  "ablation MicroAUNet-1: dense 3x3 convs instead of DWD convs", True),
        ModelSpec("microaunet-ad", "MicroAUNet-AD", lambda **kw: microaunet(PAPER_WIDTHS, ldga=LDGAOnDepthwise, **kw),
                  "MicroAUNet with the authors' code's LDGA (attention from and into the DW unit's output)", True),
        ModelSpec("microaunet-gn1", "MicroAUNet-GN1", lambda **kw: microaunet(PAPER_WIDTHS, norm_groups=1, **kw),
                  "MicroAUNet with one group in every GroupNorm (each sample normalised over all its channels)", True),
        ModelSpec("malunet", "MALUNet", malunet, "MALUNet (Ruan et al. 2022), the distillation teacher", True,
                  0.175, 0.083),
        ModelSpec("unet", "UNet", unet, "U-Net, base width 32", False, 7.77, 13.78),
        ModelSpec("unext-s", "UNeXt-S", unext_s, "UNeXt-S (Valanarasu and Patel 2022)", False, 0.30, 0.10),
        ModelSpec("sanet", "SANet", sanet, "SANet (Wei et al. 2021), Res2Net-50 backbone from scratch", False,
                  23.90, 5.99),
    )
}


def display_name(model: str) -> str:
    """The paper's name of a registered network ('MicroAUNet'), or the name itself for an unknown one."""
    return MODELS[model].display_name if model in MODELS else model


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
