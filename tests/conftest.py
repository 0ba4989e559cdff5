"""Shared fixtures: a small synthetic dataset, and the real datasets when ../shared/data holds them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from microaunet.data.synthetic import write_synthetic_dataset

# One PyTorch thread: the tests' batches are small, and where the cores are busy (CI beside a training) a second
# OpenMP thread spins waiting for the first and makes a step many times slower
torch.set_num_threads(1)

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def real_dataset(*parts: str) -> Path:
    path = REAL_DATA.joinpath(*parts)
    if not path.is_dir():
        pytest.skip(f"real dataset not found at {path} (the CI machine provides ../shared/data beside the checkout)")
    return path


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 synthetic pairs at 64x64."""
    return write_synthetic_dataset(tmp_path_factory.mktemp("synthetic"), count=24, size=64, seed=1)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICROAUNET_CACHE", str(tmp_path / "cache"))
