"""A checkpoint from elsewhere must never run code, and a damaged weights file must give one line naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from microaunet.cli import main
from microaunet.models import build_model
from microaunet.training.checkpoint import save_weights


class _Payload:
    """Unpickled by a full unpickler, this writes the marker file: the stand-in for a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def _crafted_checkpoint(path: Path, marker: Path) -> Path:
    """A .pt that looks like a training checkpoint and carries the payload."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model_name": "microaunet", "ema": {}, "payload": _Payload(marker)}, path)
    return path


def test_the_payload_runs_under_a_full_unpickler(tmp_path: Path) -> None:
    """The crafted file is a real attack: without weights_only it executes (so the tests below can fail)."""
    ckpt = _crafted_checkpoint(tmp_path / "evil.pt", tmp_path / "marker")
    torch.load(ckpt, weights_only=False)
    assert (tmp_path / "marker").read_text() == "ran"


def _commands(ckpt: Path, data: Path, tmp: Path) -> dict[str, list[str]]:
    train = ["--data", str(data), "--split", "random", "--size", "64", "--epochs", "1", "--batch-size", "4",
             "--threads", "1", "--layout", "nchw"]
    return {
        "evaluate": ["evaluate", "--ckpt", str(ckpt), "--data", str(data), "--size", "64"],
        "export": ["export", "--ckpt", str(ckpt), "-o", str(tmp / "m.onnx"), "--size", "64"],
        "predict": ["predict", str(data / "images"), "--ckpt", str(ckpt), "-o", str(tmp / "pred"), "--size", "64"],
        "distill": ["distill", "--teacher", str(ckpt), *train, "--out", str(tmp / "student")],
    }


@pytest.mark.parametrize("command", ["evaluate", "export", "predict", "distill"])
def test_a_crafted_checkpoint_runs_nothing(command: str, synthetic_dir: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    marker = tmp_path / "marker"
    ckpt = _crafted_checkpoint(tmp_path / "evil.pt", marker)
    assert main(_commands(ckpt, synthetic_dir, tmp_path)[command]) == 2
    assert not marker.exists()
    assert f"error: {ckpt}: not a readable checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "distill"])
def test_resuming_from_a_crafted_checkpoint_runs_nothing(command: str, synthetic_dir: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    marker = tmp_path / "marker"
    run = tmp_path / "run"
    evil = _crafted_checkpoint(run / "last.pt", marker)
    teacher = tmp_path / "teacher.safetensors"
    save_weights(build_model("malunet", seed=0), "malunet", teacher)
    argv = [command, "--data", str(synthetic_dir), "--split", "random", "--size", "64", "--epochs", "1",
            "--batch-size", "4", "--threads", "1", "--layout", "nchw", "--out", str(run), "--resume"]
    if command == "distill":
        argv += ["--teacher", str(teacher)]
    assert main(argv) == 2
    assert not marker.exists()
    assert f"error: {evil}: not a readable checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
@pytest.mark.parametrize("command", ["evaluate", "export", "predict", "distill"])
def test_a_damaged_safetensors_file_gives_one_line(command: str, damage: str, synthetic_dir: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    weights = tmp_path / "w.safetensors"
    save_weights(build_model("malunet" if command == "distill" else "microaunet", seed=0),
                 "malunet" if command == "distill" else "microaunet", weights)
    data = weights.read_bytes()
    weights.write_bytes(b"\xff" * 64 if damage == "garbage" else data[: len(data) // 2])
    assert main(_commands(weights, synthetic_dir, tmp_path)[command]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {weights}: not a readable .safetensors weights file") and err.count("\n") == 1


def test_checkpoints_of_earlier_versions_still_load(synthetic_dir: Path, tmp_path: Path) -> None:
    """Before 0.2 a checkpoint held its split's ids as numpy strings (from the decode cache): those load."""
    import numpy as np

    from microaunet.training.checkpoint import load_checkpoint, load_model
    from microaunet.training.trainer import TrainConfig, Trainer

    trainer = Trainer(TrainConfig(data=str(synthetic_dir), split="random", out=str(tmp_path / "run"), size=64,
                                  batch_size=4, epochs=1, threads=1, layout="nchw"))
    state = trainer.state()
    state["split"]["train"] = [np.str_(i) for i in state["split"]["train"]]
    torch.save(state, tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt")["split"]["train"] == trainer.data.train.ids
    assert load_model(tmp_path / "old.pt")[1]["model"] == "microaunet"
