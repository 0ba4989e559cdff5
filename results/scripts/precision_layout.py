"""Training-step speed: NCHW or channels-last, float32 or bfloat16 autocast (10 steps after 3 warm-up
steps, batch 8 at 256x256, 2 threads, synthetic tensors). A measurement, not a test.

    python results/scripts/precision_layout.py [MODEL ...]   (default: microaunet malunet)
"""

import sys
import time
from functools import partial

import torch

from microaunet.losses import bce_dice_loss
from microaunet.models import build_model


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, masks: torch.Tensor,
               bf16: bool) -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(x)
    loss = bce_dice_loss(logits, masks)  # computed in float32 whatever the logits' dtype
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


torch.set_num_threads(2)
images = torch.randn(8, 3, 256, 256)
masks = (torch.rand(8, 1, 256, 256) > 0.7).float()
for name in sys.argv[1:] or ("microaunet", "malunet"):
    for layout, bf16 in ((torch.contiguous_format, False), (torch.channels_last, False),
                         (torch.channels_last, True), (torch.contiguous_format, True)):
        model = build_model(name, seed=0).to(memory_format=layout)
        step = partial(train_step, model, torch.optim.AdamW(model.parameters(), 1e-3),
                       images.contiguous(memory_format=layout), masks, bf16)
        for _ in range(3):
            step()
        start = time.perf_counter()
        for _ in range(10):
            step()
        rate = 10 * 8 / (time.perf_counter() - start)
        label = "channels_last" if layout == torch.channels_last else "nchw"
        print(name, label, "bf16" if bf16 else "fp32", round(rate, 1), "img/s", flush=True)
