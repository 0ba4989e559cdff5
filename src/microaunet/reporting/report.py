"""``microaunet report``: the paper's tables (and ours) from every evaluation found under a folder.

Each ``eval_*.json`` written by ``microaunet evaluate --out`` is one row; the run's ``config.json``
beside it says how the model was trained (model, distillation settings, seed, training data). Runs
that differ only in their seed are grouped (evaluations.py) and shown as mean +- standard deviation over seeds.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..models import display_name
from .recipe import recipe_section
from .runs import Group, collect, group
from .variants import (
    ABLATED,
    ABLATION_LABELS,
    COMPARISONS,
    DATASETS,
    PAPER_EPOCHS,
    SUMMARY_ORDER,
    paper_result,
)

# (column title, result family, aggregate, metric, format); family "main" is the evaluation size
MAIN_COLUMNS = (
    ("Dice", "main", "pooled", "dice", ".3f"), ("IoU", "main", "pooled", "iou", ".3f"),
    ("Acc", "main", "pooled", "accuracy", ".3f"), ("Spe", "main", "pooled", "specificity", ".3f"),
    ("Sen", "main", "pooled", "sensitivity", ".3f"),
    ("Dice/img", "main", "per_image", "dice", ".3f"), ("IoU/img", "main", "per_image", "iou", ".3f"),
    ("BF 2px", "main", "per_image", "boundary_f", ".3f"), ("HD95 px", "main", "per_image", "hd95", ".1f"),
)
TOOLBOX_COLUMNS = (
    ("mDice tb", "toolbox", None, "mean_dice", ".3f"), ("mIoU tb", "toolbox", None, "mean_iou", ".3f"),
    ("wF", "toolbox", None, "weighted_f", ".3f"), ("S", "toolbox", None, "s_measure", ".3f"),
    ("mE", "toolbox", None, "mean_e_measure", ".3f"), ("MAE", "toolbox", None, "mae", ".3f"),
)
ORIGINAL_COLUMNS = tuple((title, "at_original", *rest) for title, _, *rest in MAIN_COLUMNS)
DICE = (("Dice", "main", "pooled", "dice", ".3f"), ("Dice/img", "main", "per_image", "dice", ".3f"))


def _markdown_head(head: list[str]) -> list[str]:
    """The first two lines of a Markdown table with these column titles."""
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]


def _section(caption: str, lines: list[str], records: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """A report section: its caption, then its table (or a line saying there is nothing of its kind yet)."""
    body = "\n".join(lines) if records else "(no evaluations of this kind yet)"
    return f"{caption}\n\n{body}\n", records


def _cell(stats: tuple[float, float, int], fmt: str, runs: int) -> str:
    """Mean (± sample std over seeds); a metric that only some of the group's runs report says how many."""
    mean, std, n = stats
    if n == 0 or np.isnan(mean):
        return "-"
    return format(mean, fmt) + (f" ± {format(std, fmt)}" if n > 1 else "") + (f" (n={n})" if n < runs else "")


