"""``microaunet bench robustness``: a model's Dice on perturbed copies of a test split, and the drop from clean.

Each perturbation is a function of :mod:`microaunet.data.photometric` at fixed parameters (training draws the
same functions' parameters at random). It is applied to every test image at the image's own resolution, as
acquisition would have degraded it, before the model's usual resize; masks are not touched, and Dice is
measured at each image's original resolution (per image, then the mean; and pooled over all pixels). Spatial
parameters are in pixels of a 256-pixel shorter side and scale with the image; noise and highlight positions
come from a generator seeded by the seed, the perturbation and the image id, so every run perturbs every image
alike. "Drop" is clean Dice minus perturbed Dice: positive when the perturbation hurts.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ..data import photometric as ph
from .evaluate import evaluate_split, split_label


@dataclass(frozen=True)
class Perturbation:
    name: str
    description: str
    apply: Callable[[np.ndarray, np.random.Generator], np.ndarray]


PERTURBATIONS = (
    Perturbation("brighter", "brightness x1.35", lambda im, rng: ph.brightness(im, 1.35)),
    Perturbation("darker", "brightness x0.6", lambda im, rng: ph.brightness(im, 0.6)),
    Perturbation("gamma_0.67", "gamma 0.67 (lighter mid-tones)", lambda im, rng: ph.gamma(im, 1 / 1.5)),
    Perturbation("gamma_1.5", "gamma 1.5 (darker mid-tones)", lambda im, rng: ph.gamma(im, 1.5)),
    Perturbation("low_contrast", "contrast x0.6 about the mean gray", lambda im, rng: ph.contrast(im, 0.6)),
    Perturbation("high_contrast", "contrast x1.4 about the mean gray", lambda im, rng: ph.contrast(im, 1.4)),
    Perturbation("hue_+10", "hue +10 degrees", lambda im, rng: ph.hue_saturation(im, 10, 1.0)),
    Perturbation("hue_-10", "hue -10 degrees", lambda im, rng: ph.hue_saturation(im, -10, 1.0)),
    Perturbation("saturation_0.6", "saturation x0.6", lambda im, rng: ph.hue_saturation(im, 0, 0.6)),
    Perturbation("saturation_1.4", "saturation x1.4", lambda im, rng: ph.hue_saturation(im, 0, 1.4)),
    Perturbation("gaussian_blur", "Gaussian blur, sigma 2 px at 256", lambda im, rng: ph.gaussian_blur(im, 2.0)),
    Perturbation("motion_blur", "motion blur, 12 px at 256, 45 degrees", lambda im, rng: ph.motion_blur(im, 12, 45)),
    Perturbation("jpeg_30", "JPEG re-compression, quality 30", lambda im, rng: ph.jpeg(im, 30)),
    Perturbation("jpeg_20", "JPEG re-compression, quality 20", lambda im, rng: ph.jpeg(im, 20)),
    Perturbation("half_resolution", "1/2 resolution (area down, bilinear up)",
                 lambda im, rng: ph.low_resolution(im, 2)),
    Perturbation("quarter_resolution", "1/4 resolution (area down, bilinear up)",
                 lambda im, rng: ph.low_resolution(im, 4)),
    Perturbation("noise", "Gaussian noise, sigma 10 gray levels", lambda im, rng: ph.gaussian_noise(im, 10, rng)),
    Perturbation("specular_highlights", "8 added specular highlights, about 6 px at 256",
                 lambda im, rng: ph.specular_highlights(im, 8, 6, rng)),
)
BY_NAME = {p.name: p for p in PERTURBATIONS}


def _rng(seed: int, perturbation: str, image_id: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(perturbation.encode()), zlib.crc32(image_id.encode())])


def _dice(result: dict[str, Any]) -> tuple[float, float]:
    original = result["at_original"]
    return original["per_image"]["dice"], original["pooled"]["dice"]


def bench_robustness(model: nn.Module, data: str | Path, split: str = "test", definition: str = "paper",
                     size: int = 256, threshold: float = 0.5, seed: int = 0, names: list[str] | None = None,
                     log: Callable[[str], None] | None = None, split_seed: int = 42,
                     val_fraction: float = 0.1, tta: str = "none") -> dict[str, Any]:
    """Clean and perturbed Dice of ``model`` on the ``split`` part of ``definition`` (as ``evaluate`` takes
    them, with ``split_seed`` and ``val_fraction``), for every perturbation of :data:`PERTURBATIONS` or those
    ``names``, with test-time augmentation ``tta``; ``log`` receives a line after each pass."""
    unknown = sorted(set(names or []) - BY_NAME.keys())
    if unknown:
        raise ValueError(f"unknown perturbation(s) {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    chosen = [BY_NAME[n] for n in names] if names else list(PERTURBATIONS)
    start = time.perf_counter()
    passes: list[tuple[str, str, Any]] = [("clean", "as read", None)]
    passes += [(p.name, p.description, p) for p in chosen]
    rows, clean = [], None
    for k, (name, description, perturbation) in enumerate(passes):
        transform = None if perturbation is None else (
            lambda image, image_id, p=perturbation: p.apply(image, _rng(seed, p.name, image_id)))
        result = evaluate_split(model, data, split, definition, size, threshold, split_seed=split_seed,
                                tta=tta, val_fraction=val_fraction, transform=transform, desc=f"robustness {name}")
        per_image, pooled = _dice(result)
        clean = clean or (per_image, pooled)
        rows.append({"name": name, "description": description, "per_image_dice": per_image, "pooled_dice": pooled,
                     "drop_per_image": clean[0] - per_image, "drop_pooled": clean[1] - pooled})
        if log:
            log(f"robustness {k}/{len(chosen)} {name}: per-image Dice {per_image:.4f} (clean {clean[0]:.4f}), "
                f"pooled {pooled:.4f} (clean {clean[1]:.4f}); {time.perf_counter() - start:.0f} s so far")
    perturbed = rows[1:]
    worst = {key: max(perturbed, key=lambda r: r[key])["name"] if perturbed else None
             for key in ("drop_per_image", "drop_pooled")}
    return {"data": str(data), "split_definition": definition, "split": split, "images": result["images"],
            "size": size, "threshold": threshold, "seed": seed, "tta": tta,
            "metric": "Dice at each image's original resolution; drop = clean - perturbed",
            "rows": rows, "worst": worst, "wall_s": round(time.perf_counter() - start, 1)}


def _signed(value: float, digits: int) -> str:
    """+0.012, -0.003; a drop that rounds to zero is +0.000, not -0.000."""
    return f"{round(value, digits) + 0.0:+.{digits}f}"


def format_robustness(r: dict[str, Any]) -> str:
    """A Markdown table: each perturbation's Dice and drop from clean, per image and pooled."""
    lines = [f"{r.get('model', 'model')} ({r.get('weights', '')}) on {r['data']} ({split_label(r)}, {r['images']} "
             f"images): Dice at each image's original resolution; drop = clean - perturbed (positive: worse)", "",
             "| perturbation | parameters | per-image Dice | drop | pooled Dice | drop |",
             "|---|---|---:|---:|---:|---:|"]
    for row in r["rows"]:
        drops = [""] * 2 if row["name"] == "clean" else [_signed(row[k], 4) for k in ("drop_per_image", "drop_pooled")]
        lines.append(f"| {row['name']} | {row['description']} | {row['per_image_dice']:.4f} | {drops[0]} | "
                     f"{row['pooled_dice']:.4f} | {drops[1]} |")
    by_name = {row["name"]: row for row in r["rows"]}
    if r["worst"]["drop_per_image"]:
        w, p = by_name[r["worst"]["drop_per_image"]], by_name[r["worst"]["drop_pooled"]]
        lines += ["", f"worst perturbation: {w['name']} per image (drop {_signed(w['drop_per_image'], 4)}), "
                      f"{p['name']} pooled (drop {_signed(p['drop_pooled'], 4)})"]
    return "\n".join(lines)


