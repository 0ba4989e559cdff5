"""Uploaded bytes to an RGB array, and a prediction to the bytes of a response (PNG, or a JSON summary)."""

from __future__ import annotations

import io
from typing import Any

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from ..data.io import to_rgb
from ..deploy.drawing import overlay
from ..deploy.segmenter import Prediction
from .errors import RequestError

ACCEPTED_FORMATS = ("JPEG", "MPO", "PNG", "TIFF", "BMP")  # MPO: the JPEG that some cameras write
ACCEPTED = "JPEG, PNG, TIFF or BMP"


def decode_image(data: bytes, name: str, max_pixels: int) -> np.ndarray:
    """An RGB uint8 array; 400 for what is not an image, 415 for other formats, 413 past ``max_pixels``."""
    if not data:
        raise RequestError(400, f"{name}: the upload is empty")
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise RequestError(413, f"{name}: over the limit of {max_pixels / 1e6:g} megapixels") from None
    except (UnidentifiedImageError, OSError):
        raise RequestError(400, f"{name}: not a decodable image (send {ACCEPTED})") from None
    if image.format not in ACCEPTED_FORMATS:
        raise RequestError(415, f"{name}: {image.format} images are not accepted (send {ACCEPTED})")
    width, height = image.size
    if width * height > max_pixels:
        raise RequestError(413, f"{name}: {width}x{height} is {width * height / 1e6:.1f} megapixels, "
                                f"over the limit of {max_pixels / 1e6:g}")
    try:
        image.load()  # the header was readable; a truncated or corrupt body fails here
    except (OSError, SyntaxError, ValueError) as e:
        raise RequestError(400, f"{name}: cannot decode the {image.format} image ({e})") from None
    return to_rgb(image)


def png(image: np.ndarray) -> bytes:
    """A gray (H, W) or RGB (H, W, 3) uint8 array as PNG bytes."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    return cv2.imencode(".png", image)[1].tobytes()


def mask_png(prediction: Prediction) -> bytes:
    """The binary mask as a 1-bit PNG (OpenCV reads it as 0 and 255, PIL as mode "1"), at zlib level 1:
    smaller and faster than 8-bit gray, and level 1 halves the time of OpenCV's default level here. The bool
    mask goes in as its own bytes (0 and 1, no copy): the 1-bit writer takes any nonzero as white."""
    return cv2.imencode(".png", prediction.mask.view(np.uint8),
                        [cv2.IMWRITE_PNG_BILEVEL, 1, cv2.IMWRITE_PNG_COMPRESSION, 1])[1].tobytes()


def probability_png(prediction: Prediction) -> bytes:
    """The probability rounded to 8 bits: ``value >= 128`` is exactly ``probability >= 0.5``."""
    return png(np.floor(prediction.probability.astype(np.float64) * 255 + 0.5).astype(np.uint8))


def overlay_png(image: np.ndarray, prediction: Prediction) -> bytes:
    return png(overlay(image, prediction.mask))


def rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO's uncompressed RLE: run lengths over the pixels in column-major order, the first run background."""
    flat = mask.ravel(order="F")
    bounds = np.concatenate([[0], np.flatnonzero(flat[1:] != flat[:-1]) + 1, [flat.size]])
    counts = np.diff(bounds).tolist()
    return {"size": list(mask.shape), "counts": [0, *counts] if flat[0] else counts}


def describe(prediction: Prediction) -> dict[str, Any]:
    """Area, connected components (8-connected, largest first) with boxes ``[x, y, w, h]``, and the mask as RLE."""
    mask, probability = prediction.mask, prediction.probability
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    sums = np.bincount(labels.ravel(), weights=probability.ravel(), minlength=count)
    components = sorted(({"bbox": [int(v) for v in stats[i, :4]], "area": int(stats[i, 4]),
                          "mean_probability": round(float(sums[i] / stats[i, 4]), 4)} for i in range(1, count)),
                        key=lambda c: -c["area"])
    area = int(stats[1:, 4].sum())
    height, width = mask.shape
    return {
        "width": width, "height": height,
        "polyp_area": {"pixels": area, "fraction": round(area / (width * height), 6)},
        "mean_probability": round(float(sums[1:].sum() / area), 4) if area else None,  # over the polyp's pixels
        "components": components,
        "mask_rle": rle(mask),
    }