def group_table(groups: list[Group], columns: tuple, with_paper: bool = False) -> tuple[str, list[dict[str, Any]]]:
    """A Markdown table and its CSV rows (means and standard deviations as numbers). With ``with_paper``, the
    paper's row follows the last of our schedules of the same model on the same dataset, once."""
    if columns == MAIN_COLUMNS and any("toolbox" in m.result for g in groups for m in g.members):
        columns = MAIN_COLUMNS + TOOLBOX_COLUMNS
    head = ["model", "trained on", "tested on", "epochs", "seeds"] + [c[0] for c in columns]
    lines = _markdown_head(head)
    records = []
    paper_row_after = {(g.label, g.tested_on): i for i, g in enumerate(groups)
                       if with_paper and g.on_paper_split}
    for i, g in enumerate(groups):
        seeds = g.seeds
        all_stats = [g.stats(c) for c in columns]
        schedule = f"{g.epochs}" + ("" if g.precision == "fp32" else f" {g.precision}")
        lines.append("| " + " | ".join([g.label, g.trained_on, f"{g.tested_on} {g.test_split}", schedule, seeds]
                                        + [_cell(s, c[4], len(g.members)) for s, c in zip(all_stats, columns)]) + " |")
        record = {"model": g.label, "trained_on": g.trained_on, "tested_on": g.tested_on, "test_split": g.test_split,
                  "epochs": g.epochs, "precision": g.precision, "seeds": seeds}
        for (_, _, aggregate, metric, _), (mean, std, _) in zip(columns, all_stats):
            name = f"{metric}_{aggregate}" if aggregate else metric
            record |= {name: mean, f"{name}_std": std}
        records.append(record)
        paper = paper_result(g.label, g.tested_on) if paper_row_after.get((g.label, g.tested_on)) == i else None
        if paper:
            lines.append("| " + " | ".join([f"*{g.label} (paper)*", g.trained_on, g.tested_on, "300", "-"]
                                            + [format(paper[c[3]], c[4]) if c[2] == "pooled" and c[3] in paper else ""
                                               for c in columns]) + " |")
    return "\n".join(lines), records


def sections(groups: list[Group]) -> dict[str, tuple[str, list[Group], tuple, bool]]:
    """Each table: (caption, groups, columns, whether the paper's values sit beside ours)."""
    in_domain = [g for g in groups if g.in_domain]
    main = [g for g in in_domain if g.label not in ABLATED]
    ablation = [g for g in in_domain if g.label in ABLATION_LABELS]
    cross = [g for g in groups if not g.in_domain]
    return {
        "table1": ("Table 1: each model trained and tested on the same dataset (the paper's splits unless the "
                   "split says otherwise). Pooled Dice/IoU/Acc/Spe/Sen as the paper computes them; /img: mean "
                   "over images; BF: boundary F-score; tb: the polyp toolbox's metrics at original resolution. "
                   "Our rows: final EMA weights, no checkpoint selection, one table per training schedule "
                   "(bf16: trained under bfloat16 autocast, see results/speed.md); "
                   "mean ± sample standard deviation over the listed seeds. Paper rows: 300 epochs, pooled.",
                   main, MAIN_COLUMNS, True),
        "table1_original_resolution": ("Table 1 at each image's original resolution (prediction resized back).",
                                       main, ORIGINAL_COLUMNS, False),
        "table3": ("Table 3: ablations, each trained like the full model (same teacher, schedule and seed as one of "
                   "its runs); the seeds column says which runs a row averages.",
                   ablation, MAIN_COLUMNS, True),
        "generalisation": ("Generalisation: trained on one dataset and tested on another, or tested on video "
                           "sequences that training never saw (CVC-ClinicDB's sequence split; compare with the "
                           "paper's random-frame split in Table 1).",
                           cross, MAIN_COLUMNS, False),
    }


def schedule_title(epochs: int | None) -> str:
    """What a table of runs trained for ``epochs`` says of its schedule."""
    if epochs == PAPER_EPOCHS:
        return f"{epochs} epochs, the paper's schedule"
    return f"{epochs} epochs, a reduced schedule (the paper's: {PAPER_EPOCHS}), the same for every row of this table"


def by_schedule(groups: list[Group]) -> list[tuple[int | None, list[Group]]]:
    """The groups split by training schedule, longest first."""
    schedules = sorted({g.epochs for g in groups}, key=lambda e: -(e or 0))
    return [(e, [g for g in groups if g.epochs == e]) for e in schedules]


def schedule_tables(caption: str, groups: list[Group], columns: tuple, with_paper: bool
                    ) -> tuple[str, list[dict[str, Any]]]:
    """One of the report's tables, as one Markdown table per schedule under its caption, and its CSV rows."""
    if not groups:
        return f"{caption}\n\n(no evaluations of this kind yet)\n", []
    tables, records = [], []
    for epochs, same in by_schedule(groups):
        table, rows = group_table(same, columns, with_paper)
        tables.append(f"{schedule_title(epochs)}:\n\n{table}")
        records += rows
    return f"{caption}\n\n" + "\n\n".join(tables) + "\n", records


