"""Write the model card of every shipped weights file (src/microaunet/weights/NAME.json) from the records in results/:
its training run (config, commit, epochs, seed), its test figures on every dataset it was evaluated on, its
robustness figures, and its known limits. `microaunet info NAME` prints a card; `microaunet models` lists them.

    python scripts/model_cards.py        (after the runs, cross-dataset evaluations and robustness are in results/)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from microaunet.deploy.pretrained import pretrained_path  # noqa: E402
from microaunet.reporting.runs import dataset_name  # noqa: E402
from microaunet.training.checkpoint import load_model  # noqa: E402

RESULTS = ROOT / "results"
SHIPPED = {  # weights name -> the collected run it comes from (results/...)
    "microaunet-kvasir": "kvasir-seg/microaunet-distill-e300",
    "malunet-kvasir": "kvasir-seg/malunet-e300",
    "microaunet-cvc": "cvc-clinicdb/microaunet-distill-e300",
    "malunet-cvc": "cvc-clinicdb/malunet-e300",
}
LIMITS = {
    "microaunet": ["Trained on one centre's images: on other centres' images it keeps much less of its accuracy (see "
                   "tested_on).",
                   "Underfits: below its teacher and UNeXt-S on its own test split, and weakest on small polyps.",
                   "Lighting and colour changes cost it several points of Dice (see robustness).",
                   "A research model, not a medical device: not validated for clinical use."],
    "malunet": ["Trained on one centre's images: on other centres' images it keeps less of its accuracy (see "
                "tested_on).",
                "A research model, not a medical device: not validated for clinical use."],
}


def _figures(path: Path) -> dict[str, float | int | str]:
    r = json.loads(path.read_text())
    block = r[f"at_{r['size']}"]
    return {"dataset": dataset_name(r["data"]), "split": r["split"] if r["split"] == "all" else
            f"{r['split_definition']}:{r['split']}", "images": r["images"],
            "dice_pooled": round(block["pooled"]["dice"], 4), "dice_per_image": round(block["per_image"]["dice"], 4),
            "dice_per_image_original_size": round(r["at_original"]["per_image"]["dice"], 4),
            "record": str(path.relative_to(ROOT))}


def card(name: str, run: str) -> dict:
    folder = RESULTS / run
    config = json.loads((folder / "config.json").read_text())
    model, info = load_model(pretrained_path(name))
    tested = [_figures(folder / "eval_test.json")]
    leaf = Path(run).name
    tested += [_figures(p) for p in sorted(RESULTS.glob(f"cross-dataset/*/{leaf}/eval_test.json"))
               if p.parent.parent.name.startswith(run.split("/")[0] + "-to-")]
    tested += [_figures(p) for p in sorted(RESULTS.glob(f"generalisation/*/{leaf}/eval_all.json"))
               if json.loads((p.parent / "config.json").read_text())["data"] == config["data"]]
    robustness_path = RESULTS / "robustness" / f"{name}.json"
    robustness = None
    if robustness_path.is_file():
        r = json.loads(robustness_path.read_text())
        robustness = {"record": str(robustness_path.relative_to(ROOT)), "tested_on": dataset_name(r["data"]),
                      "metric": r["metric"], "worst": r["worst"],
                      "drops": {row["name"]: [round(row["drop_per_image"], 4), round(row["drop_pooled"], 4)]
                                for row in r["rows"][1:]}}
    commits = (folder / "commit.txt").read_text().split()
    return {
        "name": name, "model": info["model"], "parameters": sum(p.numel() for p in model.parameters()),
        "trained_on": dataset_name(config["data"]) if isinstance(config["data"], str) else config["data"],
        "split": config["split"], "epochs": config["epochs"], "seed": config["seed"],
        "recipe": "the paper's two-stage distillation from MALUNet" if "distill" in config.get("extra", {})
        else "supervised (BCE + Dice)", "source_run": f"results/{run}", "commit": commits[0],
        "input": {"size": config["size"], "colour_order": "RGB", "normalisation": "ImageNet mean and std"},
        "tested_on": tested, "robustness": robustness, "known_limits": LIMITS[info["model"]],
    }


def main() -> None:
    for name, run in SHIPPED.items():
        path = pretrained_path(name).with_suffix(".json")
        path.write_text(json.dumps(card(name, run), indent=2) + "\n")
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