def side_by_side(results: list[dict[str, Any]]) -> str:
    """One Markdown table of several models' results on the same perturbations: clean Dice, then each
    perturbation's drop (per image / pooled), and each model's worst drop."""
    names = [row["name"] for row in results[0]["rows"]]
    if any([row["name"] for row in r["rows"]] != names for r in results):
        raise ValueError("the results do not cover the same perturbations")
    header = "| perturbation | parameters | " + " | ".join(f"{r['weights']} per-image | pooled" for r in results) + " |"
    lines = [header, "|---|---|" + "---:|---:|" * len(results)]
    for k, name in enumerate(names):
        rows = [r["rows"][k] for r in results]
        if name == "clean":
            cells = [f"**{row['per_image_dice']:.3f}** | **{row['pooled_dice']:.3f}**" for row in rows]
            lines.append(f"| clean Dice | as read | {' | '.join(cells)} |")
        else:
            cells = [f"{_signed(row['drop_per_image'], 3)} | {_signed(row['drop_pooled'], 3)}" for row in rows]
            lines.append(f"| {name} | {rows[0]['description']} | {' | '.join(cells)} |")
    worst = [" | ".join(_signed(max(row[key] for row in r["rows"][1:]), 3) for key in ("drop_per_image", "drop_pooled"))
             for r in results]
    lines.append(f"| worst drop | | {' | '.join(worst)} |")
    return "\n".join(lines)
