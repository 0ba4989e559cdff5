"""Per-image Dice by polyp size: which polyps each model, the tiny student above all, misses.

A test image's polyp size is the share of its pixels that the ground-truth mask covers, at the image's own
resolution. Each dataset's test images are cut into three groups of equal count by that share (small, medium,
large: the terciles of the test split itself, a fixed rule), and each model's per-image Dice (at 256x256, from
the eval_test.json of its runs) is averaged within each group, then over the runs' seeds. Runs: those trained and
tested on the dataset's paper split with the given schedule.

    python scripts/dice_by_polyp_size.py [--epochs 300] > results/dice_by_polyp_size.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from microaunet.data import find_pairs, read_mask  # noqa: E402
from microaunet.reporting.report import rank  # noqa: E402
from microaunet.reporting.runs import Group, collect, group  # noqa: E402
from microaunet.reporting.variants import DATASETS, SUMMARY_ORDER  # noqa: E402

GROUPS = ("small", "medium", "large")


def polyp_shares(data: Path, ids: list[str]) -> dict[str, float]:
    """The share of each image's pixels that its mask marks as polyp."""
    return {s.id: float(read_mask(s.mask).mean()) for s in find_pairs(data).subset(ids)}


def size_groups(shares: dict[str, float]) -> tuple[list[set[str]], list[float]]:
    """The ids in three groups of equal count by polyp share, and the two shares that separate them."""
    ordered = sorted(shares, key=lambda i: (shares[i], i))
    cuts = [len(ordered) * k // 3 for k in range(4)]
    groups = [set(ordered[cuts[k]:cuts[k + 1]]) for k in range(3)]
    return groups, [shares[ordered[cuts[1]]], shares[ordered[cuts[2]]]]


def mean_dice(g: Group, ids: set[str]) -> float:
    """Mean per-image Dice over these ids, averaged over the group's seeds."""
    return float(np.mean([np.mean([r["dice"] for r in m.result["per_image_rows"] if r["id"] in ids])
                          for m in g.members]))


def dataset_table(groups: list[Group], data: Path) -> str:
    ids = [r["id"] for r in groups[0].members[0].result["per_image_rows"]]
    shares = polyp_shares(data, ids)
    by_size, cuts = size_groups(shares)
    head = [f"{name} ({len(ids_)} images)" for name, ids_ in zip(GROUPS, by_size)]
    lines = [f"{groups[0].tested_on}, {len(ids)} test images; polyp share of the image: small < {cuts[0]:.3f} "
             f"<= medium < {cuts[1]:.3f} <= large (median {np.median(list(shares.values())):.3f})", "",
             "| model | seeds | " + " | ".join(head) + " | all |", "|---|---|" + "---|" * (len(head) + 1)]
    for g in sorted(groups, key=lambda g: (rank(SUMMARY_ORDER, g.label), g.precision)):
        cells = [f"{mean_dice(g, ids_):.3f}" for ids_ in by_size] + [f"{mean_dice(g, set(ids)):.3f}"]
        lines.append(f"| {g.name} | {g.seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--kvasir", type=Path, default=Path("../shared/data/Kvasir-SEG"))
    parser.add_argument("--cvc", type=Path, default=Path("../shared/data/CVC-ClinicDB/PNG"))
    args = parser.parse_args()
    data = dict(zip(DATASETS, (args.kvasir, args.cvc)))
    chosen = [g for g in group(collect(args.results)) if g.on_paper_split and g.epochs == args.epochs]
    print(f"Per-image Dice (256x256) by polyp size, {args.epochs}-epoch runs on the paper's test splits "
          f"(`python scripts/dice_by_polyp_size.py --epochs {args.epochs}`).\n")
    for dataset in DATASETS:
        same = [g for g in chosen if g.tested_on == dataset]
        if same:
            print(dataset_table(same, data[dataset]) + "\n")


if __name__ == "__main__":
    main()
