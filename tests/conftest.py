"""Shared fixtures: a small synthetic dataset, and the real datasets when $MICROAUNET_DATA (by default
../shared/data beside the checkout) holds them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

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


def write_bkai_published(root: Path, count: int, size: tuple[int, int] = (64, 48)) -> dict[str, np.ndarray]:
    """BKAI-NeoPolyp as Kaggle publishes it, in small: ``train/train/*.jpeg`` images, colour JPEG masks in
    ``train_gt/train_gt/*.jpeg`` (a red = neoplastic rectangle and a green = non-neoplastic disc on black) and a
    mask-less ``test/test``. Returns each stem's true polyp mask (bool)."""
    w, h = size
    truth = {}
    for folder in ("train/train", "train_gt/train_gt", "test/test"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(count):
        stem = f"{i:032x}"
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / "train/train" / f"{stem}.jpeg")
        mask = np.zeros((h, w, 3), np.uint8)
        red = (yy >= 4) & (yy < 4 + h // 3) & (xx >= 4) & (xx < 4 + w // 3)
        green = (yy - 2 * h // 3) ** 2 + (xx - 2 * w // 3) ** 2 < (min(w, h) // 5 + i % 3) ** 2
        mask[red] = (255, 0, 0)
        mask[green] = (0, 255, 0)
        Image.fromarray(mask).save(root / "train_gt/train_gt" / f"{stem}.jpeg", quality=90)
        truth[stem] = red | green
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(root / "test/test" / "unlabelled.jpeg")
    return truth


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 synthetic pairs at 64x64."""
    return write_synthetic_dataset(tmp_path_factory.mktemp("synthetic"), count=24, size=64, seed=1)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICROAUNET_CACHE", str(tmp_path / "cache"))
