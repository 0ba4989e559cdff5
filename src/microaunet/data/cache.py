"""Decoded, resized samples kept on disk, so that no epoch decodes a JPEG.

The cache key hashes every file's path, size and modification time with the target size, so
a changed file or another size gives another cache file. Arrays are written atomically.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .io import DataError, read_image, read_mask
from .pairs import Sample
from .transforms import resize_image, resize_mask

CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """$MICROAUNET_CACHE, else $XDG_CACHE_HOME/microaunet, else ~/.cache/microaunet."""
    base = os.environ.get("MICROAUNET_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "microaunet"
    )
    return Path(base)


_ANNOUNCED: set[Path] = set()


def announce_cache(folder: Path, what: str) -> None:
    """Say on stderr, once per process and folder, where files kept between runs are written."""
    folder = Path(folder)
    if folder in _ANNOUNCED:
        return
    _ANNOUNCED.add(folder)
    print(f"note: caching {what} in {folder} (MICROAUNET_CACHE sets where; delete it to free the space)",
          file=sys.stderr)


@dataclass
class SampleArrays:
    ids: list[str]
    images: np.ndarray  # (N, S, S, 3) uint8 RGB
    masks: np.ndarray  # (N, S, S) uint8 in {0, 1}


def _decode(sample: Sample, size: int, skip_bad: bool) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        image, mask = read_image(sample.image), read_mask(sample.mask)
    except DataError as e:
        if not skip_bad:
            raise
        warnings.warn(f"skipped pair '{sample.id}': {e}", stacklevel=2)
        return None
    if image.shape[:2] != mask.shape:
        problem = f"{sample.mask}: mask is {mask.shape[1]}x{mask.shape[0]}, image is {image.shape[1]}x{image.shape[0]}"
        if not skip_bad:
            raise DataError(problem)
        warnings.warn(f"skipped pair '{sample.id}': {problem}", stacklevel=2)
        return None
    return resize_image(image, size), resize_mask(mask, size)


def decode_samples(samples: list[Sample], size: int, skip_bad: bool = False, threads: int = 2) -> SampleArrays:
    """Decode and resize every pair; a bad pair is an error naming it, or with ``skip_bad`` a warning."""
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        decoded = list(pool.map(lambda s: _decode(s, size, skip_bad), samples))
    kept = [(s, d) for s, d in zip(samples, decoded) if d is not None]
    images = np.stack([d[0] for _, d in kept]) if kept else np.zeros((0, size, size, 3), np.uint8)
    masks = np.stack([d[1] for _, d in kept]) if kept else np.zeros((0, size, size), np.uint8)
    return SampleArrays([s.id for s, _ in kept], images, masks)


def cache_key(samples: list[Sample], size: int) -> str:
    h = hashlib.sha256(f"v{CACHE_VERSION}:{size}".encode())
    for s in samples:
        for path in (s.image, s.mask):
            st = path.stat()
            h.update(f"{s.id}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:24]


def load_samples(
    samples: list[Sample], size: int, cache_dir: Path | None = None, skip_bad: bool = False
) -> SampleArrays:
    """Decoded, resized samples, from the cache when it is current; ``cache_dir=None`` uses the default."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache_dir / f"samples-{size}-{cache_key(samples, size)}.npz"
    if path.is_file():
        with np.load(path) as data:
            return SampleArrays([str(i) for i in data["ids"]], data["images"], data["masks"])
    arrays = decode_samples(samples, size, skip_bad)
    announce_cache(cache_dir, "decoded samples")
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".tmp.npz")
    os.close(fd)
    np.savez(tmp, ids=np.array(arrays.ids), images=arrays.images, masks=arrays.masks)
    os.replace(tmp, path)
    return arrays