def rank(order: tuple[str, ...], name: str) -> tuple[int, str]:
    """Sort key: the position in ``order``, names not in it after, alphabetically."""
    return (order.index(name) if name in order else len(order), name)


def _summary_row(by_dataset: dict[str, Group], datasets: list[str], params: dict[str, int]
                 ) -> tuple[str, list[dict[str, Any]]]:
    """One model and schedule: its Markdown row across the dataset columns and a CSV record per dataset."""
    first = next(iter(by_dataset.values()))
    cells, seeds, records = [], {}, []
    for d in datasets:
        g = by_dataset.get(d)
        if g is None:
            cells.append("-")
            continue
        stats = [g.stats(c) for c in DICE]
        cells.append(" / ".join(_cell(s, c[4], len(g.members)) for s, c in zip(stats, DICE)))
        seeds[d] = g.seeds
        records.append({"model": g.label, "precision": g.precision, "epochs": g.epochs, "dataset": d,
                        "seeds": seeds[d], "dice_pooled": stats[0][0], "dice_pooled_std": stats[0][1],
                        "dice_per_image": stats[1][0], "dice_per_image_std": stats[1][1]})
    seed_cell = (next(iter(seeds.values())) if len(set(seeds.values())) == 1
                 else "; ".join(f"{d} {s}" for d, s in seeds.items()))
    paper = [paper_result(first.label, d) for d in datasets]
    paper_cell = " / ".join("-" if p is None else f"{p['dice']:.3f}" for p in paper) if any(paper) else "-"
    model = first.members[0].result["model"]
    count = f"{params[model]:,}" if model in params else "-"
    return "| " + " | ".join([first.name, count, *cells, seed_cell, paper_cell]) + " |", records


def summary_section(groups: list[Group], params: dict[str, int]) -> tuple[str, list[dict[str, Any]]]:
    """The README's tables: pooled / per-image Dice of every model trained and tested on one dataset's paper
    split, one table per schedule (longest first), one column per dataset, the paper's pooled Dice beside."""
    on_paper_split = [g for g in groups if g.on_paper_split]
    datasets = sorted({g.tested_on for g in on_paper_split}, key=lambda d: rank(DATASETS, d))
    head = ["model", "parameters", *datasets, "seeds", "paper (pooled)"]
    parts, records = [], []
    for epochs, same in by_schedule(on_paper_split):
        rows: dict[tuple[str, str], dict[str, Group]] = {}
        for g in same:
            rows.setdefault((g.label, g.precision), {})[g.tested_on] = g
        lines = [f"{schedule_title(epochs)}:", "", "| " + " | ".join(head) + " |",
                 "|---|---:|" + "---|" * (len(head) - 2)]
        for key in sorted(rows, key=lambda k: (rank(SUMMARY_ORDER, k[0]), k[1])):
            line, row_records = _summary_row(rows[key], datasets, params)
            lines.append(line)
            records += row_records
        parts.append("\n".join(lines))
    caption = ("Summary: pooled / per-image Dice of each model trained and tested on one dataset's paper split "
               "(the Dice columns of Tables 1 and 3), mean ± sample standard deviation over the seeds listed, "
               "one table per training schedule; bf16: trained under bfloat16 autocast; paper: the paper's pooled Dice "
               "(300 epochs), in the order of the dataset columns.")
    return f"{caption}\n\n" + ("\n\n".join(parts) or "(no evaluations of this kind yet)") + "\n", records


