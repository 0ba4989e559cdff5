"""A procedural polyp dataset: the embedded default that needs no download.

Each image is a mucosa-like background (reddish, smooth low-frequency texture, thin vessels,
endoscope vignetting) with one or two polyp-like blobs (irregular outlines, a lighter dome with
shading) and specular highlights scattered over both; the mask marks the blobs. The task is easy
next to real colonoscopy, but it exercises every code path with realistic shapes and statistics.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    small = rng.random((cells, cells)).astype(np.float32)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)


def _blob_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    """An irregular closed outline: a radius perturbed by a few random harmonics."""
    cx, cy = rng.uniform(0.25, 0.75, 2) * size
    radius = rng.uniform(0.08, 0.22) * size
    angles = np.linspace(0, 2 * np.pi, 90, endpoint=False)
    r = np.full_like(angles, radius)
    for k in (2, 3, 5):
        r += radius * rng.uniform(0, 0.15) * np.cos(k * angles + rng.uniform(0, 2 * np.pi))
    pts = np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles) * rng.uniform(0.7, 1.0)], axis=1)
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [pts.round().astype(np.int32)], 1)
    return mask


def synthetic_pair(rng: np.random.Generator, size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """One (image RGB uint8 (size, size, 3), mask uint8 {0, 1} (size, size)) pair."""
    base = np.array([170, 70, 60], np.float32) + rng.normal(0, 12, 3)
    texture = 0.6 * _smooth_noise(rng, size, 6) + 0.4 * _smooth_noise(rng, size, 24)
    image = base[None, None, :] * (0.75 + 0.5 * texture[..., None])
    vessels = np.zeros((size, size), np.float32)
    for _ in range(rng.integers(3, 8)):
        pts = np.cumsum(rng.normal(0, size / 12, (8, 2)), axis=0) + rng.uniform(0, size, 2)
        cv2.polylines(vessels, [pts.astype(np.int32)], False, 1.0, thickness=int(rng.integers(1, 3)))
    vessels = cv2.GaussianBlur(vessels, (0, 0), 1.0)
    image *= (1 - 0.35 * vessels)[..., None]
    mask = np.zeros((size, size), np.uint8)
    for _ in range(rng.integers(1, 3)):
        blob = _blob_mask(rng, size)
        mask |= blob
        dist = cv2.distanceTransform(blob, cv2.DIST_L2, 5)
        dome = dist / (dist.max() + 1e-6)
        tint = np.array([25, 30, 20], np.float32) + rng.normal(0, 8, 3)
        shade = 0.85 + 0.3 * dome + 0.15 * _smooth_noise(rng, size, 10)
        image = np.where(blob[..., None] > 0, (image + tint) * shade[..., None], image)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    image *= (1 - 0.9 * (xx**2 + yy**2))[..., None]
    highlights = np.zeros((size, size), np.float32)
    for _ in range(rng.integers(2, 9)):
        centre = tuple(int(v) for v in rng.uniform(0, size, 2))
        axes = tuple(int(v) for v in rng.uniform(1, max(2.0, size / 40), 2))
        cv2.ellipse(highlights, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    highlights = cv2.GaussianBlur(highlights, (0, 0), 0.8)
    image = image * (1 - highlights[..., None]) + 255 * highlights[..., None]
    image += rng.normal(0, 3, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), mask


def write_synthetic_dataset(dest: str | Path, count: int = 120, size: int = 256, seed: int = 0) -> Path:
    """Write ``count`` pairs as ``dest/images/synth_XXXX.png`` and ``dest/masks/synth_XXXX.png``."""
    dest = Path(dest)
    (dest / "images").mkdir(parents=True, exist_ok=True)
    (dest / "masks").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        image, mask = synthetic_pair(rng, size)
        cv2.imwrite(str(dest / "images" / f"synth_{i:04d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(dest / "masks" / f"synth_{i:04d}.png"), mask * 255)
    return dest
