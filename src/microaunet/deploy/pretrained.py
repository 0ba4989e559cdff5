"""Weights shipped inside the package: ``load_pretrained("microaunet-kvasir")``."""

from __future__ import annotations

from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any

from torch import nn

from ..training.checkpoint import load_model

DEFAULT_PRETRAINED = "microaunet-kvasir"  # what load_pretrained, Segmenter and the CLI use when given no weights


def _weights_dir() -> Path:
    return Path(str(resources.files("microaunet").joinpath("weights")))


def list_pretrained() -> list[str]:
    return sorted(p.stem for p in _weights_dir().glob("*.safetensors"))


def pretrained_path(name: str) -> Path:
    path = _weights_dir() / f"{name}.safetensors"
    if not path.is_file():
        raise ValueError(f"no pretrained weights named '{name}'; available: {', '.join(list_pretrained()) or 'none'}")
    return path


def load_pretrained(name: str = DEFAULT_PRETRAINED) -> nn.Module:
    """A shipped model in eval mode; its training record is in ``model.pretrained_info``."""
    model, info = load_model(pretrained_path(name))
    model.pretrained_info = info
    return model


def model_card(name: str) -> dict[str, Any]:
    """What is known of shipped weights: the network, its size, and how it was trained (from the file's header)."""
    from ..models import count_parameters
    from ..training.config import TrainConfig

    model, info = load_model(pretrained_path(name))
    config = TrainConfig.from_dict(info["config"])
    return {
        "name": name, "model": info["model"], "parameters": count_parameters(model), "epochs": info.get("epochs"),
        "trained_on": config.data, "split": config.split, "seed": config.seed, "input_size": config.size,
        "distillation": config.kd, "teachers": config.teachers,
        "distillation_settings": asdict(config.paper_kd if config.kd == "paper" else config.output_kd)
        if config.kd != "none" else None,
    }
