"""General-purpose polyp weights (issue #34): teachers and students on Kvasir-SEG, CVC-ClinicDB and BKAI-NeoPolyp.

MALUNet teachers and MicroAUNet students trained on the three datasets together, and leave-one-dataset-out pairs,
all with each dataset's paper split.

Phases; a run starts only when the runs it needs are collected (`--list` prints every run, what it needs and its
exact commands):

1. screen-s0, screen-s0.25, screen-s0.5, screen-s1: MALUNet on the union of the three training splits, 100 epochs,
   seed 42, `--photometric S`; each scored on the validation images the trainer carved out of each dataset's
   training ids (`evaluate --split val`), clean and under the 18 perturbations of `bench robustness --split val`.
   No test image is read.
2. teacher42, teacher43, teacher44: MALUNet on the union, 300 epochs, the chosen S, seeds 42, 43, 44.
3. student42, student43, student44: MicroAUNet distilled (RECIPE below) from the teacher of the same seed, same
   data, S, epochs and seed.
4. teacher-no-D, student-no-D for D in kvasir, cvc, bkai: the teacher on the other two datasets' training splits
   (seed 42, 300 epochs, the chosen S), then its student; each evaluated on all images of D.
5. teacherN-test, studentN-test: each general model of phases 2 and 3 on the test split of each dataset, clean
   and with `bench robustness`. The test splits are opened only here, once per model.

Decision rule for S (written before any run; results/general/README.md states the same). For each screen run:
  clean(S) = the mean over the three datasets of the validation pooled Dice at 256x256 (`evaluate --split val`,
             at_256.pooled.dice: the convention of results/recipe/README.md);
  worst(S) = the lowest, over the 18 perturbations, of the mean over the three datasets of the validation pooled
             Dice under that perturbation (`bench robustness --split val`: pooled Dice at each image's original
             resolution, the benchmark's own measure).
The S chosen is the one with the highest worst(S) among those whose clean(S) is within 0.01 (inclusive) of the
highest clean(S); an exact tie goes to the smaller S. The choice and the scores behind it are written to
results/general/photometric_choice.json once the four screen runs are collected, and phases 2 to 4 read S from
there; they refuse to start before the screen is complete.

Each finished run is collected into results/general/NAME/ (phase 5 into results/general/MODEL/test/): the
commands, the config, the training log and stdout, the images trained and validated on, the final (EMA, folded)
weights, each evaluation's JSON and printed table, and provenance.json (commit, machine, device, threads, wall
time). Several copies may run side by side (a lock per run under runs/general/.locks/; a copy waits for a run
that another copy holds when something it runs needs it); run it again after an interruption and each
unfinished run resumes from its last.pt.

    python scripts/general_weights.py --list
    python scripts/general_weights.py [--threads 1] [--only NAME ...] [--epochs N]
    python scripts/general_weights.py --device cuda --jobs 8           (a GPU machine: runs side by side)
    python scripts/general_weights.py --smoke /tmp/gw [--list]         (three tiny synthetic datasets, 1 epoch)
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
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = Path(os.environ.get("MICROAUNET_DATA") or ROOT.parent / "shared" / "data")
# the student's recipe, the arguments before `--teacher WEIGHTS`: issue #33's winner replaces it
RECIPE = ["distill", "--kd", "paper"]
DATASETS = {"kvasir-seg": "Kvasir-SEG", "cvc-clinicdb": "CVC-ClinicDB/PNG", "bkai-neopolyp": "BKAI-NeoPolyp"}
SHORT = {"kvasir-seg": "kvasir", "cvc-clinicdb": "cvc", "bkai-neopolyp": "bkai"}
STRENGTHS = (0.0, 0.25, 0.5, 1.0)
SEEDS = (42, 43, 44)
SCREEN_EPOCHS, EPOCHS = 100, 300
CLEAN_MARGIN = 0.01  # S qualifies when its clean validation Dice is at most this far below the best one
CHOICE = "photometric_choice.json"
POLL_S = 60  # how often a copy looks again at runs another copy holds
UNCHOSEN = "<S>"  # how --list shows the strength before the screen has chosen it


@dataclass(frozen=True)
class Options:
    """Where the data and the records are, and how the commands run."""

    threads: int = 1
    device: str = "cpu"
    epochs: int | None = None  # None: the protocol's (SCREEN_EPOCHS for the screen, EPOCHS for the rest)
    data_root: Path = DATA_ROOT
    split: str = "paper"
    size: int | None = None  # None: the commands' default, 256
    work: Path = ROOT  # runs go under WORK/runs/general, records under WORK/results/general

    @property
    def runs(self) -> Path:
        return self.work / "runs" / "general"

    @property
    def results(self) -> Path:
        return self.work / "results" / "general"

    def data(self, dataset: str) -> str:
        return str(self.data_root / DATASETS[dataset])


@dataclass(frozen=True)
class Run:
    """One entry of the batch: a training with its evaluations, or (``tests``) the evaluations of a trained model."""

    phase: int
    what: str
    needs: tuple[str, ...] = ()
    seed: int = 42
    strength: float | None = None  # the screen's own S; None: the screen's choice
    train_on: tuple[str, ...] = tuple(DATASETS)
    teacher: str | None = None  # a student: the run whose final weights it distils
    held_out: str | None = None  # leave-one-dataset-out: evaluated on all of this dataset
    tests: str | None = None  # phase 5: the run whose final weights it evaluates on the test splits


def screen_name(strength: float) -> str:
    return f"screen-s{strength:g}"


def _runs() -> dict[str, Run]:
    screen = tuple(screen_name(s) for s in STRENGTHS)
    runs = {screen_name(s): Run(1, f"MALUNet on the union, --photometric {s:g}, 100 epochs: the screen", strength=s)
            for s in STRENGTHS}
    for seed in SEEDS:
        runs[f"teacher{seed}"] = Run(2, f"general teacher: MALUNet on the union, seed {seed}", screen, seed)
    for seed in SEEDS:
        runs[f"student{seed}"] = Run(3, f"general student: MicroAUNet distilled from teacher{seed}",
                                     (f"teacher{seed}",), seed, teacher=f"teacher{seed}")
    for held in DATASETS:
        others = tuple(d for d in DATASETS if d != held)
        teacher = f"teacher-no-{SHORT[held]}"
        runs[teacher] = Run(4, f"MALUNet on {' + '.join(others)}, evaluated on all of {held}", screen,
                            train_on=others, held_out=held)
        runs[f"student-no-{SHORT[held]}"] = Run(4, f"MicroAUNet distilled from {teacher}, evaluated on all of {held}",
                                                (teacher,), train_on=others, teacher=teacher, held_out=held)
    for model in [f"{kind}{seed}" for kind in ("teacher", "student") for seed in SEEDS]:
        runs[f"{model}-test"] = Run(5, f"{model} on each test split, clean and perturbed", (model,), tests=model)
    return runs


RUNS = _runs()


def destination(name: str, opts: Options) -> Path:
    """Where a run is collected: results/general/NAME, or MODEL/test for phase 5."""
    tests = RUNS[name].tests
    return opts.results / tests / "test" if tests else opts.results / name


def collected(name: str, opts: Options) -> bool:
    return (destination(name, opts) / "provenance.json").is_file()


# -- the choice of S ---------------------------------------------------------------------------------------------
def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def screen_scores(opts: Options) -> dict[float, dict[str, float | str]]:
    """The rule's two numbers for each collected screen run (per-image Dice beside them, for the record)."""
    scores: dict[float, dict[str, float | str]] = {}
    for strength in STRENGTHS:
        folder = opts.results / screen_name(strength)
        if not collected(screen_name(strength), opts):
            continue
        clean = [json.loads((folder / f"eval_val_{d}.json").read_text()) for d in DATASETS]
        bench = [json.loads((folder / f"robustness_val_{d}.json").read_text()) for d in DATASETS]
        perturbed = {row["name"]: ([], []) for row in bench[0]["rows"] if row["name"] != "clean"}
        for result in bench:
            for row in result["rows"]:
                if row["name"] != "clean":
                    perturbed[row["name"]][0].append(row["pooled_dice"])
                    perturbed[row["name"]][1].append(row["per_image_dice"])
        worst = min(perturbed, key=lambda name: _mean(perturbed[name][0]))
        scores[strength] = {
            "clean": _mean([r[f"at_{r['size']}"]["pooled"]["dice"] for r in clean]),
            "worst": _mean(perturbed[worst][0]), "worst_perturbation": worst,
            "clean_per_image": _mean([r[f"at_{r['size']}"]["per_image"]["dice"] for r in clean]),
            "worst_per_image": min(_mean(per_image) for _, per_image in perturbed.values()),
        }
    return scores


