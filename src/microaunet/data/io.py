"""Reading images and masks with errors that name the file and the problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, UnidentifiedImageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
MASK_THRESHOLD = 128  # JPEG masks carry compression noise around 0 and 255
COLOUR_SPREAD = 128  # max - min channel of a colour-coded label pixel (pure red: 255); gray masks have ~0
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "F")


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


def _colour_coded(img: Image.Image) -> np.ndarray | None:
    """The RGB pixels of a colour-coded label map (most lit pixels saturated colours), else None.

    A gray mask's channels are equal (Kvasir-SEG's JPEG masks and CVC-ClinicDB's PNGs: channel spread 0 in every
    file), where a colour-coded one is labelled in pure red or green; deciding per file, not per pixel, keeps
    every gray mask reading exactly as its gray values say.
    """
    rgb = img.convert("RGB")
    r, g, b = rgb.split()
    if all(ImageChops.difference(x, y).getextrema()[1] < COLOUR_SPREAD for x, y in ((r, g), (g, b), (r, b))):
        return None  # no pixel is a saturated colour (the quick answer for gray masks, in PIL's C code)
    pixels = np.asarray(rgb)
    brightest = pixels.max(axis=2)
    lit = brightest >= MASK_THRESHOLD
    saturated = (brightest - pixels.min(axis=2)) >= COLOUR_SPREAD
    return pixels if lit.any() and saturated[lit].mean() > 0.5 else None


def read_mask_levels(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """The mask's label levels, a uint8 (H, W) array to binarise at ``MASK_THRESHOLD``, and its RGB pixels
    when the file is colour-coded (else None).

    Gray masks: the gray value as PIL converts the file (Kvasir-SEG, CVC-ClinicDB, binary PNGs). Colour-coded
    masks (BKAI-NeoPolyp as published: red = neoplastic, green = non-neoplastic polyp, black background):
    max(red, green), so that a polyp is "red or green > 127"; as gray, pure red (76) would read as background.
    """
    img = _open(Path(path))
    rgb = None if img.mode in GRAY_MODES else _colour_coded(img)
    if rgb is not None:
        return np.maximum(rgb[..., 0], rgb[..., 1]), rgb
    return np.asarray(img.convert("L")), None


def read_mask(path: str | Path) -> np.ndarray:
    """A boolean array (H, W) of polyp pixels: gray value >= 128, or red or green > 127 in a colour-coded mask."""
    return read_mask_levels(path)[0] >= MASK_THRESHOLD
