"""Time SANet's bare training step on a GPU: batch 8 at 256x256 under bfloat16 autocast, forward, loss,
backward and AdamW, without the trainer's augmentation, EMA, validation or checkpoints. It bounds how fast
a 300-epoch SANet run can be on that GPU (results/sanet-lent-h200/README.md).

    python results/scripts/sanet_step_time.py      (on the GPU machine, from the repository root)
"""

import sys
import time

import torch

sys.path.insert(0, "src")
from microaunet.models import sanet  # noqa: E402

DEVICE = "cuda"


def bench(model: torch.nn.Module, label: str, n: int = 25) -> None:
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    x = torch.randn(8, 3, 256, 256, device=DEVICE)
    y = (torch.rand(8, 1, 256, 256, device=DEVICE) > 0.5).float()

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model(x)
            out = out[0] if isinstance(out, (list, tuple)) else out
            loss = torch.nn.functional.binary_cross_entropy_with_logits(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    t = time.perf_counter()
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    print(label, "warm-up s", round(time.perf_counter() - t, 1), flush=True)
    t = time.perf_counter()
    for _ in range(n):
        step()
    torch.cuda.synchronize()
    print(label, "ms/step", round(1000 * (time.perf_counter() - t) / n, 1), flush=True)


if __name__ == "__main__":
    torch.backends.cudnn.benchmark = True
    bench(sanet().to(DEVICE).train(), "eager")
    bench(sanet().to(DEVICE).to(memory_format=torch.channels_last).train(), "eager-cl")
    bench(torch.compile(sanet().to(DEVICE).train()), "compile")
