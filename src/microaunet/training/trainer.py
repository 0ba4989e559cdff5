"""The training loop shared by supervised training and distillation.

Data are decoded once (see :mod:`microaunet.data.cache`) and kept in memory as uint8; each step
draws a batch, augments it on the fly, and runs one optimiser step. The weights are tracked by an
exponential moving average (EMA), which is what is validated, checkpointed and shipped. After every
epoch a checkpoint is written atomically, so ``resume`` loses at most the epoch in progress.

Distributed training: launched with ``torchrun``, each process takes every WORLD_SIZE-th sample
of the shared shuffled order and DistributedDataParallel averages the gradients.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from ..data import SampleArrays, TrainingSource, load_training_sets
from ..data.augment import augment
from ..data.photometric import photometric_augment
from ..data.transforms import to_model_input
from ..models import build_model, count_parameters, fold_training_branches
from ..models.layers import fast_cpu_path
from ..threads import use_threads
from .checkpoint import atomic_save, load_checkpoint, save_weights
from .config import TrainConfig
from .ema import weight_ema
from .layout import LAYOUTS, fastest_layout
from .objectives import build_objective


def training_sources(config: TrainConfig) -> list[TrainingSource]:
    """The config's datasets, each with its split definition and sampling weight."""
    datasets = config.datasets
    splits = config.split if isinstance(config.split, list) else [config.split] * len(datasets)
    weights = config.data_weights or [1.0] * len(datasets)
    if not len(splits) == len(weights) == len(datasets):
        raise ValueError(f"{len(datasets)} dataset(s) but {len(splits)} split(s) and {len(weights)} weight(s)")
    return [TrainingSource(d, s, w) for d, s, w in zip(datasets, splits, weights)]


def build_training_model(config: TrainConfig) -> nn.Module:
    """The network as trained: with ``overparam``, its DWD convs carry the training-only branches."""
    kwargs = {"overparam": True} if config.overparam else {}
    return build_model(config.model, seed=config.seed, **kwargs)


def deployable(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every training-only branch folded: the registered network, in eval mode."""
    return fold_training_branches(copy.deepcopy(model)).eval()


def adamw(params: list[nn.Parameter], lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW, fused into one kernel where this PyTorch has it on the CPU (2.4 and later): the per-tensor loop
    costs more than the arithmetic for a network of a few hundred small tensors."""
    try:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, foreach=True)


def _distributed() -> tuple[int, int]:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _batches(arrays: SampleArrays, batch_size: int, device: torch.device, layout: torch.memory_format):
    for start in range(0, len(arrays.ids), batch_size):
        images = torch.from_numpy(arrays.images[start:start + batch_size]).to(device)
        masks = torch.from_numpy(arrays.masks[start:start + batch_size]).to(device)
        yield to_model_input(images).contiguous(memory_format=layout), masks


@torch.no_grad()
def validate(model: nn.Module, arrays: SampleArrays, device: torch.device, batch_size: int = 16,
             layout: torch.memory_format = torch.contiguous_format) -> dict[str, float]:
    """Per-image mean Dice and IoU at the training size, threshold 0.5 (a quick model-selection signal)."""
    model.eval()
    dice, iou = [], []
    for images, masks in _batches(arrays, batch_size, device, layout):
        pred = model(images)[:, 0] > 0
        gt = masks.bool()
        inter = (pred & gt).flatten(1).sum(1).double()
        union = (pred | gt).flatten(1).sum(1).double()
        total = pred.flatten(1).sum(1).double() + gt.flatten(1).sum(1).double()
        dice.append(torch.where(total > 0, 2 * inter / total.clamp(min=1), 1.0))
        iou.append(torch.where(union > 0, inter / union.clamp(min=1), 1.0))
    return {"val_dice": torch.cat(dice).mean().item(), "val_iou": torch.cat(iou).mean().item()}