def cross_dataset_section(groups: list[Group]) -> tuple[str, list[dict[str, Any]]]:
    """Every model on every dataset's test split (its paper split's test part): rows are a model, the dataset it
    was trained on and its schedule; columns the test splits; cells pooled / per-image Dice, mean ± sd over seeds."""
    tested = [g for g in groups if g.test_split == "paper:test"]
    datasets = sorted({g.tested_on for g in tested}, key=lambda d: rank(DATASETS, d))
    rows: dict[tuple, dict[str, Group]] = {}
    for g in tested:
        rows.setdefault((g.label, g.precision, g.trained_on, g.epochs), {})[g.tested_on] = g
    rows = {k: v for k, v in rows.items() if set(v) - {k[2]}}  # models tested beyond their own dataset
    head = ["model", "trained on", "epochs", *[f"{d} test" for d in datasets]]
    lines = _markdown_head(head)
    records = []
    for key in sorted(rows, key=lambda k: (rank(DATASETS, k[2]), -(k[3] or 0), rank(SUMMARY_ORDER, k[0]), k[1])):
        label, precision, trained_on, epochs = key
        cells = []
        for d in datasets:
            g = rows[key].get(d)
            if g is None:
                cells.append("-")
                continue
            stats = [g.stats(c) for c in DICE]
            cells.append(" / ".join(_cell(st, c[4], len(g.members)) for st, c in zip(stats, DICE))
                         + (f" ({len(g.members)} seeds)" if len(g.members) > 1 else ""))
            records.append({"model": g.name, "trained_on": trained_on, "epochs": epochs, "tested_on": d,
                            "seeds": g.seeds, "dice_pooled": stats[0][0], "dice_pooled_std": stats[0][1],
                            "dice_per_image": stats[1][0], "dice_per_image_std": stats[1][1]})
        name = label + ("" if precision == "fp32" else f" ({precision})")
        lines.append("| " + " | ".join([name, trained_on, str(epochs), *cells]) + " |")
    caption = ("Cross-dataset matrix: each model tested beyond its training data (by the dataset it was trained on "
               "and its schedule) on the test split of every dataset, pooled / per-image Dice at 256x256, mean ± "
               "sample standard deviation over the seeds evaluated; the diagonal is Table 1's. A dataset never seen "
               "in training says how a model does at another centre.")
    return _section(caption, lines, records)


def seed_section(groups: list[Group]) -> tuple[str, list[dict[str, Any]]]:
    """How far apart two training seeds land, for every model, dataset and schedule trained with several: the
    spread of Dice over seeds, and the smallest difference between two such models that it lets a t test resolve."""
    from scipy.stats import t as student_t

    several = [g for g in groups if g.on_paper_split and len(g.members) > 1]
    head = ["model", "tested on", "epochs", "seeds", "sd Dice", "sd Dice/img", "resolvable Dice",
            "resolvable Dice/img"]
    lines = _markdown_head(head)
    records = []
    for g in sorted(several, key=lambda g: (rank(DATASETS, g.tested_on), -(g.epochs or 0),
                                            rank(SUMMARY_ORDER, g.label))):
        n = len(g.members)
        factor = float(student_t.ppf(0.975, 2 * n - 2)) * (2 / n) ** 0.5
        sds = [g.stats(c)[1] for c in DICE]
        lines.append("| " + " | ".join([g.name, g.tested_on, str(g.epochs), g.seeds]
                                       + [f"{sd:.3f}" for sd in sds] + [f"{factor * sd:.3f}" for sd in sds]) + " |")
        records.append({"model": g.name, "tested_on": g.tested_on, "epochs": g.epochs, "seeds": n,
                        "dice_pooled_std": sds[0], "dice_per_image_std": sds[1],
                        "resolvable_dice_pooled": factor * sds[0], "resolvable_dice_per_image": factor * sds[1]})
    caption = ("Seed spread: the sample standard deviation of Dice over the training seeds (pooled and per image) "
               "for every model, dataset and schedule trained with several seeds, and the smallest difference "
               "between two models with that many seeds and this spread that a two-sided t test at the 5% level "
               "resolves, t(0.975, 2n-2) x sd x sqrt(2/n); a difference must be larger still to be found "
               "reliably.")
    return _section(caption, lines, records)