def choose_strength(scores: dict[float, dict[str, float | str]]) -> float:
    """The highest worst(S) among the S whose clean(S) is within CLEAN_MARGIN of the best; ties: the smaller S."""
    best = max(float(s["clean"]) for s in scores.values())
    eligible = [s for s, score in scores.items() if best - float(score["clean"]) <= CLEAN_MARGIN + 1e-12]
    return max(sorted(eligible), key=lambda s: (float(scores[s]["worst"]), -s))


def chosen_strength(opts: Options) -> float | None:
    """The screen's choice as recorded, None before it is made."""
    path = opts.results / CHOICE
    return float(json.loads(path.read_text())["chosen"]) if path.is_file() else None


def record_choice(opts: Options) -> float:
    """The screen's choice: read if recorded, else made from the four collected screen runs and recorded."""
    known = chosen_strength(opts)
    if known is not None:
        return known
    scores = screen_scores(opts)
    missing = [screen_name(s) for s in STRENGTHS if s not in scores]
    if missing:
        raise RuntimeError(f"the photometric screen is not complete ({', '.join(missing)} not collected): "
                           "phases 2 to 4 wait for its choice of S")
    chosen = choose_strength(scores)
    rule = "Decision rule for S" + __doc__.split("Decision rule for S")[1].split("\n\n")[0]  # the docstring's
    record = {"chosen": chosen, "rule": rule,
              "scores": {f"{s:g}": score for s, score in scores.items()}, "commit": _git("rev-parse", "HEAD"),
              "written_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    opts.results.mkdir(parents=True, exist_ok=True)
    tmp = opts.results / f".{CHOICE}.{os.getpid()}"
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, opts.results / CHOICE)
    return chosen


