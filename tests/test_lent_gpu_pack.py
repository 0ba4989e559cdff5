"""results/scripts/lent_gpu.py: a dataset packed for a lent GPU unpacks into the official layout with the same
pixels, masks and video sequences the loader reads here, whichever folder of CVC-ClinicDB it was packed from."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from microaunet.data.io import read_image, read_mask
from microaunet.data.pairs import find_pairs

SCRIPT = Path(__file__).resolve().parents[1] / "results" / "scripts" / "lent_gpu.py"


@pytest.fixture(scope="module")
def lent_gpu():
    spec = importlib.util.spec_from_file_location("lent_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_pairs(image_dir: Path, mask_dir: Path, suffix: str, n: int = 3) -> None:
    rng = np.random.default_rng(0)
    image_dir.mkdir(parents=True)
    mask_dir.mkdir(parents=True)
    for i in range(1, n + 1):
        cv2.imwrite(str(image_dir / f"{i}{suffix}"), rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
        mask = np.zeros((24, 32), np.uint8)
        mask[4:12 + i, 6:20] = 255
        cv2.imwrite(str(mask_dir / f"{i}{suffix}"), mask)


def _same_dataset(a: Path, b: Path) -> None:
    here, there = find_pairs(a), find_pairs(b)
    assert [s.id for s in here.samples] == [s.id for s in there.samples]
    assert [s.sequence for s in here.samples] == [s.sequence for s in there.samples]
    for s, t in zip(here.samples, there.samples):
        assert np.array_equal(read_image(s.image), read_image(t.image))
        assert np.array_equal(read_mask(s.mask), read_mask(t.mask))


@pytest.mark.parametrize("packed_from", ["CVC-ClinicDB", "CVC-ClinicDB/PNG"])
def test_cvc_clinicdb_unpacks_to_its_png_folder(tmp_path: Path, lent_gpu, packed_from: str) -> None:
    root = tmp_path / "data" / "CVC-ClinicDB"
    _write_pairs(root / "PNG" / "Original", root / "PNG" / "Ground Truth", ".png")
    (root / "metadata.csv").write_text("frame_id,sequence_id\n1,1\n2,1\n3,2\n")
    lent_gpu.pack(tmp_path / "data" / packed_from, tmp_path / "pack")
    lent_gpu.unpack(tmp_path / "pack", tmp_path / "there")
    _same_dataset(root / "PNG", tmp_path / "there" / "CVC-ClinicDB" / "PNG")
    assert find_pairs(tmp_path / "there" / "CVC-ClinicDB" / "PNG").has_sequences


def test_kvasir_seg_keeps_its_jpeg_images_and_binarised_masks(tmp_path: Path, lent_gpu) -> None:
    root = tmp_path / "data" / "Kvasir-SEG"
    _write_pairs(root / "images", root / "masks", ".jpg")
    lent_gpu.pack(root, tmp_path / "pack")
    lent_gpu.unpack(tmp_path / "pack", tmp_path / "there")
    _same_dataset(root, tmp_path / "there" / "Kvasir-SEG")
    unpacked = tmp_path / "there" / "Kvasir-SEG" / "images" / "1.jpg"
    assert unpacked.read_bytes() == (root / "images" / "1.jpg").read_bytes()
