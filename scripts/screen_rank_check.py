"""Does a 100-epoch run rank training variants as a 300-epoch run does? From the runs already in results/.

For every variant and seed trained at both schedules on one dataset (the paper's protocol runs of
results/kvasir-seg and results/cvc-clinicdb), the final validation Dice of each schedule (log.csv's last
val_dice: the EMA weights on the validation set carved from the training ids; no test data), and the
Spearman rank correlation between the two schedules per dataset and over both.

    python scripts/screen_rank_check.py > results/recipe/schedule_rank_check.md
"""

from __future__ import annotations

import csv
from pathlib import Path

from scipy.stats import spearmanr

RESULTS = Path(__file__).resolve().parents[1] / "results"


def final_val_dice(run: Path) -> float:
    with (run / "log.csv").open() as f:
        return float(list(csv.DictReader(f))[-1]["val_dice"])


def pairs(dataset: str) -> list[tuple[str, float, float]]:
    rows = []
    for short in sorted((RESULTS / dataset).glob("*-e100*")):
        long = short.with_name(short.name.replace("-e100", "-e300"))
        if (short / "log.csv").is_file() and (long / "log.csv").is_file():
            rows.append((short.name.replace("-e100", ""), final_val_dice(short), final_val_dice(long)))
    return rows


def main() -> None:
    print("# A 100-epoch schedule ranks variants as the 300-epoch one does\n")
    print(__doc__.split("\n\n")[1].replace("\n", " ") + "\n")
    everything = []
    for dataset in ("kvasir-seg", "cvc-clinicdb"):
        rows = pairs(dataset)
        everything += rows
        rho = spearmanr([r[1] for r in rows], [r[2] for r in rows]).statistic
        print(f"## {dataset}: Spearman rho = {rho:.2f} over {len(rows)} variants\n")
        print("| variant (seed) | val Dice, 100 epochs | val Dice, 300 epochs |\n|---|---:|---:|")
        for name, a, b in sorted(rows, key=lambda r: -r[2]):
            print(f"| {name} | {a:.3f} | {b:.3f} |")
        print()
    rho = spearmanr([r[1] for r in everything], [r[2] for r in everything]).statistic
    print(f"Both datasets together: Spearman rho = {rho:.2f} over {len(everything)} runs.")


if __name__ == "__main__":
    main()
