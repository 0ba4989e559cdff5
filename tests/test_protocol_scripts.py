"""scripts/full_protocol.sh, driven by a stub `microaunet`: order, resume, skip, failure handling,
the generalisation evaluations, copies running side by side, and a fresh checkout that resumes from the runs
already collected into results/.

The protocol runs for days across sessions, so what must hold is checked here without training: each run
is started once, resumed where it stopped, skipped when evaluated, and a failure stops only what depends on it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"

STUB_MICROAUNET = """#!/usr/bin/env bash
echo "$*" >> "$STUB_CALLS"
out=
prev=
for a in "$@"; do [[ $prev == --out ]] && out=$a; prev=$a; done
case $1 in
  train|distill)
    mkdir -p "$out"; touch "$out/last.pt" "$out/config.json"
    [[ $out == "${STUB_FAIL:-none}" ]] && exit 3
    touch "$out/final.safetensors" ;;
  evaluate) echo '{}' > "$out" ;;
esac
"""

TEACHERS_AND_STUDENTS = [
    "runs/kvasir-seg/malunet-e300", "runs/kvasir-seg/microaunet-distill-e300",
    "runs/cvc-clinicdb/malunet-e300", "runs/cvc-clinicdb/microaunet-distill-e300",
]
ABLATIONS = [f"runs/{d}/{name}-e300" for d in ("kvasir-seg", "cvc-clinicdb")
             for name in ("microaunet", "microaunet1-nodwd", "microaunet2-noimitation", "microaunet3-nopreference")]
BASELINES = ([f"runs/{d}/unext-s-e300" for d in ("kvasir-seg", "cvc-clinicdb")]  # small, so first
             + [f"runs/{d}/{name}-e300" for d in ("kvasir-seg", "cvc-clinicdb") for name in ("unet", "sanet")])


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    if shutil.which("bash") is None:
        pytest.skip("bash is needed to run the protocol scripts")
    shutil.copytree(SCRIPTS, tmp_path / "scripts")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name, text in (("microaunet", STUB_MICROAUNET), ("python", "#!/usr/bin/env bash\necho 2.13.0\n")):
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    return tmp_path


def run_protocol(workdir: Path, fail: str | None = None,
                 seeds: tuple[str, ...] = ("42",)) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    """One pass of the protocol; returns the process and the stub's training calls, in order
    (evaluations are in ``calls.txt``)."""
    calls = workdir / "calls.txt"
    calls.write_text("")
    env = os.environ | {"PATH": f"{workdir / 'stubs'}{os.pathsep}{os.environ['PATH']}", "STUB_CALLS": str(calls),
                        "COMMIT": "0" * 40, "KVASIR": "data/Kvasir-SEG", "CVC": "data/CVC-ClinicDB/PNG"}
    if fail:
        env["STUB_FAIL"] = fail
    proc = subprocess.run(["bash", "scripts/full_protocol.sh", *seeds], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=120)
    trainings = [line.split() for line in calls.read_text().splitlines() if not line.startswith("evaluate")]
    return proc, trainings


def out_dir(args: list[str]) -> str:
    return args[args.index("--out") + 1]


def cross_evaluations(workdir: Path) -> list[tuple[str, str]]:
    """(checkpoint, data) of each evaluation on all of a dataset in the last pass, in order."""
    calls = [line.split() for line in (workdir / "calls.txt").read_text().splitlines()]
    return [(a[a.index("--ckpt") + 1], a[a.index("--data") + 1]) for a in calls
            if a[0] == "evaluate" and a[a.index("--split") + 1] == "all"]


def test_runs_every_model_once_in_order_then_skips_them(workdir: Path) -> None:
    proc, trainings = run_protocol(workdir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith("full protocol done")
    assert [out_dir(a) for a in trainings] == TEACHERS_AND_STUDENTS + ABLATIONS + BASELINES
    for args in trainings:
        assert args[args.index("--epochs") + 1] == "300" and args[args.index("--seed") + 1] == "42"
        assert args[args.index("--split") + 1] == "paper" and "--resume" not in args
    distilled = {out_dir(a): a[a.index("--teacher") + 1] for a in trainings if a[0] == "distill"}
    for run, teacher in distilled.items():
        assert teacher == f"{run.rsplit('/', 1)[0]}/malunet-e300/last.pt"
    collected = workdir / "results" / "cvc-clinicdb" / "microaunet2-noimitation-e300"
    assert (collected / "final.safetensors").is_file() and (collected / "eval_test.json").is_file()
    assert "300 epochs, seed 42" in (collected / "provenance.txt").read_text()

    other = {"kvasir-seg": "data/CVC-ClinicDB/PNG", "cvc-clinicdb": "data/Kvasir-SEG"}
    assert cross_evaluations(workdir) == [(f"{run}/last.pt", other[run.split("/")[1]])
                                          for run in TEACHERS_AND_STUDENTS + BASELINES]
    assert (workdir / "results" / "generalisation" / "cvc-to-kvasir" / "sanet-e300" / "config.json").is_file()

    again, trainings = run_protocol(workdir)
    assert again.returncode == 0 and trainings == [] and cross_evaluations(workdir) == []
    assert again.stdout.rstrip().endswith("full protocol done")


def test_further_seeds_add_the_teacher_and_student_before_the_first_seeds_other_models(workdir: Path) -> None:
    proc, trainings = run_protocol(workdir, seeds=("42", "43"))
    assert proc.returncode == 0, proc.stderr
    seed43 = [run + "-seed43" for run in TEACHERS_AND_STUDENTS]
    assert [out_dir(a) for a in trainings] == TEACHERS_AND_STUDENTS + seed43 + ABLATIONS + BASELINES
    seeds = [a[a.index("--seed") + 1] for a in trainings]
    assert seeds == ["42"] * 4 + ["43"] * 4 + ["42"] * len(ABLATIONS + BASELINES)
    distilled = {out_dir(a): a[a.index("--teacher") + 1] for a in trainings if a[0] == "distill"}
    assert distilled["runs/kvasir-seg/microaunet-distill-e300-seed43"] == "runs/kvasir-seg/malunet-e300-seed43/last.pt"
    assert {run for run, _ in cross_evaluations(workdir)} >= {f"{run}/last.pt" for run in seed43}


def test_a_failed_run_stops_its_dependants_only_and_resumes_on_the_next_pass(workdir: Path) -> None:
    proc, trainings = run_protocol(workdir, fail="runs/kvasir-seg/malunet-e300")
    assert proc.returncode != 0 and "full protocol done" not in proc.stdout
    started = [out_dir(a) for a in trainings]
    kvasir_students = set(TEACHERS_AND_STUDENTS[1:2] + ABLATIONS[:4])
    assert not kvasir_students & set(started)
    assert "runs/cvc-clinicdb/microaunet3-nopreference-e300" in started and started[-1] == BASELINES[-1]

    proc, trainings = run_protocol(workdir)
    assert proc.returncode == 0, proc.stderr
    assert [out_dir(a) for a in trainings] == TEACHERS_AND_STUDENTS[:2] + ABLATIONS[:4]
    assert cross_evaluations(workdir) == [(f"{run}/last.pt", "data/CVC-ClinicDB/PNG")
                                          for run in TEACHERS_AND_STUDENTS[:2]]
    assert "--resume" in trainings[0] and all("--resume" not in a for a in trainings[1:])


def test_a_run_held_by_another_copy_is_left_to_it_with_its_dependants(workdir: Path) -> None:
    lock = workdir / "runs" / ".locks" / "kvasir-seg" / "malunet-e300"
    lock.parent.mkdir(parents=True)
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # what a second copy training the Kvasir-SEG teacher holds
        proc, trainings = run_protocol(workdir)
    assert proc.returncode == 0, proc.stderr
    assert "full protocol done" not in proc.stdout and "another copy" in proc.stdout
    kvasir_teacher_and_dependants = TEACHERS_AND_STUDENTS[:2] + ABLATIONS[:4]
    assert [out_dir(a) for a in trainings] == [run for run in TEACHERS_AND_STUDENTS + ABLATIONS + BASELINES
                                               if run not in kvasir_teacher_and_dependants]

    proc, trainings = run_protocol(workdir)
    assert proc.returncode == 0 and proc.stdout.rstrip().endswith("full protocol done")
    assert [out_dir(a) for a in trainings] == kvasir_teacher_and_dependants


def test_a_fresh_checkout_skips_collected_runs_and_distils_from_the_collected_teacher(workdir: Path) -> None:
    run_protocol(workdir)
    shutil.rmtree(workdir / "runs")
    student = "kvasir-seg/microaunet-distill-e300"
    shutil.rmtree(workdir / "results" / student)
    shutil.rmtree(workdir / "results" / "generalisation" / "kvasir-to-cvc" / "microaunet-distill-e300")

    proc, trainings = run_protocol(workdir)
    assert proc.returncode == 0, proc.stderr
    assert [out_dir(a) for a in trainings] == [f"runs/{student}"] and "--resume" not in trainings[0]
    assert trainings[0][trainings[0].index("--teacher") + 1] == "results/kvasir-seg/malunet-e300/final.safetensors"
    assert cross_evaluations(workdir) == [(f"runs/{student}/last.pt", "data/CVC-ClinicDB/PNG")]


@pytest.mark.parametrize("weights_bytes", [1000, 10_000_001])
def test_collect_keeps_the_weights_or_else_the_predictions(workdir: Path, weights_bytes: int) -> None:
    run, dest = workdir / "runs" / "cvc-clinicdb" / "unet-e300", workdir / "results" / "cvc-clinicdb" / "unet-e300"
    run.mkdir(parents=True)
    for name in ("eval_test.json", "config.json", "predictions.npz", "final.safetensors"):
        (run / name).write_text("{}")
    os.truncate(run / "final.safetensors", weights_bytes)
    proc = subprocess.run(["bash", "scripts/collect.sh", str(run), str(dest), "UNet"], cwd=workdir,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    kept = {p.name for p in dest.iterdir()}
    if weights_bytes > 10_000_000:
        assert {"weights.txt", "predictions.npz"} <= kept and "final.safetensors" not in kept
        assert f"{weights_bytes} bytes, sha256 " in (dest / "weights.txt").read_text()
    else:
        assert "final.safetensors" in kept and not {"weights.txt", "predictions.npz"} & kept