class Trainer:
    """Owns the model, its EMA, the optimiser and the run folder; ``fit`` runs the epochs."""

    def __init__(self, config: TrainConfig, objective: nn.Module | None = None) -> None:
        """``objective``: the config's (``build_objective``) unless given one."""
        self.config = config
        self.rank, self.world = _distributed()
        use_threads(config.threads, "training")  # 0: the free cores (microaunet.threads)
        self.device = torch.device(config.device)
        self.out = Path(config.out)
        sources = training_sources(config)
        torch.manual_seed(config.seed)
        self.model = build_training_model(config).to(self.device)
        # before any data is read: a bad teacher file fails at once
        self.objective = (objective or build_objective(config, self.model)).to(self.device)
        self.data = load_training_sets(sources, config.size, config.val_fraction, config.split_seed,
                                       config.cache_dir, config.skip_bad)
        self.layout = LAYOUTS[self._choose_layout()]
        self.model = self.model.to(memory_format=self.layout)
        if hasattr(self.objective, "prepare"):  # e.g. teacher soft targets, computed once for the training images
            self.objective.prepare(self.data.train, config)
        self.ema = weight_ema(self.model, config.ema_decay)
        self.train_model = self.model
        if self.world > 1:
            self.train_model = nn.parallel.DistributedDataParallel(self.model)
        trainable = [p for p in self.objective.parameters() if p.requires_grad]  # not a frozen teacher
        params = list(self.model.parameters()) + trainable
        self.optimizer = adamw(params, config.lr, config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, config.epochs, config.min_lr)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.epoch = 0
        self.best = {"val_dice": -1.0, "epoch": -1}
        self.elapsed = 0.0

    def _choose_layout(self) -> str:
        """The configured layout, or with ``auto`` the faster one measured by rank 0 (and shared)."""
        cfg = self.config
        if cfg.layout != "auto":
            return cfg.layout
        choice = [None]
        if self.rank == 0:
            with self.autocast(), self.fast_path():
                name, seconds = fastest_layout(self.model, cfg.batch_size, cfg.size, self.device)
            print(f"memory layout: {name} (seconds per training step: "
                  + ", ".join(f"{k} {v:.3f}" for k, v in seconds.items()) + ")", flush=True)
            choice = [name]
        if self.world > 1:
            dist.broadcast_object_list(choice, src=0)
        return choice[0]

    def autocast(self) -> torch.autocast:
        """bfloat16 autocast for ``precision="bf16"``, else a no-op.

        On a CPU with AVX512-BF16 (here a 2-core EPYC) it halves the time of a UNet or SANet training
        step; the ~25K-parameter models gain nothing. Weights, optimiser state, EMA and losses stay
        float32, and validation and evaluation run in float32.
        """
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.precision == "bf16")

    def fast_path(self):
        """The CPU reformulation of few-channel convolutions (see models/layers.py): same function, fewer passes."""
        return fast_cpu_path(self.device.type == "cpu")

    def soft_targets(self, idx: np.ndarray) -> torch.Tensor | None:
        """The objective's per-pixel teacher probabilities for these training samples, (B, 1, S, S), if it has any."""
        targets = getattr(self.objective, "targets", None)
        if targets is None:
            return None
        return torch.from_numpy(targets[idx]).to(self.device, torch.float32).unsqueeze(1)

    # checkpointing -------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "format": 1,
            "model_name": self.config.model,
            "config": self.config.as_dict(),
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "ema": self.ema.module.state_dict(),
            "ema_updates": self.ema.n_averaged.item(),
            "objective": self.objective.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "best": self.best,
            "elapsed_s": self.elapsed,
            "split": {"definition": self.config.split, "train": self.data.train.ids,
                      "val": self.data.val.ids if self.data.val else [], "sources": self.data.manifest()},
            "parameters": count_parameters(deployable(self.model)),
        }

    def load_state(self, ckpt: dict[str, Any]) -> None:
        if ckpt["model_name"] != self.config.model:
            raise ValueError(f"checkpoint is of model {ckpt['model_name']}, not {self.config.model}")
        self.model.load_state_dict(ckpt["model"])
        self.ema.module.load_state_dict(ckpt["ema"])
        self.ema.n_averaged.fill_(ckpt["ema_updates"])
        self.objective.load_state_dict(ckpt["objective"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.generator.set_state(ckpt["generator"])
        torch.set_rng_state(ckpt["torch_rng"])
        self.epoch, self.best, self.elapsed = ckpt["epoch"], ckpt["best"], ckpt["elapsed_s"]

    def resume(self) -> bool:
        path = self.out / "last.pt"
        if not path.is_file():
            return False
        self.load_state(load_checkpoint(path, map_location=self.device))
        return True

    # training ------------------------------------------------------------------------------
    def train_step(self, idx: np.ndarray, progress: float) -> tuple[torch.Tensor, dict[str, float]]:
        """One optimiser step on the training images ``idx`` at ``progress`` (0-1) of the schedule: augmentation,
        the objective, backward, AdamW and the EMA. Returns the loss and its parts."""
        cfg, train = self.config, self.data.train
        batch = train.images[idx]
        if cfg.photometric:
            batch = photometric_augment(batch, self.generator, cfg.photometric)
        images = to_model_input(torch.from_numpy(batch).to(self.device))
        masks = torch.from_numpy(train.masks[idx]).to(self.device).unsqueeze(1).float()
        soft = self.soft_targets(idx)
        if soft is not None:  # warped as a fourth image channel: the same geometry, bilinear, zero outside
            images = torch.cat([images, soft], dim=1)
        images, masks = augment(images, masks, self.generator, cfg.p_rotate)
        if soft is not None:
            images, soft = images[:, :3], images[:, 3:]
        images = images.contiguous(memory_format=self.layout)
        with self.autocast(), self.fast_path():
            loss, parts = self.objective(self.train_model, images, masks, progress, soft_targets=soft)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.ema.update_parameters(self.model)
        return loss, parts

    def train_epoch(self) -> dict[str, float]:
        cfg, train = self.config, self.data.train
        self.train_model.train()
        if self.data.train_weights is not None and len(self.data.sources) > 1:  # each dataset in its proportion
            weights = torch.from_numpy(self.data.train_weights)
            order = torch.multinomial(weights, len(train.ids), replacement=True, generator=self.generator)
        else:
            order = torch.randperm(len(train.ids), generator=self.generator)
        order = order[self.rank::self.world]
        # every rank takes the same number of full batches (collectives must match); the ragged tail
        # is dropped, as BatchNorm needs more than one sample
        n_steps = max(1, len(train.ids) // (cfg.batch_size * self.world))
        sums: dict[str, float] = {}
        bar = tqdm(range(n_steps), desc=f"epoch {self.epoch + 1}/{cfg.epochs}", leave=False,
                   disable=None if self.rank == 0 else True)
        for step in bar:
            idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size].numpy()
            loss, parts = self.train_step(idx, (self.epoch + step / n_steps) / cfg.epochs)
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.set_postfix(loss=f"{loss.item():.4f}")
        means = {k if k.startswith("ramp_") else f"loss_{k}": v / n_steps for k, v in sums.items()}
        return means | {"images": n_steps * cfg.batch_size}

    def fit(self, resume: bool = False, max_epochs: int | None = None) -> dict[str, Any]:
        """Train until ``config.epochs`` (or ``max_epochs`` more epochs, for a budgeted session)."""
        cfg = self.config
        if resume and self.resume() and self.rank == 0:
            print(f"resumed {self.out / 'last.pt'} after epoch {self.epoch}", flush=True)
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            cfg.save(self.out / "config.json")
            # which images it trains and validates on, dataset by dataset (the test ids are never read)
            (self.out / "training_images.json").write_text(json.dumps(self.data.manifest(), indent=1))
        stop = cfg.epochs if max_epochs is None else min(cfg.epochs, self.epoch + max_epochs)
        while self.epoch < stop:
            t0 = time.perf_counter()
            row = {"epoch": self.epoch + 1, "lr": self.optimizer.param_groups[0]["lr"]}
            row |= self.train_epoch()
            self.scheduler.step()
            self.epoch += 1
            seconds = time.perf_counter() - t0
            self.elapsed += seconds
            if self.rank != 0:
                continue
            if self.data.val is not None:
                with self.fast_path():
                    row |= validate(self.ema.module, self.data.val, self.device, layout=self.layout)
            row |= {"seconds": round(seconds, 2), "images_per_s": round(row.pop("images") * self.world / seconds, 1)}
            self._log(row)
            if row.get("val_dice", -1.0) > self.best["val_dice"]:
                self.best = {"val_dice": row["val_dice"], "epoch": self.epoch}
                atomic_save({k: v for k, v in self.state().items() if k not in ("optimizer", "model")},
                            self.out / "best.pt")
            atomic_save(self.state(), self.out / "last.pt")
        if self.rank == 0 and self.epoch >= cfg.epochs:
            save_weights(deployable(self.ema.module), cfg.model, self.out / "final.safetensors",
                         {"epochs": self.epoch, "config": cfg.as_dict()})
        return {"epoch": self.epoch, "best": self.best, "elapsed_s": round(self.elapsed, 1)}

    def _log(self, row: dict[str, Any]) -> None:
        path = self.out / "log.csv"
        new = not path.is_file()
        with path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)
        shown = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())
        print(shown, flush=True)
