from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from microaunet.data import io as data_io
from microaunet.models import build_model
from microaunet.training.checkpoint import load_model
from microaunet.training.layout import fastest_layout
from microaunet.training.losses import bce_dice_loss
from microaunet.training.trainer import TrainConfig, Trainer


def config(data: Path, out: Path, **kw) -> TrainConfig:
    base = dict(model="microaunet", data=str(data), split="random", out=str(out), size=64, batch_size=4,
                epochs=2, val_fraction=0.2, threads=1, layout="nchw")
    return TrainConfig(**(base | kw))


def test_trains_logs_and_saves(synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    trainer = Trainer(config(synthetic_dir, tmp_path / "run", layout="auto"))
    assert re.search(r"memory layout: (nchw|channels_last) \(seconds per training step: channels_last [0-9.]+, "
                     r"nchw [0-9.]+\)", capsys.readouterr().out)
    result = trainer.fit()
    assert result["epoch"] == 2
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert log[0].startswith("epoch,lr,loss_seg") and len(log) == 3 and "val_dice" in log[0]
    for name in ("last.pt", "best.pt", "final.safetensors", "config.json"):
        assert (tmp_path / "run" / name).is_file()
    model, info = load_model(tmp_path / "run" / "final.safetensors")
    assert info["model"] == "microaunet" and info["epochs"] == 2
    ema, _ = load_model(tmp_path / "run" / "last.pt")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), ema.state_dict().values()))


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="needs a CUDA device (the UNet baselines were trained on one)")
def test_trains_on_a_gpu_under_bf16_and_saves_cpu_weights(synthetic_dir: Path, tmp_path: Path) -> None:
    result = Trainer(config(synthetic_dir, tmp_path / "run", device="cuda", precision="bf16",
                            layout="auto")).fit()
    assert result["epoch"] == 2
    model, _ = load_model(tmp_path / "run" / "final.safetensors")
    assert all(p.device.type == "cpu" and p.dtype == torch.float32 for p in model.parameters())


def test_resume_after_a_kill_continues_the_same_run(synthetic_dir: Path, tmp_path: Path) -> None:
    straight = Trainer(config(synthetic_dir, tmp_path / "a", epochs=3))
    straight.fit()
    interrupted = Trainer(config(synthetic_dir, tmp_path / "b", epochs=3))
    interrupted.fit(max_epochs=1)  # the process dies here, after the epoch-1 checkpoint
    resumed = Trainer(config(synthetic_dir, tmp_path / "b", epochs=3))
    assert resumed.fit(resume=True)["epoch"] == 3
    for a, b in zip(straight.ema.module.state_dict().values(), resumed.ema.module.state_dict().values()):
        assert torch.equal(a, b)
    rows_a = (tmp_path / "a" / "log.csv").read_text().splitlines()
    rows_b = (tmp_path / "b" / "log.csv").read_text().splitlines()

    def untimed(rows: list[str]) -> list[str]:  # the last two columns time the epoch: they differ between runs
        return [r.rsplit(",", 2)[0] for r in rows]

    assert untimed(rows_a) == untimed(rows_b)


def test_bf16_runs_the_forward_pass_in_bfloat16_and_keeps_weights_and_losses_float32(
        synthetic_dir: Path, tmp_path: Path) -> None:
    trainer = Trainer(config(synthetic_dir, tmp_path / "run", epochs=1, precision="bf16"))
    start = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    seen: set[torch.dtype] = set()
    first_conv = next(m for m in trainer.model.modules() if isinstance(m, torch.nn.Conv2d))
    first_conv.register_forward_hook(lambda module, inputs, output: seen.add(output.dtype))
    trainer.fit()
    assert torch.bfloat16 in seen  # the training steps (validation runs float32)
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
    assert any(not torch.equal(start[k], v) for k, v in trainer.model.state_dict().items())
    row = (tmp_path / "run" / "log.csv").read_text().splitlines()[1].split(",")
    assert 0 < float(row[2]) < 10  # loss_seg: finite


def test_an_unknown_precision_is_refused_before_any_data_is_read(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="precision must be fp32 or bf16, not 'fp16'"):
        Trainer(config(tmp_path / "absent", tmp_path / "run", precision="fp16"))


def test_losses_are_float32_for_bfloat16_logits() -> None:
    logits = torch.randn(2, 1, 32, 32).bfloat16()
    target = (torch.rand(2, 1, 32, 32) > 0.5).float()
    loss = bce_dice_loss(logits, target)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(bce_dice_loss(logits.float(), target).item(), abs=1e-6)


def test_training_never_reads_the_test_split(synthetic_dir: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    split = {"train": [f"synth_{i:04d}" for i in range(12)], "test": [f"synth_{i:04d}" for i in range(12, 24)]}
    (tmp_path / "split.json").write_text(json.dumps(split))
    opened: list[str] = []
    real_open = data_io._open
    monkeypatch.setattr(data_io, "_open", lambda path: opened.append(Path(path).stem) or real_open(path))
    Trainer(config(synthetic_dir, tmp_path / "run", split=str(tmp_path / "split.json"), epochs=1)).fit()
    assert opened and set(opened) <= set(split["train"])


def test_timing_the_layouts_leaves_the_model_untouched() -> None:
    model = build_model("microaunet", seed=0).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    name, seconds = fastest_layout(model, batch_size=2, size=32, device=torch.device("cpu"), steps=1)
    assert name == min(seconds, key=seconds.get) and set(seconds) == {"nchw", "channels_last"}
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BatchNorm statistics too
    assert all(p.grad is None for p in model.parameters())


def test_several_datasets_train_in_their_stated_proportion_and_never_read_a_test_split(
        synthetic_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from microaunet.cli import main
    from microaunet.data import find_pairs, resolve_split
    from microaunet.data.synthetic import write_synthetic_dataset

    second = write_synthetic_dataset(tmp_path / "second", count=24, size=64, seed=7)
    test_ids = {(str(d), i) for d in (synthetic_dir, second) for i in resolve_split("random", find_pairs(d))["test"]}
    opened: list[tuple[str, str]] = []
    real_open = data_io._open
    monkeypatch.setattr(data_io, "_open", lambda p: opened.append((str(Path(p).parents[1]), Path(p).stem))
                        or real_open(p))
    run = tmp_path / "run"
    assert main(["train", "--data", str(synthetic_dir), "--data", str(second), "--data-weights", "3", "1",
                 "--split", "random", "--size", "64", "--epochs", "1", "--batch-size", "4", "--threads", "1",
                 "--layout", "nchw", "--photometric", "0.5", "--out", str(run)]) == 0
    assert opened and not set(opened) & test_ids
    manifest = json.loads((run / "training_images.json").read_text())
    assert [(m["data"], m["weight"]) for m in manifest] == [(str(synthetic_dir), 3), (str(second), 1)]
    assert all(m["train_ids"] and not set(m["train_ids"]) & {i for _, i in test_ids} for m in manifest)
    config = json.loads((run / "config.json").read_text())
    assert config["data"] == [str(synthetic_dir), str(second)] and config["photometric"] == 0.5
    trainer = Trainer(TrainConfig.load(run / "config.json"))  # the run rebuilt from its own config
    draws = torch.multinomial(torch.from_numpy(trainer.data.train_weights), 20_000, replacement=True)
    assert (trainer.data.train_source[draws.numpy()] == 0).mean() == pytest.approx(0.75, abs=0.02)
