"""The recipe-ablation table: every screen run of the tiny network's training recipe (scripts/recipe_screen.py),
scored on the validation set its trainer carved out of the training ids, beside the reference recipe and the
seed noise. The protocol and the decision rule are in results/recipe/README.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .runs import Evaluation, collect

REFERENCE = "paper"  # the screen run of the paper's recipe, against which every change is read
SEED_SUFFIX = "-seed"  # a screen run NAME-seedN repeats NAME with another seed: the seed noise


def _change(e: Evaluation) -> str:
    provenance = e.path.parent / "provenance.json"
    return json.loads(provenance.read_text()).get("change", "") if provenance.is_file() else ""


def _dice(e: Evaluation) -> tuple[float, float]:
    return e.value("main", "pooled", "dice"), e.value("main", "per_image", "dice")


def seed_noise(runs: dict[str, Evaluation]) -> list[tuple[str, str, float]]:
    """Each pair of screen runs that differ only in the seed, and their difference in validation pooled Dice."""
    pairs = []
    for name, e in sorted(runs.items()):
        base = name.split(SEED_SUFFIX)[0]
        if name != base and base in runs:
            pairs.append((base, name, abs(_dice(e)[0] - _dice(runs[base])[0])))
    return pairs


def recipe_section(root: str | Path) -> tuple[str, list[dict[str, Any]]]:
    """Markdown of the screen (or a line saying there is none yet) and its CSV rows."""
    caption = ("Recipe screen of the 24,881-parameter MicroAUNet (issue #33): each run one change, 100 epochs, "
               "scored on its validation set (80 Kvasir-SEG training images held out; the test split is not "
               "opened), pooled / per-image Dice of the final EMA weights at 256x256; delta: against the paper's "
               "recipe (run 'paper'). Protocol and decision rule: results/recipe/README.md.")
    try:
        evaluations = collect(root, parts=("val",))
    except FileNotFoundError:
        return f"{caption}\n\n(no screen runs yet)\n", []
    runs = {e.path.parent.name: e for e in evaluations}
    reference = _dice(runs[REFERENCE])[0] if REFERENCE in runs else None
    lines = ["| run | change | epochs | seed | val Dice | val Dice/img | delta |", "|---|---|---:|---:|---:|---:|---:|"]
    records = []
    for name, e in sorted(runs.items(), key=lambda kv: -_dice(kv[1])[0]):
        pooled, per_image = _dice(e)
        delta = None if reference is None else pooled - reference
        lines.append(f"| {name} | {_change(e)} | {e.epochs} | {e.seed} | {pooled:.3f} | {per_image:.3f} | "
                     + ("-" if delta is None else f"{delta:+.3f}") + " |")
        records.append({"run": name, "change": _change(e), "model": e.result["model"], "epochs": e.epochs,
                        "seed": e.seed, "val_dice_pooled": pooled, "val_dice_per_image": per_image,
                        "delta_pooled_vs_reference": delta})
    noise = seed_noise(runs)
    noise_line = ("Seed noise (the same recipe, seeds 42 and 43): " + "; ".join(
        f"{a} / {b}: {d:.3f}" for a, b, d in noise)) if noise else "Seed noise: no pair of seeds screened yet."
    return f"{caption}\n\n" + "\n".join(lines) + f"\n\n{noise_line}\n", records
