"""Saving and loading: atomic training checkpoints (.pt) and deployable weights (.safetensors)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .models import build_model


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file in the same folder, then rename: a kill never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_weights(model: nn.Module, model_name: str, path: Path, meta: dict[str, Any] | None = None) -> None:
    """Weights as safetensors, with the model name and any metadata (JSON) in the header."""
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    header = {"model": model_name, "meta": json.dumps(meta or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=header)


def read_safetensors_header(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


def load_model(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """A model in eval mode from a training checkpoint (its EMA weights) or a .safetensors file.

    Returns the model and what is known of its training (model name, config, epoch...).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    if path.suffix == ".safetensors":
        header = read_safetensors_header(path)
        if "model" not in header:
            raise ValueError(f"{path}: no 'model' entry in the safetensors header; not a microaunet weights file")
        info = {"model": header["model"], **json.loads(header.get("meta", "{}"))}
        state = load_file(str(path))
    else:
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as e:  # a corrupt or foreign file: say which
            raise ValueError(f"{path}: not a readable checkpoint ({e})") from None
        if not isinstance(ckpt, dict) or "ema" not in ckpt or "model_name" not in ckpt:
            raise ValueError(f"{path}: not a microaunet training checkpoint (needs 'model_name' and 'ema')")
        info = {"model": ckpt["model_name"], "epoch": ckpt.get("epoch"), "config": ckpt.get("config", {})}
        state = ckpt["ema"]
    model = build_model(info["model"])
    model.load_state_dict(state)
    return model.eval(), info
