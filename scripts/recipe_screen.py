"""The recipe screen of the 24,881-parameter MicroAUNet (issue #33): short runs scored on validation data only.

Every candidate trains 100 epochs (a complete cosine) on Kvasir-SEG's paper training split with seed 42 and is
scored by its final EMA weights on the validation set the trainer carves out of the training ids (80 images,
never trained on; the 300-epoch teachers below were trained with the same carve, so they never saw them either).
The test split is not opened. The protocol and the decision rule are in results/recipe/README.md, written before
the first run.

Each finished run is collected into results/recipe/screen/NAME/: the command, the training log and stdout, the
config, the commit, the machine, the wall time, the final (folded) weights and eval_val.json. Several copies may
run side by side (one run each at a time, a lock per run under runs/recipe/.locks/); run it again after an
interruption and it resumes each unfinished run from its last.pt.

    python scripts/recipe_screen.py [--threads 1] [--epochs 100] [--only NAME ...] [--list]
    python scripts/recipe_screen.py --device cuda --jobs 12     (a GPU machine: the whole screen side by side)
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = os.environ.get("KVASIR", str(ROOT.parent / "shared" / "data" / "Kvasir-SEG"))
RUNS = ROOT / "runs" / "recipe"
RESULTS = ROOT / "results" / "recipe" / "screen"

TEACHERS = {  # the 300-epoch Kvasir-SEG teachers kept in results/ (EMA weights)
    "malunet42": "results/kvasir-seg/malunet-e300/final.safetensors",
    "malunet43": "results/kvasir-seg/malunet-e300-seed43/final.safetensors",
    "malunet44": "results/kvasir-seg/malunet-e300-seed44/final.safetensors",
    "unext42": "results/kvasir-seg/unext-s-e300/final.safetensors",
}
ENSEMBLE = ["malunet42", "malunet43", "malunet44", "unext42"]


def _teachers(names: list[str]) -> list[str]:
    return [arg for name in names for arg in ("--teacher", TEACHERS[name])]


PAPER = ["distill", "--kd", "paper", *_teachers(["malunet42"])]
KD_ENSEMBLE = ["distill", "--kd", "output", *_teachers(ENSEMBLE), "--teacher-tta", "flip4"]

# name -> (what it changes, microaunet arguments before the common ones); most telling first
SCREEN: dict[str, tuple[str, list[str]]] = {
    "kd-ensemble": ("output KD from the ensemble (MALUNet x3 + UNeXt-S, flip4), whole run", KD_ENSEMBLE),
    "paper": ("the paper's two-stage distillation from MALUNet (seed 42): the reference", PAPER),
    "kd-malunet": ("output KD from MALUNet (seed 42) alone, whole run",
                   ["distill", "--kd", "output", *_teachers(["malunet42"])]),
    "kd-ensemble-overparam": ("kd-ensemble with over-parameterised DWD convs (folded)", [*KD_ENSEMBLE, "--overparam"]),
    "kd-ensemble-deep": ("kd-ensemble with deep supervision (weight 0.4)", [*KD_ENSEMBLE, "--deep-supervision", "0.4"]),
    "kd-ensemble-seed43": ("kd-ensemble, seed 43: seed noise", [*KD_ENSEMBLE, "--seed", "43"]),
    "kd-ensemble-ad": ("kd-ensemble with the authors' LDGA (microaunet-ad)",
                       [*KD_ENSEMBLE, "--student", "microaunet-ad"]),
    "kd-ensemble-norotate": ("kd-ensemble without rotations (flips only)", [*KD_ENSEMBLE, "--p-rotate", "0"]),
    "kd-malunet-flip4": ("output KD from MALUNet (seed 42) with flip4 TTA",
                         ["distill", "--kd", "output", *_teachers(["malunet42"]), "--teacher-tta", "flip4"]),
    "paper-seed43": ("the paper's recipe, seed 43 (teacher seed 43): seed noise",
                     ["distill", "--kd", "paper", *_teachers(["malunet43"]), "--seed", "43"]),
    "kd-ensemble-cwd": ("kd-ensemble with channel-wise KD instead of the per-pixel KL",
                        [*KD_ENSEMBLE, "--kd-loss", "cwd"]),
    "kd-ensemble-t2": ("kd-ensemble at temperature 2", [*KD_ENSEMBLE, "--temperature", "2"]),
    "paper-gn1": ("the paper's recipe with one group in every GroupNorm (microaunet-gn1)",
                  [*PAPER, "--student", "microaunet-gn1"]),
}


def _command(name: str, threads: int, epochs: int, device: str = "cpu") -> list[str]:
    _, args = SCREEN[name]
    seed = [] if "--seed" in args else ["--seed", "42"]
    return ["microaunet", *args, "--data", DATA, "--split", "paper", "--epochs", str(epochs), *seed,
            "--threads", str(threads), "--device", device, "--out", str(RUNS / name)]


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def _run(name: str, threads: int, epochs: int, device: str = "cpu") -> bool:
    """Train (or resume), evaluate on validation data, collect. False if another copy holds the run."""
    RUNS.mkdir(parents=True, exist_ok=True)
    (RUNS / ".locks").mkdir(exist_ok=True)
    with open(RUNS / ".locks" / name, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        done = RESULTS / name / "eval_val.json"
        if done.is_file():
            return True
        run = RUNS / name
        command = _command(name, threads, epochs, device)
        if (run / "last.pt").is_file():
            command.append("--resume")
        run.mkdir(parents=True, exist_ok=True)
        started = time.time()
        with open(run / "train_stdout.log", "a") as log:
            subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=True)
        trained = time.time() - started
        evaluate = ["microaunet", "evaluate", "--ckpt", str(run / "final.safetensors"), "--data", DATA,
                    "--split", "val", "--threads", str(threads), "--out", str(run / "eval_val.json")]
        subprocess.run(evaluate, cwd=ROOT, stdout=subprocess.DEVNULL, check=True)
        out = RESULTS / name
        out.mkdir(parents=True, exist_ok=True)
        for f in ("config.json", "log.csv", "train_stdout.log", "final.safetensors", "eval_val.json"):
            shutil.copy2(run / f, out / f)
        (out / "command.txt").write_text(" ".join(command) + "\n" + " ".join(evaluate) + "\n")
        record = {"name": name, "change": SCREEN[name][0], "commit": _git("rev-parse", "HEAD"),
                  "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
                  "epochs": epochs, "threads": threads, "device": device, "wall_s_this_session": round(trained, 1),
                  "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                              "python": platform.python_version()},
                  "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (out / "provenance.json").write_text(json.dumps(record, indent=2) + "\n")
        return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="threads per run (default 1: run two copies)")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--only", nargs="+", choices=list(SCREEN), help="these runs only")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda on a GPU machine")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time in this copy (default 1)")
    parser.add_argument("--list", action="store_true", help="print the screen's runs and exit")
    args = parser.parse_args()
    if args.list:
        for name, (change, _) in SCREEN.items():
            print(f"{name:24s} {change}\n  {' '.join(_command(name, args.threads, args.epochs))}")
        return 0
    def one(name: str) -> None:
        done = _run(name, args.threads, args.epochs, args.device)
        print(f"{name}: {'done' if done else 'held by another copy, skipped'}", flush=True)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(one, args.only or SCREEN))
    return 0


if __name__ == "__main__":
    sys.exit(main())
