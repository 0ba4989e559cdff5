"""Saving and loading: atomic training checkpoints (.pt) and deployable weights (.safetensors)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..models import MODELS, build_model, fold_training_branches


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
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable .safetensors weights file ({e})") from None


# Checkpoints written before 0.2 hold their split's image ids as numpy strings; rebuilding a numpy scalar from
# its dtype and bytes runs no code, so exactly these types are admitted beside tensors and plain containers.
NUMPY_STRING_SCALAR = [np.dtype, type(np.dtype(str)), np.str_("").__reduce__()[0]]


def _unpickling_failure(e: Exception) -> str:
    """The line of torch's long message that says what was refused (or the first line)."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return next((line for line in lines if "Unpickler error" in line), lines[0] if lines else type(e).__name__)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A training checkpoint (.pt) as a dict, unpickled with ``weights_only=True``.

    Checkpoints travel between users, and a full unpickler runs whatever code a crafted file names; the
    restricted one admits only tensors and plain containers, which is all a checkpoint of this package holds.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        with torch.serialization.safe_globals(NUMPY_STRING_SCALAR):
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # a corrupt, foreign or crafted file: say which, run nothing
        raise ValueError(f"{path}: not a readable checkpoint ({_unpickling_failure(e)})") from None
    if not isinstance(ckpt, dict) or "ema" not in ckpt or "model_name" not in ckpt:
        raise ValueError(f"{path}: not a microaunet training checkpoint (needs 'model_name' and 'ema')")
    return ckpt


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
        try:
            info = {"model": header["model"], **json.loads(header.get("meta", "{}"))}
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: the safetensors header's 'meta' entry is not JSON ({e})") from None
        try:
            state = load_file(str(path))
        except Exception as e:  # a truncated tensor section: SafetensorError, or an OSError from the mmap
            raise ValueError(f"{path}: not a readable .safetensors weights file ({e})") from None
    else:
        ckpt = load_checkpoint(path)
        info = {"model": ckpt["model_name"], "epoch": ckpt.get("epoch"), "config": ckpt.get("config", {})}
        state = ckpt["ema"]
    if info["model"] not in MODELS:
        raise ValueError(f"{path}: holds weights of an unknown model '{info['model']}'")
    # a training checkpoint of an over-parameterised run holds the branches; weights files hold the folded network
    overparam = path.suffix != ".safetensors" and info["config"].get("overparam", False)
    model = build_model(info["model"], **({"overparam": True} if overparam else {}))
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"{path}: its weights do not fit a {info['model']} ({str(e).splitlines()[0]})") from None
    return fold_training_branches(model).eval(), info
