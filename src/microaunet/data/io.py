"""Reading images and masks with errors that name the file and the problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
MASK_THRESHOLD = 128  # JPEG masks carry compression noise around 0 and 255


class DataError(Exception):
    """A dataset problem a user can fix: the message names the file and what is wrong."""


def _open(path: Path) -> Image.Image:
    try:
        with Image.open(path) as img:
            img.load()  # decode now: truncated or corrupt files fail here, not later in training
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image file PIL can read") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path}: cannot decode image ({e})") from None
    return img


def read_image(path: str | Path) -> np.ndarray:
    """An RGB uint8 array (H, W, 3). Grayscale, palette and RGBA inputs are converted to RGB."""
    return to_rgb(_open(Path(path)))


def to_rgb(img: Image.Image) -> np.ndarray:
    """A decoded PIL image as an RGB uint8 array (H, W, 3); 16-bit and float images are scaled to their peak."""
    if img.mode in ("I;16", "I;16B", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        peak = arr.max() if arr.size and arr.max() > 0 else 1.0
        img = Image.fromarray((arr / peak * 255).astype(np.uint8))
    return np.asarray(img.convert("RGB"))


def read_gray(path: str | Path) -> np.ndarray:
    """A uint8 gray-value array (H, W), as a mask file stores it (before binarisation)."""
    return np.asarray(_open(Path(path)).convert("L"))


def read_mask(path: str | Path) -> np.ndarray:
    """A boolean array (H, W): pixels whose gray value is >= 128 are polyp."""
    return read_gray(path) >= MASK_THRESHOLD
