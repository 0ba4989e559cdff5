"""``microaunet report``: tables of every evaluation found under a results folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

COLUMNS = (
    ("Dice pooled", "pooled", "dice", ".3f"), ("IoU pooled", "pooled", "iou", ".3f"),
    ("Acc", "pooled", "accuracy", ".3f"), ("Spe", "pooled", "specificity", ".3f"),
    ("Sen", "pooled", "sensitivity", ".3f"), ("Dice per image", "per_image", "dice", ".3f"),
    ("IoU per image", "per_image", "iou", ".3f"), ("boundary F", "per_image", "boundary_f", ".3f"),
    ("HD95 px", "per_image", "hd95", ".1f"),
)


def collect(root: str | Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(Path(root).rglob("eval_*.json")):
        result = json.loads(path.read_text())
        rows.append({"path": path, "run": path.parent.name, **result})
    if not rows:
        raise FileNotFoundError(f"{root}: no eval_*.json files (write them with microaunet evaluate --out)")
    return rows


def markdown_table(rows: list[dict[str, Any]], root: Path, family: str | None = None) -> str:
    lines = []
    for row in rows:
        key = family or f"at_{row['size']}"
        cells = [f"[{row['run']}]({row['path'].parent.relative_to(root).as_posix()})", row["model"],
                 str(row.get("epochs", "")), f"{Path(row['data']).name} {row['split_definition']}:{row['split']}"]
        cells += [format(row[key][agg][metric], fmt) for _, agg, metric, fmt in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    header = "| run | model | epochs | data | " + " | ".join(c[0] for c in COLUMNS) + " |"
    return "\n".join([header, "|" + "---|" * (4 + len(COLUMNS))] + lines)


def report(root: str | Path) -> str:
    root = Path(root)
    rows = collect(root)
    size = rows[0]["size"]
    return (f"At {size}x{size} (the paper's protocol):\n\n{markdown_table(rows, root)}\n\n"
            f"At each image's original resolution:\n\n{markdown_table(rows, root, 'at_original')}\n")