# -- commands ----------------------------------------------------------------------------------------------------
def weights(name: str, opts: Options) -> Path:
    return opts.results / name / "final.safetensors"


def commands(name: str, opts: Options, strength: float | None) -> tuple[list[str] | None, list[tuple[str, list[str]]]]:
    """The run's training command (None for phase 5) and its evaluations, each with the JSON it writes into the
    run folder. ``strength``: the screen's choice (None: shown as <S>, for --list before the screen)."""
    run, folder = RUNS[name], opts.runs / name
    common = [*(["--size", str(opts.size)] if opts.size else []), "--threads", str(opts.threads)]

    def evaluation(kind: str, ckpt: Path, dataset: str, split: str) -> tuple[str, list[str]]:
        out = f"{'eval' if kind == 'evaluate' else 'robustness'}_{split}_{dataset}.json"
        head = ["microaunet", "evaluate"] if kind == "evaluate" else ["microaunet", "bench", "robustness"]
        toolbox = ["--toolbox"] if kind == "evaluate" and split != "val" else []
        return out, [*head, "--ckpt", str(ckpt), "--data", opts.data(dataset), "--split", split, *toolbox,
                     *common, "--out", str(folder / out)]

    if run.tests:
        model = weights(run.tests, opts)
        return None, [evaluation(kind, model, d, "test") for d in DATASETS for kind in ("evaluate", "robustness")]
    s = run.strength if run.strength is not None else strength
    head = ["train", "--model", "malunet"] if run.teacher is None else [
        *RECIPE, "--teacher", str(weights(run.teacher, opts))]
    epochs = opts.epochs or (SCREEN_EPOCHS if run.phase == 1 else EPOCHS)
    train = ["microaunet", *head, *[a for d in run.train_on for a in ("--data", opts.data(d))], "--split", opts.split,
             "--photometric", UNCHOSEN if s is None else f"{s:g}", "--epochs", str(epochs), "--seed", str(run.seed),
             *common, "--device", opts.device, "--out", str(folder)]
    final = folder / "final.safetensors"
    if run.held_out:
        return train, [evaluation("evaluate", final, run.held_out, "all")]
    kinds = ("evaluate", "robustness") if run.phase == 1 else ("evaluate",)
    return train, [evaluation(kind, final, d, "val") for d in run.train_on for kind in kinds]


