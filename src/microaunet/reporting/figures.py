"""The paper's figures from our evaluations: radar charts (Fig. 3), accuracy against size (Fig. 4),
and a qualitative grid (Fig. 5) whose images are picked by a fixed rule, never by hand."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from .runs import Evaluation, Group
from .variants import PAPER_METRICS, paper_result

RADAR_LABELS = ("Dice", "IoU", "Acc", "Spe", "Sen")
GRID_QUANTILES = (0.1, 0.3, 0.5, 0.7, 0.9)
HEADER_BASELINES = (19, 38, 57)  # Fig. 5, above each column: the model's name on up to two lines, schedule and seed
HEADER_HEIGHT = HEADER_BASELINES[-1] + 8
HEADER_CHARACTERS = 24  # of a header line: what fits the width of a 192-pixel column


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _mean_pooled(g: Group) -> list[float]:
    return [g.stats(("", "main", "pooled", m, ""))[0] for m in PAPER_METRICS]


def schedule(g: Group) -> str:
    """How the group was trained: epochs, and precision where not float32."""
    return f"{g.epochs} ep" + ("" if g.precision == "fp32" else f", {g.precision}")


def model_name(g: Group) -> str:
    """A model and its schedule: the unit that keeps one colour."""
    return f"{g.label} ({schedule(g)})"


def model_colours(groups: list[Group]) -> dict[str, object]:
    """One colour per model name, the same on both datasets and in every figure."""
    import matplotlib

    names = sorted({model_name(g) for g in groups})
    palette = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"].colors
    return {name: palette[i % len(palette)] for i, name in enumerate(names)}


def radar_figure(groups: list[Group], path: Path) -> Path:
    """One radar per test dataset: our pooled metrics (solid) and the paper's for the same model (dashed)."""
    plt = _pyplot()
    datasets = sorted({g.tested_on for g in groups})
    angles = np.linspace(0, 2 * np.pi, len(RADAR_LABELS), endpoint=False).tolist()
    fig, axes = plt.subplots(1, len(datasets), subplot_kw={"polar": True}, figsize=(5.5 * len(datasets), 5.5),
                             squeeze=False)
    colours = model_colours(groups)
    for ax, dataset in zip(axes[0], datasets):
        with_paper_line = set()
        for g in (g for g in groups if g.tested_on == dataset):
            colour = colours[model_name(g)]
            values = _mean_pooled(g)
            ax.plot(angles + angles[:1], values + values[:1], color=colour, label=model_name(g))
            paper = paper_result(g.label, dataset)
            if paper and g.label not in with_paper_line:
                with_paper_line.add(g.label)
                pv = [paper[m] for m in PAPER_METRICS]
                ax.plot(angles + angles[:1], pv + pv[:1], color=colour, linestyle="--", label=f"{g.label} (paper)")
        ax.set_xticks(angles, RADAR_LABELS)
        ax.set_ylim(0, 1)
        ax.set_title(dataset)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def scatter_figure(groups: list[Group], complexity: dict[str, dict], path: Path) -> Path:
    """Pooled Dice against parameters and against GMACs (log axes); hollow markers: the paper's values."""
    plt = _pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.ticker import NullLocator

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    markers = {d: m for d, m in zip(sorted({g.tested_on for g in groups}), "osD^v")}
    colours = model_colours(groups)
    panels = ((axes[0], "params", "parameters"), (axes[1], "gmacs_thop", "GMACs (thop, the paper's FLOPs)"))
    for ax, key, title in panels:
        xs = []
        for g in groups:
            row = complexity.get(g.members[0].result["model"])
            if not row or row.get(key) is None:
                continue
            x = row[key]
            xs.append(x)
            colour, marker = colours[model_name(g)], markers[g.tested_on]
            ax.scatter([x], [_mean_pooled(g)[0]], color=colour, marker=marker)
            paper = paper_result(g.label, g.tested_on)
            if paper:
                ax.scatter([x], [paper["dice"]], facecolors="none", edgecolors=colour, marker=marker)
        ax.set_xscale("log")
        # each model's own value as a tick: exact, and no crowded 3x10^4-style minor labels
        ax.xaxis.set_minor_locator(NullLocator())
        ticks = sorted(set(xs))
        ax.set_xticks(ticks, [f"{x:,}" if key == "params" else f"{x:.3f}" for x in ticks], fontsize=8,
                      rotation=90)
        ax.set_xlabel(title + " (log)")
        ax.set_ylabel("pooled Dice")
        ax.grid(True, which="both", alpha=0.3)
    handles = [Line2D([], [], linestyle="", marker="o", color=c, label=n) for n, c in colours.items()]
    handles += [Line2D([], [], linestyle="", marker=m, color="grey", label=d) for d, m in markers.items()]
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4, fontsize=8)
    fig.suptitle("Accuracy against size: filled = measured here, hollow = the paper")
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _mean_dice_per_image(g: Group) -> dict[str, float]:
    """Each test image's Dice averaged over the group's seeds."""
    runs = [{r["id"]: r["dice"] for r in m.result["per_image_rows"]} for m in g.members]
    return {i: float(np.mean([run[i] for run in runs])) for i in set.intersection(*(set(run) for run in runs))}


