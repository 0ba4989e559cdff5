"""The thread defaults that keep inference and training fast on a busy machine (microaunet.threads)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from microaunet.threads import ENV_THREADS, choose_threads, free_cores, set_openmp_defaults


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


def test_importing_the_package_bounds_openmp_spinning() -> None:
    """Importing the package sets GOMP_SPINCOUNT before PyTorch starts OpenMP."""
    code = "import os, microaunet, torch; print(os.environ.get('GOMP_SPINCOUNT'), os.environ.get('OMP_WAIT_POLICY'))"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "10000 None"


@pytest.mark.parametrize("given, expected", [
    ({}, {"GOMP_SPINCOUNT": "10000"}),
    ({"GOMP_SPINCOUNT": "300000"}, {"GOMP_SPINCOUNT": "300000"}),
    ({"OMP_WAIT_POLICY": "ACTIVE"}, {"OMP_WAIT_POLICY": "ACTIVE"}),
    ({"OMP_WAIT_POLICY": "PASSIVE"}, {"OMP_WAIT_POLICY": "PASSIVE"}),
])
def test_a_users_openmp_setting_stays(monkeypatch, given: dict[str, str], expected: dict[str, str]) -> None:
    for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    set_openmp_defaults()
    assert {k: os.environ[k] for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT") if k in os.environ} == expected


def test_onnx_session_threads_do_not_spin(tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    from microaunet.deploy.export import export_onnx
    from microaunet.deploy.segmenter import onnx_session
    from microaunet.models import build_model

    path = export_onnx(build_model("microaunet", seed=0).eval(), tmp_path / "m.onnx", 64, fixed_size=True)
    session = onnx_session(path)
    assert session.get_session_options().intra_op_num_threads == 1
    assert session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