def comparison_section(groups: list[Group]) -> tuple[str, list[dict[str, Any]]]:
    """The pairs of COMPARISONS, seed by seed, wherever both were trained and tested alike (each dataset's paper
    split, and all of the other dataset), compared on the same test images: the per-image Dice difference, its
    bootstrap interval and permutation p-value (see compare.py)."""
    from ..evaluation.compare import paired_comparison, paired_values

    def setting(g: Group) -> tuple:
        return g.trained_on, g.tested_on, g.test_split, g.epochs

    settings = sorted({setting(g) for g in groups}, key=lambda k: (k[0] != k[1], rank(DATASETS, k[0]), -(k[3] or 0),
                                                                   k[2], rank(DATASETS, k[1])))
    head = ["trained on", "tested on", "epochs", "seed", "A", "B", "Dice/img A", "Dice/img B", "A - B",
            "95% interval", "p", "images A / B higher"]
    lines = _markdown_head(head)
    records = []
    for trained_on, tested_on, test_split, epochs in settings:
        for label_a, label_b in COMPARISONS:
            side = {name: [g for g in groups if g.label == name and setting(g) == (trained_on, tested_on, test_split,
                                                                                    epochs)]
                    for name in (label_a, label_b)}
            pairs = [(ga, gb, a, b) for ga in side[label_a] for gb in side[label_b]
                     for a in ga.members for b in gb.members if a.seed is not None and a.seed == b.seed]
            for ga, gb, a, b in sorted(pairs, key=lambda p: p[2].seed):
                values = paired_values(a.result["per_image_rows"], b.result["per_image_rows"], "dice",
                                       (str(a.path), str(b.path)))
                c = paired_comparison(*values)
                lines.append("| " + " | ".join([
                    trained_on, f"{tested_on} {test_split}", str(epochs), str(a.seed), ga.name, gb.name,
                    f"{c.mean_a:.3f}", f"{c.mean_b:.3f}", f"{c.difference:+.3f}",
                    f"{c.ci_low:+.3f} to {c.ci_high:+.3f}", f"{c.p_value:.4f}", f"{c.a_better} / {c.b_better}"]) + " |")
                records.append({"trained_on": trained_on, "tested_on": tested_on, "test_split": test_split,
                                "epochs": epochs, "seed": a.seed, "a": ga.name, "b": gb.name} | c.as_dict())
    caption = ("Paired comparisons: two runs of the same seed, trained alike, on the same test images (in domain: "
               "the paper's split; across datasets: all of the other one). A - B: "
               "mean over images of the difference in per-image Dice (at the evaluation size); 95% interval: "
               "percentile bootstrap over the test images (10,000 resamples); p: two-sided paired sign-flip "
               "permutation test of no difference (10,000 draws: 0.0001 is the smallest p they can give), each row on "
               "its own, uncorrected for the number of rows. Both measure the test set's sampling noise only, not "
               "the spread over training seeds (Table 1's standard deviations), which a single-seed difference "
               "must also exceed.")
    return _section(caption, lines, records)


