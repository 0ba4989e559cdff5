"""Weights shipped inside the package: ``load_pretrained("microaunet-kvasir")``."""

from __future__ import annotations

import json
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
    """The model card of shipped weights (weights/NAME.json, written by scripts/model_cards.py from results/): the
    network and its size, its training data and recipe, its test figures on every dataset it was evaluated on,
    its robustness figures and known limits. Without a card file, what the weights file's header says."""
    path = pretrained_path(name)
    card_path = path.with_suffix(".json")
    if card_path.is_file():
        return json.loads(card_path.read_text())
    from ..models import count_parameters
    from ..training.config import TrainConfig

    model, info = load_model(path)
    config = TrainConfig.from_dict(info["config"])
    return {"name": name, "model": info["model"], "parameters": count_parameters(model),
            "epochs": info.get("epochs"), "trained_on": config.data, "split": config.split, "seed": config.seed,
            "recipe": config.kd}


def format_card(card: dict[str, Any]) -> str:
    """A model card as text, for ``microaunet info``."""
    lines = [f"{card['name']}: {card['model']}, {card['parameters']:,} parameters",
             f"  trained on {card['trained_on']} ({card['split']} split), {card['epochs']} epochs, "
             f"seed {card['seed']}, {card['recipe']}"]
    if "source_run" in card:
        lines.append(f"  record: {card['source_run']} (commit {card['commit'][:10]})")
    for t in card.get("tested_on", []):
        lines.append(f"  {t['dataset']} {t['split']} ({t['images']} images): Dice {t['dice_pooled']:.3f} pooled, "
                     f"{t['dice_per_image']:.3f} per image")
    robustness = card.get("robustness")
    if robustness:
        worst = robustness["worst"]["drop_per_image"]
        lines.append(f"  robustness on {robustness['tested_on']}: worst perturbation {worst}, per-image Dice drop "
                     f"{robustness['drops'][worst][0]:.3f} ({len(robustness['drops'])} perturbations)")
    lines += [f"  limit: {limit}" for limit in card.get("known_limits", [])]
    return "\n".join(lines)