# -- running and collecting --------------------------------------------------------------------------------------
def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def _machine(device: str) -> dict[str, object]:
    machine: dict[str, object] = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                                  "python": platform.python_version(), "host": platform.node()}
    if device.startswith("cuda") and shutil.which("nvidia-smi"):
        machine["gpu"] = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                        capture_output=True, text=True).stdout.strip()
    return machine


def run_one(name: str, opts: Options) -> bool:
    """Train (or resume), evaluate and collect one run. False if another copy holds it."""
    folder = opts.runs / name
    (opts.runs / ".locks").mkdir(parents=True, exist_ok=True)
    with open(opts.runs / ".locks" / name, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        if collected(name, opts):
            return True
        run = RUNS[name]
        strength = None if run.tests or run.strength is not None else record_choice(opts)
        train, evaluations = commands(name, opts, strength)
        folder.mkdir(parents=True, exist_ok=True)
        trained = 0.0
        if train is not None:
            if (folder / "last.pt").is_file():
                train.append("--resume")
            started = time.time()
            with open(folder / "train_stdout.log", "a") as log:
                subprocess.run(train, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=True)
            trained = time.time() - started
        started = time.time()
        with open(folder / "evaluate_stderr.log", "a") as errors:
            for out, command in evaluations:
                with open(folder / out.replace(".json", ".txt"), "w") as shown:
                    subprocess.run(command, cwd=ROOT, stdout=shown, stderr=errors, check=True)
        evaluated = time.time() - started
        dest = destination(name, opts)
        dest.mkdir(parents=True, exist_ok=True)
        kept = ["config.json", "log.csv", "train_stdout.log", "training_images.json", "final.safetensors"]
        for f in [*(kept if train is not None else []), *[out for out, _ in evaluations],
                  *[out.replace(".json", ".txt") for out, _ in evaluations]]:
            shutil.copy2(folder / f, dest / f)
        (dest / "command.txt").write_text("".join(" ".join(c) + "\n" for c in [train, *[c for _, c in evaluations]]
                                                  if c is not None))
        record = {"name": name, "phase": run.phase, "what": run.what, "needs": list(run.needs),
                  "photometric": run.strength if run.strength is not None else strength,
                  "commit": _git("rev-parse", "HEAD"),
                  "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
                  "threads": opts.threads, "device": opts.device, "machine": _machine(opts.device),
                  "train_wall_s_this_session": round(trained, 1), "evaluate_wall_s": round(evaluated, 1),
                  "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (dest / "provenance.json").write_text(json.dumps(record, indent=2) + "\n")
        return True


def schedule(names: list[str], opts: Options, jobs: int) -> int:
    """Run ``names`` as their needs allow, ``jobs`` at a time; 1 if any failed (what needs it is not started)."""
    pending = [n for n in names if not collected(n, opts)]
    held: list[str] = []  # held by another copy, needed by a pending run: looked at again every POLL_S
    failed: set[str] = set()
    running: dict[Future[bool], str] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        while pending or running or held:
            doomed = [n for n in pending if any(d in failed for d in RUNS[n].needs)]
            while doomed:  # and what needs them, in turn
                for name in doomed:
                    pending.remove(name)
                    failed.add(name)
                    print(f"{name}: not started, a run it needs failed", flush=True)
                doomed = [n for n in pending if any(d in failed for d in RUNS[n].needs)]
            for name in [n for n in pending if all(collected(d, opts) for d in RUNS[n].needs)]:
                if len(running) < jobs:
                    pending.remove(name)
                    running[pool.submit(run_one, name, opts)] = name
            if not running:
                if not held:
                    for name in pending:  # needs a run that nothing here will collect
                        print(f"{name}: not started, it needs runs not collected", flush=True)
                    return 1 if pending or failed else 0
                time.sleep(POLL_S)
                pending += held
                held.clear()
                continue
            done, _ = wait(running, timeout=POLL_S, return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                if future.exception() is not None:
                    failed.add(name)
                    print(f"{name}: failed ({future.exception()}); see {opts.runs / name}", flush=True)
                elif future.result():
                    print(f"{name}: done", flush=True)
                elif any(name in RUNS[n].needs for n in pending):
                    held.append(name)
                    print(f"{name}: held by another copy; waiting for it", flush=True)
                else:
                    print(f"{name}: held by another copy, skipped", flush=True)
    return 1 if failed else 0


def write_smoke_data(root: Path) -> None:
    """Three small synthetic datasets in the real ones' folders (a smoke run reads them with --split random)."""
    from microaunet.data.synthetic import write_synthetic_dataset

    for seed, folder in enumerate(DATASETS.values(), 1):
        if not (root / folder / "images").is_dir():
            write_synthetic_dataset(root / folder, count=12, size=64, seed=seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="threads per command (default 1: run two copies)")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda on a GPU machine (training; evaluation: CPU)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time in this copy (default 1)")
    parser.add_argument("--epochs", type=int,
                        help=f"epochs of every training (default: the protocol's, {SCREEN_EPOCHS} for the screen and "
                             f"{EPOCHS} for the rest)")
    parser.add_argument("--only", nargs="+", choices=list(RUNS), metavar="NAME",
                        help="these runs only (each needs the runs it depends on collected, or selected too)")
    parser.add_argument("--list", action="store_true", help="print every run, what it needs and its commands")
    parser.add_argument("--smoke", type=Path, metavar="DIR",
                        help="a smoke test: three small synthetic datasets under DIR/data, --split random, 64x64, "
                             "1 epoch unless --epochs; runs and records under DIR")
    args = parser.parse_args(argv)
    opts = Options(args.threads, args.device, args.epochs)
    if args.smoke:
        opts = replace(opts, data_root=args.smoke / "data", split="random", size=64, work=args.smoke,
                       epochs=args.epochs or 1)
    names = args.only or list(RUNS)
    if args.list:
        strength = chosen_strength(opts)
        for name in names:
            run = RUNS[name]
            train, evaluations = commands(name, opts, strength)
            print(f"{name}  [phase {run.phase}; needs {', '.join(run.needs) or 'nothing'}]  {run.what}")
            for command in [train, *[c for _, c in evaluations]]:
                if command is not None:
                    print(f"  {' '.join(command)}")
        return 0
    refused = {n: [d for d in RUNS[n].needs if d not in names and not collected(d, opts)] for n in names}
    refused = {n: needs for n, needs in refused.items() if needs}
    for name, needs in refused.items():
        print(f"{name}: refused, it needs {', '.join(needs)}, neither collected nor selected", file=sys.stderr)
    if refused:
        return 2
    if args.smoke:
        write_smoke_data(opts.data_root)
    return schedule(names, opts, args.jobs)


if __name__ == "__main__":
    sys.exit(main())
