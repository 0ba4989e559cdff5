"""Images per second of the trainer's supervised MicroAUNet step, eager against torch.compile (CPU inductor), on
the real Kvasir-SEG training images, after a few warm-up steps (for the compiled model: its compilation).

    python scripts/bench_compile_step.py [--threads 2] [--mode eager|default|max-autotune] [--steps 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from microaunet.data.augment import augment
from microaunet.data.transforms import to_model_input
from microaunet.training import TrainConfig, Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/Kvasir-SEG")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mode", default="default", help="eager, or a torch.compile mode (default, max-autotune)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    trainer = Trainer(TrainConfig(model="microaunet", data=args.data, out="/tmp/bench_compile_step", epochs=300,
                                  threads=args.threads, layout="nchw"))
    train, rng = trainer.data.train, np.random.default_rng(0)
    model = trainer.train_model if args.mode == "eager" else torch.compile(trainer.train_model, mode=args.mode)

    def step() -> None:
        idx = rng.integers(0, len(train.ids), 8)
        images = to_model_input(torch.from_numpy(train.images[idx]))
        masks = torch.from_numpy(train.masks[idx]).unsqueeze(1).float()
        images, masks = augment(images, masks, trainer.generator)
        with trainer.fast_path():
            loss, _ = trainer.objective(model, images.contiguous(), masks, 0.5, soft_targets=None)
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trainer.optimizer.step()
        trainer.ema.update_parameters(trainer.model)

    start = time.perf_counter()
    for _ in range(args.warmup):
        step()
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    seconds = time.perf_counter() - start
    print(f"mode={args.mode} threads={args.threads} warmup_s={warmup:.1f} images_per_s={8 * args.steps / seconds:.1f}")


if __name__ == "__main__":
    main()
