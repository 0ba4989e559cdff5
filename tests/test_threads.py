"""The thread defaults that keep inference and training fast on a busy machine (microaunet.threads)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from microaunet.threads import ENV_THREADS, choose_threads, free_cores


def test_inference_defaults_to_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_THREADS, raising=False)
    assert choose_threads() == 1 and choose_threads(0, "inference") == 1
    assert choose_threads(3) == 3  # an explicit count wins


def test_environment_variable_sets_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_THREADS, "2")
    assert choose_threads() == 2 and choose_threads(0, "training") == 2 and choose_threads(1) == 1
    monkeypatch.setenv(ENV_THREADS, "two")
    with pytest.raises(ValueError, match=ENV_THREADS):
        choose_threads()


def test_training_takes_the_free_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    assert free_cores(cores=2, load=2.3) == 1  # both cores busy: one thread, never zero
    assert free_cores(cores=2, load=0.2) == 2 and free_cores(cores=8, load=3.0) == 5
    assert free_cores(cores=4, load=0.0) == 4 and free_cores(cores=2, load=9.0) == 1
    monkeypatch.delenv(ENV_THREADS, raising=False)
    assert 1 <= choose_threads(0, "training") <= (os.cpu_count() or 1)
    with pytest.raises(ValueError):
        choose_threads(-1)


def test_openmp_spins_briefly_unless_told_otherwise() -> None:
    """Importing the package bounds libgomp's spinning before PyTorch starts OpenMP; a user's own setting stays."""
    code = ("import os, microaunet, torch; "
            "print(os.environ.get('GOMP_SPINCOUNT'), os.environ.get('OMP_WAIT_POLICY'))")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}

    def run(extra: dict[str, str]) -> str:
        return subprocess.run([sys.executable, "-c", code], env=env | extra, capture_output=True, text=True,
                              check=True).stdout.strip()

    assert run({}) == "10000 None"
    assert run({"GOMP_SPINCOUNT": "300000"}) == "300000 None"
    assert run({"OMP_WAIT_POLICY": "ACTIVE"}) == "None ACTIVE"
    assert run({"OMP_WAIT_POLICY": "PASSIVE"}) == "None PASSIVE"


def test_onnx_session_threads_do_not_spin(tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    from microaunet.deploy.export import export_onnx
    from microaunet.deploy.segmenter import onnx_session
    from microaunet.models import build_model

    path = export_onnx(build_model("microaunet", seed=0).eval(), tmp_path / "m.onnx", 64, fixed_size=True)
    session = onnx_session(path)
    assert session.get_session_options().intra_op_num_threads == 1
    assert session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
