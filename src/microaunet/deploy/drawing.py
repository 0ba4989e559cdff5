"""Drawing predictions over images: the overlay that predict, the service and Fig. 5 show, and plain outlines."""

from __future__ import annotations

import cv2
import numpy as np

TINT = np.array([0, 255, 0], np.float64)  # green, the same in RGB and BGR
OUTLINE_RGB = (255, 255, 0)  # yellow


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.35, in_place: bool = False,
            bgr: bool = False) -> np.ndarray:
    """The RGB image with the mask's region tinted green and its contour drawn, at the image's resolution.
    ``in_place`` draws into ``image`` itself (a video frame that is not needed again: no copy of the frame);
    ``bgr``: the image is in OpenCV's BGR order (the same drawing)."""
    out = image if in_place else image.copy()
    mask_u8 = mask if mask.dtype == np.uint8 else mask.view(np.uint8) if mask.dtype == bool else mask.astype(np.uint8)
    x, y, w, h = cv2.boundingRect(mask_u8)  # work only in the mask's bounding box: 720p frames stay cheap
    if not (w and h):
        return out
    region, inside = out[y:y + h, x:x + w], mask_u8[y:y + h, x:x + w]
    tinted = cv2.add(cv2.addWeighted(region, 1 - alpha, region, 0, 0), (*(alpha * TINT).tolist(), 0))
    cv2.copyTo(tinted, inside, region)  # writes into ``out`` through the view
    # the box holds every pixel of the mask, so its contours, offset back, are the whole image's
    contours, _ = cv2.findContours(inside, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE, offset=(x, y))
    thickness = max(1, round(max(image.shape[:2]) / 400))
    return cv2.drawContours(out, contours, -1, OUTLINE_RGB[::-1] if bgr else OUTLINE_RGB, thickness)


def draw_outline(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """A copy of ``image`` with the outer contour of ``mask`` drawn one pixel wide in ``colour``."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return cv2.drawContours(image.copy(), contours, -1, colour, 1)