def pick_images(groups: list[Group]) -> list[str]:
    """Test images at fixed quantiles (hard to easy) of the per-image Dice averaged over the models
    (each model's seeds averaged first)."""
    per_model = [_mean_dice_per_image(g) for g in groups]
    common = sorted(set.intersection(*(set(d) for d in per_model)))
    mean_dice = np.array([np.mean([d[i] for d in per_model]) for i in common])
    order = [common[k] for k in np.argsort(mean_dice, kind="stable")]
    return [order[min(len(order) - 1, int(q * len(order)))] for q in GRID_QUANTILES]


def drawing_source(evaluation: Evaluation) -> Path | None:
    """What draws the evaluated model: its weights (``final.safetensors`` beside the evaluation, as results/
    keeps them, else the checkpoint the evaluation names), else its kept test-split predictions
    (``predictions.npz`` beside the evaluation: results/ keeps them where the weights are too large for git)."""
    run = evaluation.path.parent
    for candidate in (run / "final.safetensors", Path(evaluation.result["ckpt"]), run / "predictions.npz"):
        if candidate.is_file():
            return candidate
    return None


def drawable_run(g: Group) -> tuple[Evaluation, Path] | None:
    """The group's first seed whose weights or predictions are kept, with where they are."""
    for member in g.members:
        source = drawing_source(member)
        if source is not None:
            return member, source
    return None


def qualitative_figure(groups: list[Group], path: Path, tile: int = 192) -> tuple[Path | None, list[str]]:
    """Rows: the picked images (chosen from every group's per-image Dice); columns: image, ground truth,
    each model's prediction (green) with the ground truth's outline (white), from its first seed with
    kept weights or predictions; the header names each model, its schedule and that seed. Models with
    neither are left out and named (with their schedule) in the second return value; with none found,
    nothing is drawn."""
    from ..data import find_pairs, read_image, read_mask
    from ..deploy.drawing import draw_outline, overlay
    from ..evaluation.evaluate import predict_probability
    from ..evaluation.predictions import load_predictions
    from ..training.checkpoint import load_model

    def predictor(e: Evaluation, source: Path) -> Callable[[str, np.ndarray], np.ndarray]:
        """The model's thresholded prediction of an image (by id and pixels), at the image's size."""
        if source.suffix == ".npz":
            kept = load_predictions(source)

            def kept_prediction(image_id: str, _: np.ndarray) -> np.ndarray:
                if image_id not in kept:
                    raise ValueError(f"{source}: no prediction for image {image_id} of {e.path}")
                return kept[image_id]
            return kept_prediction
        model = load_model(source)[0].eval()
        return lambda _, image: predict_probability(model, image, e.result["size"])[1] >= e.result["threshold"]

    picked = pick_images(groups)
    runs = [drawable_run(g) for g in groups]
    missing = [model_name(g) for g, run in zip(groups, runs) if run is None]
    shown = [(g, *run) for g, run in zip(groups, runs) if run is not None]
    if not shown:
        return None, missing
    predictors = [predictor(e, source) for _, e, source in shown]
    dataset = find_pairs(shown[0][1].result["data"])
    samples = {s.id: s for s in dataset.subset(picked)}
    rows = []
    for image_id in picked:
        image, mask = read_image(samples[image_id].image), read_mask(samples[image_id].mask)
        panels = [image, overlay(image, mask)]
        for predict in predictors:
            panels.append(draw_outline(overlay(image, predict(image_id, image)), mask, (255, 255, 255)))
        rows.append(np.concatenate([cv2.resize(p, (tile, tile), interpolation=cv2.INTER_AREA) for p in panels], 1))
    header = np.full((HEADER_HEIGHT, rows[0].shape[1], 3), 255, np.uint8)
    titles = [(["image"], ""), (["ground truth"], "")] + [
        (textwrap.wrap(g.label, HEADER_CHARACTERS, max_lines=2, placeholder="..."), f"{schedule(g)}, seed {e.seed}")
        for g, e, _ in shown]
    for k, (name, run) in enumerate(titles):
        for line, y in (*zip(name, HEADER_BASELINES[:2]), (run, HEADER_BASELINES[2])):
            cv2.putText(header, line[:HEADER_CHARACTERS], (k * tile + 4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                        (0, 0, 0), 1, cv2.LINE_AA)
    # OpenCV's default PNG compression (level 1) leaves this photo grid about 5x larger than level 9
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate([header, *rows], 0), cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return path, missing
