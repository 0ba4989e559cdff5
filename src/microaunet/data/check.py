"""``microaunet data check``: decode every pair and report what a user needs to know before training."""

from __future__ import annotations

import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .io import MASK_THRESHOLD, DataError, read_image, read_mask_levels
from .pairs import Sample, find_pairs

NOISE_BAND = (16, 240)  # gray values a clean binary mask never has


def _inspect(sample: Sample) -> dict[str, Any]:
    row: dict[str, Any] = {"id": sample.id, "errors": [], "warnings": []}
    try:
        image = read_image(sample.image)
        row["size"] = (image.shape[1], image.shape[0])
    except DataError as e:
        row["errors"].append(str(e))
    try:
        gray, rgb = read_mask_levels(sample.mask)
    except DataError as e:
        row["errors"].append(str(e))
        return row
    fg = gray >= MASK_THRESHOLD
    row["colour_coded"] = rgb is not None
    if rgb is not None:  # red (neoplastic) where red is the stronger of the two lit channels, else green
        red = fg & (rgb[..., 0] >= rgb[..., 1])
        row["red"], row["green"] = int(red.sum()), int((fg & ~red).sum())
    row["foreground"] = float(fg.mean())
    row["noisy"] = float(((gray > NOISE_BAND[0]) & (gray < NOISE_BAND[1])).mean())
    row["distinct"] = int(len(np.unique(gray)))
    if "size" in row and row["size"] != (gray.shape[1], gray.shape[0]):
        row["errors"].append(
            f"{sample.mask}: mask is {gray.shape[1]}x{gray.shape[0]} but its image is {row['size'][0]}x{row['size'][1]}"
        )
    if not fg.any():
        row["warnings"].append(f"{sample.mask}: empty mask (no pixel >= {MASK_THRESHOLD})")
    return row


def check_dataset(root: str | Path, threads: int = 2) -> dict[str, Any]:
    """Decode every pair; ``usable`` is true when pairs were found and nothing is in error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # every problem goes into the report instead
            dataset = find_pairs(root, skip_bad=True)
    except DataError as e:
        return {"root": str(root), "usable": False, "pairs": 0, "usable_pairs": 0, "errors": [str(e)], "warnings": []}
    errors, notes = list(dataset.problems), list(dataset.ignored)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        rows = list(pool.map(_inspect, dataset.samples))
    good = [r for r in rows if not r["errors"]]
    for r in rows:
        errors += r["errors"]
        notes += r["warnings"]
    sizes = Counter(r["size"] for r in good)
    fg = np.array([r["foreground"] for r in good]) if good else np.zeros(1)
    colour = [r for r in good if r["colour_coded"]]
    report = {
        "root": str(dataset.root),
        "images": str(dataset.image_dir),
        "masks": str(dataset.mask_dir),
        "pairs": len(rows),
        "usable_pairs": len(good),
        "sequences": len({s.sequence for s in dataset.samples}) if dataset.has_sequences else None,
        "image_sizes": {
            "distinct": len(sizes),
            "min": [min(s[0] for s in sizes), min(s[1] for s in sizes)] if sizes else None,
            "max": [max(s[0] for s in sizes), max(s[1] for s in sizes)] if sizes else None,
            "most_common": [[list(s), n] for s, n in sizes.most_common(3)],
        },
        "masks_stats": {
            "threshold": MASK_THRESHOLD,
            "foreground_fraction": {"mean": float(fg.mean()), "min": float(fg.min()), "max": float(fg.max())},
            "empty_masks": sum(1 for r in good if r["foreground"] == 0),
            "binary_masks": sum(1 for r in good if r["distinct"] <= 2),
            "mean_noisy_pixel_fraction": float(np.mean([r["noisy"] for r in good])) if good else 0.0,
            "colour_coded_masks": len(colour),
            "red_pixels": sum(r["red"] for r in colour),
            "green_pixels": sum(r["green"] for r in colour),
        },
        "errors": errors,
        "warnings": notes,
    }
    report["usable"] = bool(good) and not errors
    return report


def mask_values(masks: int, binary: int, noisy: float) -> str:
    """What the masks' grey values are, and whether that matters for binarising them."""
    lo, hi = NOISE_BAND
    if binary == masks:
        return "every mask holds two values only (clean binary masks)"
    found = f"{masks - binary} of {masks} masks hold more than two grey values"
    if noisy == 0:
        return (f"{found}, all within {lo} of 0 or of 255 (compression noise, as in JPEG masks): binarising "
                f"at {MASK_THRESHOLD} recovers them exactly, not a problem")
    share = f"{noisy:.3%}" if noisy >= 5e-6 else "under 0.001%"
    return (f"{found}; {share} of mask pixels lie between {lo} and {hi} (blurred or heavily compressed edges), "
            f"their label set by the threshold at {MASK_THRESHOLD}: a problem only where that share is large")


def format_report(r: dict[str, Any]) -> str:
    lines = [f"dataset: {r['root']}"]
    if "images" in r:
        sz, ms = r["image_sizes"], r["masks_stats"]
        lines += [
            f"  images: {r['images']}",
            f"  masks:  {r['masks']}",
            f"  pairs found: {r['pairs']}, usable: {r['usable_pairs']}"
            + (f", video sequences: {r['sequences']}" if r.get("sequences") else ""),
            f"  image sizes: {sz['distinct']} distinct, from {sz['min']} to {sz['max']} (W x H)",
            f"  masks: binarised at {ms['threshold']}; foreground {ms['foreground_fraction']['mean']:.1%} on average "
            f"(min {ms['foreground_fraction']['min']:.1%}, max {ms['foreground_fraction']['max']:.1%}); "
            f"{ms['empty_masks']} empty",
            "  mask values: " + mask_values(r["usable_pairs"], ms["binary_masks"], ms["mean_noisy_pixel_fraction"]),
        ]
        if ms["colour_coded_masks"]:
            polyp = max(1, ms["red_pixels"] + ms["green_pixels"])
            lines.append(
                f"  colour-coded masks: {ms['colour_coded_masks']} of {r['usable_pairs']} (red = neoplastic, "
                f"green = non-neoplastic; polyp = red or green > 127): {ms['red_pixels'] / polyp:.1%} of polyp "
                f"pixels red, {ms['green_pixels'] / polyp:.1%} green"
            )
    for title in ("errors", "warnings"):
        if r[title]:
            lines.append(f"  {title} ({len(r[title])}):")
            lines += [f"    - {p}" for p in r[title]]
    lines.append("  usable: yes" if r["usable"] else "  usable: NO (fix the errors above, or train with --skip-bad)")
    return "\n".join(lines)
