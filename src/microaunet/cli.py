"""The ``microaunet`` command: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .data import DataError
from .deploy.pretrained import DEFAULT_PRETRAINED, list_pretrained

if TYPE_CHECKING:
    from .training.config import TrainConfig

COMMANDS: dict[str, Callable[[argparse.ArgumentParser], None]] = {}
OPTIONAL_PACKAGES = {"onnx": "onnx", "onnxruntime": "onnx", "thop": "complexity", "matplotlib": "report",
                     "fastapi": "serve", "starlette": "serve", "uvicorn": "serve", "python_multipart": "serve",
                     "openvino": "openvino"}


def command(name: str, help_text: str) -> Callable:
    def register(fn: Callable[[argparse.ArgumentParser], None]) -> Callable:
        fn.help_text = help_text  # type: ignore[attr-defined]
        COMMANDS[name] = fn
        return fn

    return register


def emit(result: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    print(json.dumps(result, indent=2, default=str) if as_json else text(result))


# -- data ----------------------------------------------------------------------------------
@command("data", "check and download datasets")
def data_parser(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="data_command", required=True)
    check = sub.add_parser("check", help="report pairs, sizes, mask statistics and every problem of a dataset folder")
    check.add_argument("dir", type=Path, help="the dataset folder (Kvasir-SEG, CVC-ClinicDB, or images/ + masks/)")
    check.add_argument("--json", action="store_true", help="machine-readable report")
    check.set_defaults(run=run_data_check)
    dl = sub.add_parser("download", help="fetch, verify and extract an official dataset archive")
    dl.add_argument("dataset", choices=["kvasir-seg", "cvc-clinicdb", "bkai-neopolyp"], help="which dataset")
    dl.add_argument("--dest", type=Path, default=Path("data"), help="folder to extract into")
    dl.add_argument("--archive", type=Path, help="extract this already downloaded archive instead of fetching")
    dl.set_defaults(run=run_data_download)
    syn = sub.add_parser("synthetic", help="write the embedded synthetic polyp dataset (images/ + masks/)")
    syn.add_argument("dest", type=Path, help="folder to write images/ and masks/ into")
    syn.add_argument("-n", "--count", type=int, default=120, help="image/mask pairs to generate")
    syn.add_argument("--size", type=int, default=256, help="side of the square images, in pixels")
    syn.add_argument("--seed", type=int, default=0, help="seed of the generator")
    syn.set_defaults(run=run_data_synthetic)


def run_data_check(args: argparse.Namespace) -> int:
    from .data.check import check_dataset, format_report

    report = check_dataset(args.dir)
    emit(report, args.json, format_report)
    return 0 if report["usable"] else 1


def run_data_download(args: argparse.Namespace) -> int:
    from .data.download import download_dataset

    root = download_dataset(args.dataset, args.dest, archive=args.archive)
    print(f"{args.dataset} is ready in {root}; check it with: microaunet data check {root}")
    return 0


def run_data_synthetic(args: argparse.Namespace) -> int:
    from .data.synthetic import write_synthetic_dataset

    root = write_synthetic_dataset(args.dest, args.count, args.size, args.seed)
    print(f"wrote {args.count} synthetic image/mask pairs to {root}")
    return 0


# -- train ---------------------------------------------------------------------------------
def add_training_args(p: argparse.ArgumentParser, model_flags: tuple[str, ...] = ("--model",),
                      models: list[str] | None = None) -> None:
    from .models import list_models
    from .training.config import PRECISIONS

    p.add_argument(*model_flags, dest="model", default="microaunet", choices=models or list_models(),
                   help="the network to train")
    p.add_argument("--data", action="append",
                   help="dataset folder (Kvasir-SEG, CVC-ClinicDB, BKAI-NeoPolyp, or images/ + masks/); give it "
                        "several times to train on several datasets at once")
    p.add_argument("--split", action="append",
                   help="split definition: paper, sequence (CVC by video), random, or a JSON file; once for every "
                        "dataset or once per --data (default: paper)")
    p.add_argument("--data-weights", type=float, nargs="+", metavar="W",
                   help="with several --data: the share of draws from each (default: equal shares)")
    p.add_argument("--data-list", type=Path, metavar="FILE",
                   help="instead of --data/--split/--data-weights: a JSON or YAML list of {data, split, weight}")
    p.add_argument("--out", type=Path, required=True, help="run folder: checkpoints, log.csv, config.json")
    p.add_argument("--epochs", type=int, default=300, help="length of the schedule (cosine learning rate over it)")
    p.add_argument("--batch-size", type=int, default=8, help="images per step (per process under torchrun)")
    p.add_argument("--size", type=int, default=256, help="training resolution (divisible by 32)")
    p.add_argument("--lr", type=float, default=1e-3, help="AdamW's peak learning rate")
    p.add_argument("--weight-decay", type=float, default=1e-2, help="AdamW's weight decay")
    p.add_argument("--seed", type=int, default=42, help="seed of initialisation, validation split, order, augmentation")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of training ids held out for validation")
    p.add_argument("--ema-decay", type=float, default=0.999,
                   help="decay of the exponential moving average of the weights (what is evaluated and shipped)")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads (0: $MICROAUNET_THREADS, else the free cores: available less the load average)")
    p.add_argument("--device", default="cpu", help="cpu, or cuda when present")
    p.add_argument("--layout", default="auto", choices=["auto", "nchw", "channels_last"],
                   help="memory layout of training (same function; auto: time both, keep the faster)")
    p.add_argument("--precision", default="fp32", choices=PRECISIONS,
                   help="bf16: bfloat16 autocast of the training forward pass, about 2x faster for UNet and "
                        "SANet on CPUs with AVX512-BF16 or AMX (weights, losses and evaluation stay float32)")
    p.add_argument("--overparam", action="store_true",
                   help="train the DWD convs with extra branches (RepVGG/DBB style) that fold into the same network "
                        "when saved (MicroAUNet family)")
    p.add_argument("--deep-supervision", type=float, default=0.0, metavar="W",
                   help="weight of training-only heads on the decoder stages (default 0: none)")
    p.add_argument("--p-rotate", type=float, default=0.5, help="probability of a random rotation")
    p.add_argument("--photometric", type=float, default=0.0, metavar="S",
                   help="strength in [0, 1] of the photometric and acquisition augmentation (brightness, contrast, "
                        "gamma, colour, highlights, blur, resolution, noise, JPEG; 0: none)")
    p.add_argument("--cache-dir", help="where decoded samples are cached (default: ~/.cache/microaunet)")
    p.add_argument("--skip-bad", action="store_true", help="skip unpaired or unreadable files with a warning")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--max-epochs", type=int, help="stop after this many more epochs (resume later)")


def training_config(args: argparse.Namespace, **distillation: Any) -> TrainConfig:
    from .data import read_sources
    from .training.config import TrainConfig

    if args.data_list:
        if args.data or args.split or args.data_weights:
            raise ValueError("--data-list replaces --data, --split and --data-weights: give one or the other")
        sources = read_sources(args.data_list)
        data, split, weights = [str(s.data) for s in sources], [s.split for s in sources], [s.weight for s in sources]
    elif args.data:
        data, split, weights = args.data, args.split or ["paper"], args.data_weights
    else:
        raise ValueError("give the training data: --data DIR (several times for several datasets) or --data-list")
    several = len(data) > 1 or args.data_list is not None
    if len(split) not in (1, len(data)):
        raise ValueError(f"--split: give one for all {len(data)} datasets or one per --data, not {len(split)}")
    return TrainConfig(
        model=args.model, data=data if several else data[0], split=split if len(split) > 1 else split[0],
        data_weights=weights, out=str(args.out), size=args.size,
        batch_size=args.batch_size, epochs=args.epochs, lr=args.lr, weight_decay=args.weight_decay,
        seed=args.seed, val_fraction=args.val_fraction, ema_decay=args.ema_decay, threads=args.threads,
        device=args.device, cache_dir=args.cache_dir, skip_bad=args.skip_bad, layout=args.layout,
        precision=args.precision, overparam=args.overparam, deep_supervision=args.deep_supervision,
        p_rotate=args.p_rotate, photometric=args.photometric, **distillation,
    )


def fit_and_report(trainer: Any, args: argparse.Namespace) -> int:
    """Run the epochs; under torchrun only rank 0 prints the summary."""
    result = trainer.fit(resume=args.resume, max_epochs=args.max_epochs)
    if trainer.rank == 0:
        print(json.dumps(result))
    return 0


@command("train", "supervised training with the paper's settings (BCE + Dice, AdamW, cosine, EMA)")
def train_parser(p: argparse.ArgumentParser) -> None:
    add_training_args(p)
    p.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> int:
    from .training.trainer import Trainer

    return fit_and_report(Trainer(training_config(args)), args)


@command("distill", "two-stage distillation (imitation, then preference alignment) from a trained teacher")
def distill_parser(p: argparse.ArgumentParser) -> None:
    from .models import MODELS

    p.add_argument("--teacher", type=Path, required=True, action="append",
                   help="teacher checkpoint (.pt or .safetensors), e.g. MALUNet; with --kd output, give it several "
                        "times for an ensemble")
    add_training_args(p, ("--student", "--model"), [n for n, s in MODELS.items() if s.distillable])
    p.add_argument("--kd", choices=["paper", "output"], default="paper",
                   help="paper: the two-stage distillation (imitation, then preference alignment); output: the "
                        "teacher's probabilities distilled at every step (any teacher or an ensemble; default: paper)")
    p.add_argument("--kd-weight", type=float, default=1.0, help="with --kd output: weight of the KD term (default 1)")
    p.add_argument("--kd-loss", choices=["bernoulli", "cwd"], default="bernoulli",
                   help="with --kd output: per-pixel Bernoulli KL or channel-wise (spatial softmax) KL")
    p.add_argument("--teacher-tta", choices=["none", "flip", "flip4"], default="none",
                   help="with --kd output: average the teachers over flipped views (default: none)")
    p.add_argument("--stage1-fraction", type=float, default=0.5,
                   help="share of the epochs spent in stage 1 (imitation); the rest is stage 2")
    p.add_argument("--no-imitation", action="store_true", help="ablation MicroAUNet-2: no stage-1 distillation terms")
    p.add_argument("--no-preference", action="store_true", help="ablation MicroAUNet-3: no stage-2 distillation terms")
    p.add_argument("--temperature", type=float, default=1.0, help="temperature of the Bernoulli KL")
    p.add_argument("--rho", type=float, default=0.3, help="weight of the stage-2 regulariser")
    p.set_defaults(run=run_distill)


def run_distill(args: argparse.Namespace) -> int:
    from .training.config import OutputKD, PaperKD
    from .training.trainer import Trainer

    paper = PaperKD(stage1_fraction=args.stage1_fraction, imitation=not args.no_imitation,
                    preference=not args.no_preference, temperature=args.temperature, rho=args.rho)
    output = OutputKD(args.teacher_tta, args.kd_weight, args.temperature, args.kd_loss)
    config = training_config(args, kd=args.kd, teachers=[str(t) for t in args.teacher], paper_kd=paper,
                             output_kd=output)
    return fit_and_report(Trainer(config), args)


def add_split_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, required=True, help="dataset folder (Kvasir-SEG, CVC-ClinicDB, ...)")
    p.add_argument("--split", default="test", choices=["test", "train", "val", "all"],
                   help="which part to evaluate: val is the validation set training carved out of the training ids "
                        "(same fraction and seed as the checkpoint's run; of a run on several datasets, the part "
                        "carved out of this dataset's) (default: test)")
    p.add_argument("--split-def",
                   help="split definition (default: the one the checkpoint was trained with for this dataset, "
                        "else paper)")


def split_definition(args: argparse.Namespace, info: dict[str, Any]) -> str:
    from .evaluation.evaluate import run_split_definition

    return run_split_definition(info.get("config", {}), args.data, args.split, args.split_def)


@command("evaluate", "the paper's metrics (pooled and per image) and boundary metrics on a split")
def evaluate_parser(p: argparse.ArgumentParser) -> None:
    add_weights_args(p, default=None)
    add_split_args(p)
    p.add_argument("--size", type=int, default=256, help="model input size (256 is the paper's; divisible by 32)")
    p.add_argument("--threshold", type=float, default=0.5, help="probability at and above which a pixel is polyp")
    p.add_argument("--tolerance", type=float, default=2.0, help="boundary F-score tolerance in pixels")
    p.add_argument("--toolbox", action="store_true",
                   help="add the polyp literature's toolbox metrics (mean Dice over 256 thresholds, S, E, wF, MAE)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: $MICROAUNET_THREADS, else 1)")
    p.add_argument("--out", type=Path, help="also write the full result (with per-image rows) to this JSON file")
    p.add_argument("--save-predictions", type=Path, metavar="NPZ",
                   help="also write each image's thresholded prediction (bit-packed, at its own size) to this .npz")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.set_defaults(run=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    import torch

    from .evaluation.evaluate import evaluate_split, format_evaluation
    from .evaluation.predictions import save_predictions
    from .threads import use_threads
    from .training.checkpoint import load_model

    use_threads(args.threads)
    path = weights_path(args)
    model, info = load_model(path)
    definition = split_definition(args, info)
    predictions = {} if args.save_predictions else None
    config = info.get("config", {})
    result = evaluate_split(model.to(memory_format=torch.channels_last), args.data, args.split, definition,
                            args.size, args.threshold, args.tolerance, split_seed=config.get("split_seed", 42),
                            toolbox=args.toolbox, predictions=predictions, tta=args.tta,
                            val_fraction=config.get("val_fraction", 0.1))
    if args.save_predictions:
        save_predictions(args.save_predictions, predictions)
    epochs = info.get("epoch") or info.get("epochs")
    result = {"model": info["model"], "ckpt": str(path), "weights": None if args.ckpt else args.weights,
              "epochs": epochs} | result
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    emit({k: v for k, v in result.items() if k != "per_image_rows"}, args.json, format_evaluation)
    return 0


@command("complexity", "parameters, GMACs and GFLOPs of every model beside the paper's Table 2")
def complexity_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", type=int, default=256, help="input size at which operations are counted")
    p.add_argument("--models", nargs="+", help="a subset of the registered models")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.set_defaults(run=run_complexity)


def run_complexity(args: argparse.Namespace) -> int:
    from .reporting.complexity import complexity_table, format_table

    rows = complexity_table(args.size, args.models)
    emit(rows, args.json, lambda r: format_table(r, args.size))
    return 0


@command("models", "the weights shipped in the package, one line each (microaunet info NAME for a model card)")
def models_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="every model card, machine-readable")
    p.set_defaults(run=run_models)


def run_models(args: argparse.Namespace) -> int:
    from .deploy.pretrained import model_card

    cards = [model_card(name) for name in list_pretrained()]

    def text(rows: list[dict]) -> str:
        lines = []
        for c in rows:
            own = next((t for t in c.get("tested_on", []) if t["dataset"] == c["trained_on"]), None)
            score = f", {own['dataset']} test Dice {own['dice_pooled']:.3f}" if own else ""
            default = " (default)" if c["name"] == DEFAULT_PRETRAINED else ""
            lines.append(f"{c['name']}{default}: {c['model']}, {c['parameters']:,} parameters, trained on "
                         f"{c['trained_on']}{score}")
        return "\n".join(lines)

    emit(cards, args.json, text)
    return 0


@command("info", "the model card of shipped weights: training data, recipe, record, test and robustness figures, "
                 "known limits")
def info_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", choices=list_pretrained(), metavar="NAME",
                   help=f"shipped weights: {', '.join(list_pretrained())}")
    p.add_argument("--json", action="store_true", help="the card as JSON")
    p.set_defaults(run=run_info)


def run_info(args: argparse.Namespace) -> int:
    from .deploy.pretrained import format_card, model_card

    emit(model_card(args.name), args.json, format_card)
    return 0


@command("demo", "train and evaluate MicroAUNet on the embedded synthetic dataset (no download)")
def demo_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("runs/demo"),
                   help="folder for the data, the run, the cache and test_predictions.png")
    p.add_argument("--epochs", type=int, default=60, help="training epochs")
    p.add_argument("--count", type=int, default=96, help="synthetic image/mask pairs to generate")
    p.add_argument("--seed", type=int, default=42, help="training seed (the data are always the same)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.set_defaults(run=run_demo_command)


def run_demo_command(args: argparse.Namespace) -> int:
    from .demo import run_demo

    result = run_demo(args.out, count=args.count, epochs=args.epochs, threads=args.threads, seed=args.seed)

    def text(r: dict) -> str:
        pi, po = r["per_image"], r["pooled"]
        expected = r["expected_per_image_dice"]
        verdict = f"\nuntrained, the same network scores per-image Dice {r['untrained_per_image_dice']:.3f}"
        if expected is not None:
            learnt = pi["dice"] >= expected[0] - 0.02
            verdict += (f"\nexpected for this demo: per-image Dice {expected[0]:.2f}-{expected[1]:.2f} over training "
                        "seeds 42 (the default), 43 and 44: " + ("the model has learnt the task" if learnt
                                                                else "far below that, something is wrong"))
        return (f"MicroAUNet on {r['test_images']} held-out synthetic test images: "
                f"per-image Dice {pi['dice']:.3f}, IoU {pi['iou']:.3f}, boundary F {pi['boundary_f']:.3f}; "
                f"pooled Dice {po['dice']:.3f}{verdict}\nrun folder: {r['run']}\npredictions drawn (green: truth, "
                f"yellow: prediction): {r['picture']}")

    emit(result, args.json, text)
    return 0


@command("bench", "benchmarks: decode cache (data), training steps (train), inference speed (speed), "
                  "Dice under perturbations (robustness), the service under load (serve)")
def bench_parser(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="bench_command", required=True)
    for name, help_text in (("data", "decode-every-epoch against the decode cache"),
                            ("train", "teacher and distillation steps: plain eager loop against this pipeline"),
                            ("speed", "inference latency and throughput of each model and backend, and 720p video")):
        b = sub.add_parser(name, help=help_text)
        if name == "speed":
            b.add_argument("--models", nargs="+", help="a subset of the registered models")
            b.add_argument("--backends", nargs="+", choices=["torch", "onnxruntime", "openvino"],
                           help="a subset of the backends (default: all installed)")
            b.add_argument("--repeats", type=int, default=20, help="timed runs of each measurement")
            b.add_argument("--video-frames", type=int, default=300, help="frames of the 720p video runs (0: none)")
        else:
            b.add_argument("--data", type=Path, required=True, help="a dataset folder, e.g. Kvasir-SEG")
            b.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
        b.add_argument("--size", type=int, default=256, help="input size")
        b.add_argument("--json", action="store_true", help="machine-readable result")
        b.set_defaults(run=run_bench)
    from .evaluation.robustness import BY_NAME

    r = sub.add_parser("robustness", help="Dice of a model on perturbed copies of a test split (lighting, colour, "
                                          "blur, JPEG, resolution, noise, highlights) and the drop from clean")
    add_weights_args(r)
    add_split_args(r)
    r.add_argument("--size", type=int, default=256, help="model input size (divisible by 32)")
    r.add_argument("--threshold", type=float, default=0.5, help="probability at and above which a pixel is polyp")
    r.add_argument("--perturbations", nargs="+", choices=list(BY_NAME), metavar="NAME",
                   help=f"a subset: {', '.join(BY_NAME)} (default: all)")
    r.add_argument("--seed", type=int, default=0, help="seed of the noise and highlight draws (default 0)")
    r.add_argument("--threads", type=int, default=0, help="PyTorch and OpenCV threads (0: $MICROAUNET_THREADS, else 1)")
    r.add_argument("--out", type=Path, help="also write the result to this JSON file")
    r.add_argument("--json", action="store_true", help="machine-readable result")
    r.set_defaults(run=run_bench_robustness)
    b = sub.add_parser("serve", help="load test of `microaunet serve` on loopback: requests/s, latency percentiles "
                                     "and server memory at several client counts, and the overhead over predict")
    b.add_argument("--weights", default=DEFAULT_PRETRAINED, metavar="NAME|PATH",
                   help="weights to serve (default: %(default)s)")
    b.add_argument("--requests", type=int, default=1000, help="requests per client count (default: %(default)s)")
    b.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16],
                   help="concurrent client counts to run (default: %(default)s)")
    b.add_argument("--workers", type=int, default=2, help="the server's --workers (default: %(default)s)")
    b.add_argument("--threads", type=int, default=1, help="the server's --threads (default: %(default)s)")
    b.add_argument("--pairs", type=int, default=300,
                   help="bare predict calls alternated with as many requests, for the overhead (default: %(default)s)")
    b.add_argument("--image", type=Path, help="the image to send (default: a 720x576 synthetic JPEG)")
    b.add_argument("--out", type=Path, help="also write the result to OUT.json and OUT.md (default: not written)")
    b.add_argument("--json", action="store_true", help="print JSON instead of the table (default: the table)")
    b.set_defaults(run=run_bench_serve)


def run_bench(args: argparse.Namespace) -> int:
    import torch

    from .bench import bench_data, bench_speed, bench_train, format_speed

    if args.bench_command == "speed":
        result = bench_speed(args.models, args.size, repeats=args.repeats, video_frames=args.video_frames,
                             backends=tuple(args.backends) if args.backends else None)
        emit(result, args.json, format_speed)
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    result = (bench_data if args.bench_command == "data" else bench_train)(args.data, size=args.size)
    emit(result, args.json, lambda r: "\n".join(f"{k}: {v}" for k, v in r.items()))
    return 0


def run_bench_robustness(args: argparse.Namespace) -> int:
    import torch

    from .evaluation.robustness import bench_robustness, format_robustness
    from .threads import use_threads
    from .training.checkpoint import load_model

    use_threads(args.threads)  # PyTorch's, and OpenCV's for the perturbations and resizes
    weights = args.ckpt or args.weights
    model, info = load_model(weights_path(args))
    config = info.get("config", {})
    result = bench_robustness(model.to(memory_format=torch.channels_last), args.data, args.split,
                              split_definition(args, info), args.size, args.threshold, args.seed, args.perturbations,
                              log=lambda line: print(line, file=sys.stderr, flush=True),
                              split_seed=config.get("split_seed", 42), val_fraction=config.get("val_fraction", 0.1),
                              tta=args.tta)
    result = {"model": info["model"], "weights": str(weights), "threads": torch.get_num_threads()} | result
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    emit(result, args.json, format_robustness)
    return 0


def run_bench_serve(args: argparse.Namespace) -> int:
    from .serve.bench import bench_serve, format_serve_bench, write_serve_bench

    result = bench_serve(args.weights, args.requests, args.clients, args.workers, args.threads, args.image, args.pairs)
    if args.out:
        write_serve_bench(result, args.out)
    emit(result, args.json, format_serve_bench)
    return 0


def add_weights_args(p: argparse.ArgumentParser, default: str | None = DEFAULT_PRETRAINED) -> None:
    """--ckpt PATH or --weights NAME (--pretrained NAME: the same), and --tta; ``default=None``: one is required."""
    from .deploy.tta import TTA_MODES

    source = p.add_mutually_exclusive_group(required=default is None)
    source.add_argument("--ckpt", type=Path, help="a checkpoint (.pt: its EMA weights) or weights file (.safetensors)")
    shipped = list_pretrained()
    source.add_argument("--weights", "--pretrained", dest="weights", default=default, choices=shipped, metavar="NAME",
                        help=f"weights shipped in the package: {', '.join(shipped)}")
    p.add_argument("--tta", default="none", choices=TTA_MODES,
                   help="test-time augmentation: mean probability over the image and its horizontal flip (flip), "
                        "or its horizontal, vertical and double flips (flip4)")


def weights_path(args: argparse.Namespace) -> Path:
    from .deploy.segmenter import resolve_weights

    return resolve_weights(args.ckpt or args.weights)


@command("export", "ONNX export (sigmoid included, dynamic batch and size) with a parity check against PyTorch")
def export_parser(p: argparse.ArgumentParser) -> None:
    add_weights_args(p)
    p.add_argument("--size", type=int, default=256,
                   help="the image size the model expects, recorded in the metadata (the graph takes any size)")
    p.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file to write")
    p.add_argument("--raw-input", action="store_true",
                   help="take uint8 RGB images (B, H, W, 3) and normalise inside the graph, instead of normalised "
                        "float32 (B, 3, H, W)")
    p.add_argument("--threshold", type=float, default=0.5, help="mask threshold recorded in the metadata")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.set_defaults(run=run_export)


def run_export(args: argparse.Namespace) -> int:
    from .deploy.export import example_input, export_onnx, parity
    from .training.checkpoint import load_model

    source = weights_path(args)
    model, info = load_model(source)
    path = export_onnx(model, args.output, args.size, args.tta, args.raw_input, args.threshold, info["model"],
                       source.stem if args.ckpt is None else str(source))
    x = example_input(args.size, args.raw_input, batch=2)
    result = {"model": info["model"], "onnx": str(path), "tta": args.tta,
              "input": "uint8 (B, H, W, 3) RGB" if args.raw_input else "float32 (B, 3, H, W) normalised",
              "max_abs_diff_probability": parity(model, path, x, args.tta, args.raw_input)}
    emit(result, args.json, lambda r: f"wrote {r['onnx']} ({r['model']}, input {r['input']}, tta {r['tta']}); "
                                      f"parity with PyTorch: max |p_onnx - p_torch| = "
                                      f"{r['max_abs_diff_probability']:.2e}")
    return 0


@command("predict", "segment an image, a folder of images or a video (mp4, avi): masks and overlays")
def predict_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", type=Path, help="an image, a folder of images, or a video file")
    p.add_argument("-o", "--out", type=Path, default=Path("predictions"),
                   help="output folder: masks/ and overlays/ (images), NAME_overlay.mp4 (videos)")
    add_weights_args(p)
    p.add_argument("--size", type=int, default=256,
                   help="images are resized to this square size for the model (not divisible by 32: padded)")
    p.add_argument("--backend", choices=["onnx", "openvino", "torch"], default="onnx",
                   help="ONNX Runtime on the CPU, OpenVINO on the CPU (pip install 'microaunet[openvino]'), or PyTorch")
    p.add_argument("--device", default="cpu", help="with --backend torch: cpu or cuda")
    p.add_argument("--threshold", type=float, default=0.5, help="probability at and above which a pixel is polyp")
    p.add_argument("--threads", type=int, default=0, help="inference threads (0: $MICROAUNET_THREADS, else 1)")
    p.add_argument("--save-masks", action="store_true", help="for a video, also write one mask PNG per frame")
    p.add_argument("--resize", choices=["area", "linear"], default="area",
                   help="for a video, how frames are resized for the model: area (as in training) or linear "
                        "(5x cheaper at 720p, -0.001 Dice on the Kvasir-SEG test split)")
    p.add_argument("--skip-bad", action="store_true",
                   help="exit 0 even when some images of a folder could not be read (they are listed either way)")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.set_defaults(run=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    import time

    from .deploy.predict import predict_path
    from .deploy.segmenter import Segmenter

    started = time.perf_counter()  # the video's whole-run frames/s counts the model's loading too
    segmenter = Segmenter(weights_path(args), size=args.size, threshold=args.threshold, backend=args.backend,
                          device=args.device, threads=args.threads, tta=args.tta)
    result = predict_path(segmenter, args.input, args.out, args.save_masks, args.resize, started)
    emit(result, args.json, lambda r: "\n".join(f"{k}: {v}" for k, v in r.items() if v not in (None, [])))
    failed = len(result.get("errors", []))
    if failed and not args.skip_bad:
        print(f"error: {failed} of {failed + result['images']} images could not be read (listed under errors; "
              f"the others were written); --skip-bad exits 0 all the same", file=sys.stderr)
        return 1
    return 0


SERVE_SETTINGS = {  # fields of ServeConfig, each a flag
    "threads": "ONNX Runtime threads per request (0: $MICROAUNET_THREADS, else 1)",
    "workers": "requests segmented at once",
    "queue": "requests that may wait beyond those; past that the service answers 503",
    "max_body_mb": "larger image requests get 413",
    "max_megapixels": "larger images get 413",
    "max_video_mb": "larger video uploads get 413",
    "size": "model input size",
    "threshold": "probability threshold of the masks",
}


@command("serve", "a local HTTP inference service with a web page: POST images, get masks (API docs at /docs)")
def serve_parser(p: argparse.ArgumentParser) -> None:
    from .serve.config import ServeConfig

    default = ServeConfig()
    p.add_argument("--weights", default=default.weights, metavar="NAME|PATH",
                   help=f"shipped weights ({', '.join(list_pretrained())}) or a checkpoint file (default: %(default)s)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; anything but loopback exposes the service (default: %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default: %(default)s)")
    p.add_argument("--token", help="require 'Authorization: Bearer TOKEN' on every route but /health, the page and "
                                   "the docs (default: $MICROAUNET_TOKEN, else no token)")
    for name, help_text in SERVE_SETTINGS.items():
        value = getattr(default, name)
        p.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value,
                       help=f"{help_text} (default: %(default)s)")
    p.add_argument("--access-log", action="store_true", help="log every request (default: off)")
    p.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from .serve.config import ServeConfig
    from .serve.server import serve

    config = ServeConfig(weights=args.weights, token=args.token or os.environ.get("MICROAUNET_TOKEN") or None,
                         **{name: getattr(args, name) for name in SERVE_SETTINGS})
    serve(config, args.host, args.port, args.access_log)
    return 0


@command("compare", "paired comparison of two evaluations on the same test images (bootstrap interval, p-value)")
def compare_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", type=Path, help="an eval_*.json written by evaluate --out, or a run folder with eval_test.json")
    p.add_argument("b", type=Path, help="the evaluation to compare it with, on the same images")
    p.add_argument("--metric", default="dice",
                   help="per-image metric: dice, iou, boundary_f, hd95, ...")
    p.add_argument("--resamples", type=int, default=10_000, help="bootstrap and permutation draws")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.set_defaults(run=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    from .evaluation.compare import compare_evaluations, format_comparison

    if args.resamples < 1:
        raise ValueError(f"--resamples must be at least 1, not {args.resamples}")
    result = compare_evaluations(args.a, args.b, args.metric, args.resamples, args.seed)
    emit(result.as_dict(), args.json, lambda _: format_comparison(result, str(args.a), str(args.b)))
    return 0


@command("report", "the paper's tables and figures from every evaluation (eval_*.json) under a folder")
def report_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs_dir", type=Path, help="folder searched for eval_*.json (and speed.json for Table 2)")
    p.add_argument("--out", type=Path, help="write tables.md, one CSV per table and the figures (PNG) here")
    p.set_defaults(run=run_report)


def run_report(args: argparse.Namespace) -> int:
    from .reporting.report import report

    print(report(args.runs_dir, args.out))
    return 0


# -- entry point ---------------------------------------------------------------------------
class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, except where there is none to show (None, a switch's False)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or "%(default)" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def all_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parser and every subcommand's parser below it, depth first."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += all_parsers(sub)
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="microaunet", description="Tiny real-time polyp segmentation: MicroAUNet and its baselines."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, setup in COMMANDS.items():
        setup(sub.add_parser(name, help=setup.help_text, description=setup.help_text))
    for p in all_parsers(parser):  # here, so that every subcommand (and its own subcommands) shows defaults
        p.formatter_class = HelpFormatter
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.formatwarning = lambda msg, cat, *a, **k: f"warning: {msg}\n"
        try:
            return args.run(args)
        except (DataError, FileNotFoundError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except ModuleNotFoundError as e:
            top = (e.name or "").split(".")[0]
            if top not in OPTIONAL_PACKAGES:
                raise
            print(f"error: this command needs the optional package '{top}': "
                  f"pip install 'microaunet[{OPTIONAL_PACKAGES[top]}]'", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
