"""Images per second of the trainer's supervised MicroAUNet step, eager against torch.compile (CPU inductor), on
the real Kvasir-SEG training images, after a few warm-up steps (for the compiled model: its compilation).

    python scripts/bench_compile_step.py [--threads 2] [--mode eager|default|max-autotune] [--steps 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

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
    rng = np.random.default_rng(0)
    if args.mode != "eager":
        trainer.train_model = torch.compile(trainer.train_model, mode=args.mode)

    def step() -> None:
        trainer.train_step(rng.integers(0, len(trainer.data.train.ids), 8), 0.5)

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