def complexity_section(root: Path) -> tuple[str, list[dict[str, Any]]]:
    """Table 2: parameters and compute of every model, with CPU latency from ``root/speed.json`` if present
    (the output of ``microaunet bench speed --json``)."""
    from .complexity import complexity_table

    speed_path = root / "speed.json"
    speed = json.loads(speed_path.read_text()) if speed_path.exists() else {"rows": []}
    latency = {(r["model"], r["backend"], r["threads"]): r["median_ms"] for r in speed["rows"]
               if r["batch"] == 1 and r.get("tta", "none") == "none"}  # the TTA rows time MicroAUNet's flips
    timed = (("onnxruntime", 1), ("onnxruntime", 2), ("torch", 1))
    head = ["model", "params", "GMACs (thop)", "GFLOPs (torch)", "paper params (M)", "paper FLOPs (G)"]
    head += [f"{b} {t} thr ms" for b, t in timed]
    lines = _markdown_head(head)
    records = []
    for r in complexity_table():
        ms = [latency.get((r["model"], b, t)) for b, t in timed]
        gmacs = "-" if r["gmacs_thop"] is None else f"{r['gmacs_thop']:.4f}"
        lines.append("| " + " | ".join([display_name(r["model"]), f"{r['params']:,}", gmacs,
                                        f"{r['gflops_torch']:.4f}", str(r["paper_params_m"] or "-"),
                                        str(r["paper_gflops_label"] or "-")]
                                       + ["-" if v is None else f"{v:.2f}" for v in ms]) + " |")
        records.append(r | {f"{b}_{t}thr_ms": v for (b, t), v in zip(timed, ms)})
    machine = (", " + ", ".join(f"{k} {v}" for k, v in speed["machine"].items()) if speed.get("machine")
               else " (no speed.json: run microaunet bench speed --json > RUNS_DIR/speed.json)")
    caption = "Table 2: complexity at 256x256, batch 1; latency: median over repeats, batch 1" + machine
    return f"{caption}\n\n" + "\n".join(lines) + "\n", records


def write_csv(path: Path, records: list[dict[str, Any]]) -> None:
    if not records:
        return
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)


def report(root: str | Path, out_dir: str | Path | None = None) -> str:
    """Markdown of every table; with ``out_dir``, also tables.md, one CSV per table and the figures."""
    rows = collect(root)
    groups = group(rows)
    tables = sections(groups)
    table2, complexity_records = complexity_section(Path(root))
    results = {
        "summary": summary_section(groups, {r["model"]: r["params"] for r in complexity_records}),
        "table1": schedule_tables(*tables["table1"]),
        "table1_original_resolution": schedule_tables(*tables["table1_original_resolution"]),
        "table2": (table2, complexity_records),
        "table3": schedule_tables(*tables["table3"]),
        "seeds": seed_section(groups),
        "comparisons": comparison_section(groups),
        "generalisation": schedule_tables(*tables["generalisation"]),
        "cross_dataset": cross_dataset_section(groups),
        "recipe": recipe_section(root),
    }
    parts = [text for text, _ in results.values()]
    if out_dir:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, (_, records) in results.items():
            write_csv(out_dir / f"{name}.csv", records)
        parts.append(figures(tables["table1"][1], {r["model"]: r for r in complexity_records}, out_dir))
    text = "\n".join(parts)
    if out_dir:
        (out_dir / "tables.md").write_text(text)
    return text


def figures(main: list[Group], complexity: dict[str, dict[str, Any]], out_dir: Path) -> str:
    """Figures 3-5 of the Table 1 groups under ``out_dir``; Markdown that shows them (or says why one is missing)."""
    from .figures import qualitative_figure, radar_figure, scatter_figure

    lines = ["Figures"]
    if not main:
        return "Figures: no in-domain evaluations yet\n"
    lines.append(f"![Fig. 3]({radar_figure(main, out_dir / 'fig3_radar.png').name})")
    lines.append(f"![Fig. 4]({scatter_figure(main, complexity, out_dir / 'fig4_scatter.png').name})")
    for dataset in sorted({g.tested_on for g in main}):
        same = [g for g in main if g.tested_on == dataset]
        picture, missing = qualitative_figure(same, out_dir / f"fig5_{dataset}.png")
        absent = f"neither weights nor predictions found for {', '.join(missing)}" if missing else ""
        lines.append(f"![Fig. 5, {dataset}]({picture.name})" + (f" ({absent}: not shown)" if absent else "")
                     if picture else f"Fig. 5 for {dataset} not drawn: {absent}")
    return "\n\n".join(lines) + "\n"
