"""Weights shipped inside the package: ``load_pretrained("microaunet-kvasir")``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from torch import nn

from .checkpoint import load_model

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
