"""Paired comparison of two models on the same test images: is a difference larger than the test set's noise?

Both evaluations score the same images, so the per-image differences are paired. The 95% interval is the
percentile bootstrap of their mean (images resampled with replacement); the p-value is a two-sided sign-flip
permutation test of "no difference" (each image's difference keeps its size and takes a random sign). Both
measure how much the choice of test images could move the difference, not how much another training seed
would: a single-seed comparison can be outside this interval and still be seed noise.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

CHUNK = 1_000  # resamples drawn at once, to bound memory on large test sets


@dataclass
class PairedComparison:
    """The mean of a per-image metric for A and B over their shared images, and what the difference means."""

    metric: str
    images: int
    mean_a: float
    mean_b: float
    difference: float  # mean over images of (A - B)
    ci_low: float
    ci_high: float
    p_value: float
    a_better: int  # images where A scores higher
    b_better: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_rows(path: str | Path) -> list[dict[str, Any]]:
    """The per-image rows of an evaluation: an ``eval_*.json`` file, or a run folder holding ``eval_test.json``."""
    path = Path(path)
    file = path / "eval_test.json" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no such evaluation file (write one with microaunet evaluate --out)")
    try:
        rows = json.loads(file.read_text()).get("per_image_rows")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
        raise ValueError(f"{file}: not an evaluation written by microaunet evaluate ({e})") from None
    if not rows:
        raise ValueError(f"{file}: holds no per-image rows (written by microaunet evaluate --out)")
    return rows


def paired_values(rows_a: list[dict[str, Any]], rows_b: list[dict[str, Any]], metric: str,
                  names: tuple[str, str] = ("A", "B")) -> tuple[np.ndarray, np.ndarray]:
    """The metric of A and of B on each image both scored, in one order; images where either value is
    undefined (HD95 with exactly one empty mask) are left out. The two must cover the same images."""
    by_id = [{r["id"]: r for r in rows} for rows in (rows_a, rows_b)]
    only_a, only_b = by_id[0].keys() - by_id[1].keys(), by_id[1].keys() - by_id[0].keys()
    if only_a or only_b:
        raise ValueError(f"{names[0]} and {names[1]} were not evaluated on the same images: {len(only_a)} only in "
                         f"the first (e.g. {sorted(only_a)[:1]}), {len(only_b)} only in the second "
                         f"(e.g. {sorted(only_b)[:1]})")
    for name, rows in zip(names, by_id):
        if any(metric not in r for r in rows.values()):
            known = sorted(k for k in next(iter(rows.values())) if k != "id")
            raise ValueError(f"{name}: no per-image '{metric}' (known: {', '.join(known)})")
    ids = sorted(by_id[0])
    a = np.array([by_id[0][i][metric] for i in ids], dtype=float)
    b = np.array([by_id[1][i][metric] for i in ids], dtype=float)
    defined = ~(np.isnan(a) | np.isnan(b))
    if not defined.any():
        raise ValueError(f"{names[0]} and {names[1]}: '{metric}' is undefined on every shared image")
    return a[defined], b[defined]


def paired_comparison(a: np.ndarray, b: np.ndarray, metric: str = "dice", resamples: int = 10_000,
                      seed: int = 0) -> PairedComparison:
    """Mean difference of paired per-image values, its 95% bootstrap interval and permutation p-value."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n, observed = len(d), float(d.mean())
    rng = np.random.default_rng(seed)
    means, extreme = [], 0
    for start in range(0, resamples, CHUNK):
        size = min(CHUNK, resamples - start)
        means.append(d[rng.integers(0, n, (size, n))].mean(axis=1))
        flipped = (rng.choice((-1.0, 1.0), (size, n)) * d).mean(axis=1)
        extreme += int((np.abs(flipped) >= abs(observed) - 1e-12).sum())
    low, high = np.percentile(np.concatenate(means), [2.5, 97.5])
    return PairedComparison(metric=metric, images=n, mean_a=float(np.mean(a)), mean_b=float(np.mean(b)),
                            difference=observed, ci_low=float(low), ci_high=float(high),
                            p_value=(extreme + 1) / (resamples + 1), a_better=int((d > 0).sum()),
                            b_better=int((d < 0).sum()))


def compare_evaluations(path_a: str | Path, path_b: str | Path, metric: str = "dice", resamples: int = 10_000,
                        seed: int = 0) -> PairedComparison:
    a, b = paired_values(load_rows(path_a), load_rows(path_b), metric, (str(path_a), str(path_b)))
    return paired_comparison(a, b, metric, resamples, seed)


def format_comparison(c: PairedComparison, name_a: str = "A", name_b: str = "B") -> str:
    ties = c.images - c.a_better - c.b_better
    return "\n".join([
        f"per-image {c.metric} on {c.images} shared images",
        f"A  {c.mean_a:.4f}  {name_a}",
        f"B  {c.mean_b:.4f}  {name_b}",
        f"A - B  {c.difference:+.4f}  (95% bootstrap interval {c.ci_low:+.4f} to {c.ci_high:+.4f}; "
        f"paired permutation p = {c.p_value:.4f})",
        f"A higher on {c.a_better} images, B on {c.b_better}, equal on {ties}",
        "This is the test set's sampling noise only: another training seed can move the difference further.",
    ])
