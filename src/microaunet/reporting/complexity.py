"""The paper's Table 2: parameters and compute of every model, beside the paper's printed values.

Units, stated because the literature mixes them:
- params: sum(p.numel()) over all parameters (thop's own count misses GroupNorm and bare parameters);
- GMACs (thop): multiply-accumulates as thop counts them, the counter the paper used (its "FLOPs (G)"
  column is this); thop skips GroupNorm, activations and functional ops;
- GFLOPs (torch): torch.utils.flop_counter.FlopCounterMode, 2 FLOPs per multiply-accumulate of
  convolutions and matrix products (elementwise ops not counted).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..models import MODELS, build_model, count_parameters
from ..models.layers import Conv2d

DISAGREEMENT = 0.10  # relative difference from the paper's value that gets flagged


def thop_macs(model: torch.nn.Module, x: torch.Tensor) -> float | None:
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # thop imports distutils' deprecated Version classes
        try:
            from thop import profile
            from thop.profile import register_hooks
        except ImportError:
            return None
        # thop looks hooks up by exact type: the package's Conv2d subclass counts as the nn.Conv2d it is
        macs, _ = profile(model, inputs=(x,), custom_ops={Conv2d: register_hooks[torch.nn.Conv2d]}, verbose=False)
    return float(macs)


def torch_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return counter.get_total_flops()


def _flag(ours: float | None, paper: float | None) -> str:
    if ours is None or paper is None:
        return ""
    rel = (ours - paper) / paper
    return f"{rel:+.0%}" if abs(rel) > DISAGREEMENT else "ok"


def complexity_table(size: int = 256, models: list[str] | None = None) -> list[dict[str, Any]]:
    rows = []
    for name in models or list(MODELS):
        spec = MODELS[name]
        x = torch.randn(1, 3, size, size)
        params = count_parameters(build_model(name, seed=0))
        flops = torch_flops(build_model(name, seed=0).eval(), x)
        macs = thop_macs(build_model(name, seed=0).eval(), x)
        gmacs = None if macs is None else macs / 1e9
        rows.append({
            "model": name,
            "params": params,
            "params_m": params / 1e6,
            "gmacs_thop": gmacs,
            "gflops_torch": flops / 1e9,
            "paper_params_m": spec.paper_params_m,
            "paper_gflops_label": spec.paper_gflops,
            "params_vs_paper": _flag(params / 1e6, spec.paper_params_m),
            "gmacs_vs_paper": _flag(gmacs, spec.paper_gflops),
        })
    return rows


def format_table(rows: list[dict[str, Any]], size: int) -> str:
    def f(v: float | None, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    head = (f"{'model':18}{'params':>12}{'GMACs thop':>12}{'GFLOPs torch':>14}"
            f"{'paper params(M)':>17}{'paper FLOPs(G)':>16}{'params vs paper':>17}{'MACs vs paper':>15}")
    lines = [f"Complexity at {size}x{size} (batch 1)", head]
    for r in rows:
        lines.append(
            f"{r['model']:18}{r['params']:>12,}{f(r['gmacs_thop'], '.4f'):>12}{f(r['gflops_torch'], '.4f'):>14}"
            f"{f(r['paper_params_m'], '.4g'):>17}{f(r['paper_gflops_label'], '.4g'):>16}"
            f"{r['params_vs_paper'] or '-':>17}{r['gmacs_vs_paper'] or '-':>15}"
        )
    lines.append(
        "The paper's 'FLOPs (G)' are thop multiply-accumulates (GMACs); GFLOPs (torch) count 2 per MAC of convs "
        f"and matrix products. Flags mark a difference above {DISAGREEMENT:.0%} from the paper's figure."
    )
    return "\n".join(lines)
