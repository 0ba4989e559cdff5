"""Kept predictions: exact round trip of bit-packed masks of any size, and clear errors on bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from microaunet.evaluation.predictions import load_predictions, save_predictions


def test_masks_of_any_size_come_back_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    masks = {"a": rng.random((7, 5)) > 0.5, "cju0qkwl35piu0993l0dewei2": rng.random((288, 384)) > 0.3,
             "empty": np.zeros((3, 1), bool), "full": np.ones((1, 9), bool)}
    save_predictions(tmp_path / "p.npz", masks)
    back = load_predictions(tmp_path / "p.npz")
    assert list(back) == list(masks)
    for k, mask in masks.items():
        assert back[k].dtype == bool and back[k].shape == mask.shape and np.array_equal(back[k], mask), k
    save_predictions(tmp_path / "none.npz", {})
    assert load_predictions(tmp_path / "none.npz") == {}


def test_a_bad_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="junk.npz: not a predictions file"):
        load_predictions(tmp_path / "junk.npz")
    np.savez_compressed(tmp_path / "short.npz", ids=np.array(["a"]), shapes=np.array([[4, 4]], np.int32),
                        bits=np.zeros(1, np.uint8))
    with pytest.raises(ValueError, match="short.npz: holds 8 mask bits where its shapes need 16"):
        load_predictions(tmp_path / "short.npz")
