"""Shared fixtures: a small synthetic dataset, and the real datasets when $MICROAUNET_DATA (by default
../shared/data beside the checkout) holds them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from microaunet.data.synthetic import write_synthetic_dataset

# One PyTorch thread: the tests' batches are small, and where the cores are busy (CI beside a training) a second
# OpenMP thread spins waiting for the first and makes a step many times slower
torch.set_num_threads(1)

DEFAULT_REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def real_data_root() -> Path:
    """The folder holding Kvasir-SEG/ and CVC-ClinicDB/: $MICROAUNET_DATA, else ../shared/data (as on CI)."""
    return Path(os.environ.get("MICROAUNET_DATA") or DEFAULT_REAL_DATA)


def real_dataset(*parts: str) -> Path:
    path = real_data_root().joinpath(*parts)
    if not path.is_dir():
        pytest.skip(f"real dataset not found at {path}: set MICROAUNET_DATA to the folder that holds Kvasir-SEG/ and "
                    f"CVC-ClinicDB/ (default: ../shared/data beside the checkout, as the CI machine provides it)")
    return path


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 synthetic pairs at 64x64."""
    return write_synthetic_dataset(tmp_path_factory.mktemp("synthetic"), count=24, size=64, seed=1)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICROAUNET_CACHE", str(tmp_path / "cache"))
