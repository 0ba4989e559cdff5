"""Two CPU processes with the gloo backend train the same model and must end with identical weights."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

from microaunet import build_model

WORKER = """
import sys, torch
from microaunet.training.trainer import TrainConfig, Trainer
data, out, rank = sys.argv[1], sys.argv[2], sys.argv[3]
trainer = Trainer(TrainConfig(model="microaunet", data=data, split="random", out=out, size=64,
                              batch_size=2, epochs=1, val_fraction=0.2, threads=1))
trainer.fit()
torch.save(dict(trainer.model.named_parameters()), f"{out}/rank{rank}.pt")
torch.distributed.destroy_process_group()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_stay_in_sync(synthetic_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    port = free_port()
    procs = []
    for rank in range(2):
        env = os.environ | {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
                            "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "OMP_NUM_THREADS": "1"}
        procs.append(subprocess.Popen([sys.executable, str(script), str(synthetic_dir), str(tmp_path), str(rank)],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(o[-3000:] for o in outputs)
    # parameters, not BatchNorm running statistics: DDP re-broadcasts those from rank 0 before each forward
    a, b = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    initial = dict(build_model("microaunet", seed=42).named_parameters())
    assert any(not torch.equal(initial[k], a[k]) for k in a)  # and they did train
    assert (tmp_path / "log.csv").read_text().count("\n") == 2  # one writer: rank 0
