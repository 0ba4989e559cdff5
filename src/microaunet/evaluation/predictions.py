"""A model's binary predictions on a split, bit-packed in one compressed .npz.

results/ keeps them for the runs whose weights are too large for git (UNet, SANet: 31-96 MB), so that
the qualitative figure can still draw those models on a machine that never held their weights. The masks
are at each image's own resolution, thresholded as the evaluation thresholds them.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np


def save_predictions(path: str | Path, masks: dict[str, np.ndarray]) -> None:
    """Write ``masks`` (image id -> 2-D boolean mask) to ``path`` (.npz)."""
    ids = list(masks)
    shapes = np.array([masks[i].shape for i in ids], dtype=np.int32).reshape(len(ids), 2)
    bits = np.packbits(np.concatenate([masks[i].astype(bool).ravel() for i in ids])) if ids else np.zeros(0, np.uint8)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, ids=np.array(ids, dtype=str), shapes=shapes, bits=bits)


def load_predictions(path: str | Path) -> dict[str, np.ndarray]:
    """The masks written by :func:`save_predictions`, by image id."""
    try:
        with np.load(path, allow_pickle=False) as f:
            ids, shapes, bits = [str(i) for i in f["ids"]], f["shapes"], f["bits"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a predictions file written by microaunet evaluate ({e})") from None
    sizes = shapes.prod(axis=1) if len(ids) else np.zeros(0, np.int64)
    total = int(sizes.sum())
    if bits.size != -(-total // 8):
        raise ValueError(f"{path}: holds {bits.size * 8} mask bits where its shapes need {total}")
    flat = np.unpackbits(bits, count=total).astype(bool)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    return {i: flat[a:b].reshape(s) for i, a, b, s in zip(ids, starts[:-1], starts[1:], shapes)}
