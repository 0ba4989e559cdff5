"""Where a training step's time goes: torch.profiler over supervised steps of one model as the trainer runs them
(the fast CPU path of models/layers.py, fused AdamW), in both memory layouts, with operators summed into families
(convolution, normalisation, the rest).

    python scripts/profile_train_step.py --model microaunet --threads 1 > results/profile_train_step.txt
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile

from microaunet.models import build_model
from microaunet.models.layers import fast_cpu_path
from microaunet.training.losses import bce_dice_loss
from microaunet.training.trainer import adamw

FAMILIES = (("convolution", ("conv",)), ("normalisation", ("norm",)),
            ("optimizer", ("Optimizer",)), ("pooling and resampling", ("pool", "upsample")))


def family(op: str) -> str:
    return next((name for name, keys in FAMILIES if any(k in op for k in keys)), "elementwise and other")


def profile_steps(model_name: str, layout: torch.memory_format, steps: int, batch: int, size: int) -> None:
    torch.manual_seed(0)
    model = build_model(model_name).train().to(memory_format=layout)
    optimizer = adamw(list(model.parameters()), 1e-3, 1e-2)
    x = torch.randn(batch, 3, size, size).contiguous(memory_format=layout)
    y = (torch.rand(batch, 1, size, size) > 0.5).float()

    def step() -> None:
        with fast_cpu_path():
            loss = bce_dice_loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(2):
        step()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(steps):
            step()
    events = sorted(prof.key_averages(group_by_input_shape=True), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in events) / steps / 1e3
    print(f"\n## {model_name}, {'channels_last' if layout == torch.channels_last else 'NCHW'}: "
          f"{total:.0f} ms per step of {batch} images ({batch / total * 1e3:.1f} img/s under the profiler)")
    by_family: dict[str, float] = defaultdict(float)
    for e in events:
        by_family[family(e.key)] += e.self_cpu_time_total / steps / 1e3
    for name, ms in sorted(by_family.items(), key=lambda kv: -kv[1]):
        print(f"  {name:24s} {ms:7.1f} ms  {ms / total:5.1%}")
    print("  top operators (self time per step, calls per step, input shapes):")
    for e in events[:12]:
        shapes = str(e.input_shapes[:2])[:70]
        print(f"  {e.self_cpu_time_total / steps / 1e3:7.1f} ms {e.count // steps:4d}x {e.key[:34]:34s} {shapes}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="microaunet")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch} at {args.size}x{args.size}")
    for layout in (torch.contiguous_format, torch.channels_last):
        profile_steps(args.model, layout, args.steps, args.batch, args.size)


if __name__ == "__main__":
    main()
