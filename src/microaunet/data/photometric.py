"""Photometric and acquisition perturbations of RGB uint8 images, one function per perturbation.

Each function takes one (H, W, 3) uint8 RGB image and explicit parameters and returns a new uint8 image of the
same shape (masks are never touched: nothing here moves a pixel). Training draws the parameters at random
(:func:`photometric_augment`); ``bench robustness`` applies fixed ones (:mod:`microaunet.evaluation.robustness`); both
call these functions, so that each perturbation has one implementation.

Spatial sizes (blur sigma, motion length, highlight radius) are in pixels of a 256-pixel shorter side, the
training resolution, and scale with the image, so that a perturbation means the same on a 256x256 training
sample as on a 1920x1080 test image. Noise (in gray levels) and JPEG quality do not scale: they act on each
pixel at whatever resolution the image has, as a sensor and a video encoder do.
"""

from __future__ import annotations

import math
from typing import TypeVar

import cv2
import numpy as np
import torch

REFERENCE_SIDE = 256
Images = TypeVar("Images", np.ndarray, torch.Tensor)


def _scale(image: np.ndarray) -> float:
    return min(image.shape[:2]) / REFERENCE_SIDE


def _lut(image: np.ndarray, values: np.ndarray) -> np.ndarray:
    return cv2.LUT(image, np.clip(np.rint(values), 0, 255).astype(np.uint8))


def brightness(image: np.ndarray, factor: float) -> np.ndarray:
    """Illumination gain: every channel times ``factor`` (> 1 brighter, < 1 darker), clipped to 255."""
    return _lut(image, np.arange(256) * factor)


def contrast(image: np.ndarray, factor: float) -> np.ndarray:
    """Contrast about the image's mean gray level: ``(x - mean) * factor + mean`` (< 1 flatter, > 1 harsher)."""
    mean = float(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).mean())
    return _lut(image, (np.arange(256) - mean) * factor + mean)


def gamma(image: np.ndarray, value: float) -> np.ndarray:
    """The curve ``255 (x / 255) ** value``: > 1 darkens the mid-tones, < 1 brightens them; black and white stay."""
    return _lut(image, 255.0 * (np.arange(256) / 255.0) ** value)


def hue_saturation(image: np.ndarray, hue_shift: float, saturation: float) -> np.ndarray:
    """Hue rotated by ``hue_shift`` degrees and saturation times ``saturation`` (HSV in float, value kept)."""
    hsv = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = (hsv[..., 0] + hue_shift) % 360.0
    hsv[..., 1] = np.clip(hsv[..., 1] * saturation, 0.0, 1.0)
    return np.clip(np.rint(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0), 0, 255).astype(np.uint8)


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Defocus: a Gaussian of ``sigma`` reference pixels."""
    return cv2.GaussianBlur(image, (0, 0), sigma * _scale(image), borderType=cv2.BORDER_REFLECT)


def motion_blur(image: np.ndarray, length: float, angle: float) -> np.ndarray:
    """Camera motion: a line kernel ``length`` reference pixels long at ``angle`` degrees (0: horizontal)."""
    span = length * _scale(image)
    size = 2 * math.ceil(span / 2) + 1
    # points every quarter pixel along the segment, each splatted bilinearly: a sub-pixel line, one pixel wide
    t = np.linspace(-span / 2, span / 2, max(2, math.ceil(4 * span)))
    x = size // 2 + t * math.cos(math.radians(angle))
    y = size // 2 - t * math.sin(math.radians(angle))
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    kernel = np.zeros((size + 1, size + 1), np.float64)
    for dy, dx, weight in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)), (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(kernel, (y0 + dy, x0 + dx), weight)
    kernel = kernel[:size, :size]
    return cv2.filter2D(image, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Re-compression with the real JPEG codec (libjpeg through OpenCV) at ``quality`` (1-100)."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"JPEG encoding failed at quality {quality}")
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def gaussian_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise: independent Gaussian noise of ``sigma`` gray levels on every pixel and channel."""
    noise = rng.standard_normal(image.shape, dtype=np.float32) * sigma
    return np.clip(np.rint(image + noise), 0, 255).astype(np.uint8)


def low_resolution(image: np.ndarray, factor: float) -> np.ndarray:
    """A coarser sensor or stream: down-sampled by ``factor`` (area average), then up again (bilinear)."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, round(w / factor)), max(1, round(h / factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def specular_highlights(image: np.ndarray, count: int, radius: float, rng: np.random.Generator) -> np.ndarray:
    """``count`` saturated white reflections with soft edges (ellipses of about ``radius`` reference pixels)
    at random places: the endoscope light mirrored by wet mucosa."""
    h, w = image.shape[:2]
    r = radius * _scale(image)
    alpha = np.zeros((h, w), np.float32)
    for _ in range(count):
        centre = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        axes = (max(1, round(r * rng.uniform(0.5, 1.0))), max(1, round(r * rng.uniform(0.3, 1.0))))
        cv2.ellipse(alpha, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    # soft edges: blurred, then doubled so that the drawn ellipse (blurred >= 1/2) stays saturated
    alpha = np.minimum(1.0, 2.0 * cv2.GaussianBlur(alpha, (0, 0), max(0.5, r / 4)))[..., None]
    return np.clip(np.rint(image * (1 - alpha) + 255.0 * alpha), 0, 255).astype(np.uint8)


# Training augmentation: each op is applied with probability ``p``; its magnitude m = strength * u, u uniform in
# [0, 1], sets the parameter below (strength 1: the largest change), so strength 0 is the identity.
AUGMENTATIONS = ("brightness", "contrast", "gamma", "hue_saturation", "specular_highlights", "blur",
                 "low_resolution", "gaussian_noise", "jpeg")
MAX_BRIGHTNESS = 0.35  # gain 1 +- 0.35
MAX_CONTRAST = 0.35  # factor 1 +- 0.35
MAX_GAMMA = 1.6  # gamma in [1 / 1.6, 1.6]
MAX_HUE, MAX_SATURATION = 12.0, 0.4  # hue +- 12 degrees, saturation 1 +- 0.4
MAX_HIGHLIGHTS, HIGHLIGHT_RADIUS = 6, 4.0  # up to 6 reflections of 2-6 reference pixels
MAX_SIGMA, MAX_MOTION = 2.0, 12.0  # Gaussian sigma, or motion length, in reference pixels
MAX_DOWNSCALE = 4.0  # down to 1/4 of the resolution
MAX_NOISE = 12.0  # gray levels
MIN_QUALITY = 25  # JPEG quality down to 25


def _augment_one(image: np.ndarray, draws: np.ndarray, strength: float, p: float,
                 rng: np.random.Generator) -> np.ndarray:
    """One image through every op; ``draws`` (len(AUGMENTATIONS), 4) uniforms: apply?, magnitude, two more."""
    for name, (apply, u, v, w) in zip(AUGMENTATIONS, draws):
        m = strength * u
        if apply >= p or m == 0:
            continue
        sign = 1.0 if v < 0.5 else -1.0
        if name == "brightness":
            image = brightness(image, 1 + sign * m * MAX_BRIGHTNESS)
        elif name == "contrast":
            image = contrast(image, 1 + sign * m * MAX_CONTRAST)
        elif name == "gamma":
            image = gamma(image, MAX_GAMMA ** (sign * m))
        elif name == "hue_saturation":
            image = hue_saturation(image, sign * m * MAX_HUE, 1 + (2 * w - 1) * strength * MAX_SATURATION)
        elif name == "specular_highlights" and round(m * MAX_HIGHLIGHTS):
            image = specular_highlights(image, round(m * MAX_HIGHLIGHTS), HIGHLIGHT_RADIUS * (0.5 + w), rng)
        elif name == "blur":
            image = gaussian_blur(image, m * MAX_SIGMA) if v < 0.5 else motion_blur(image, m * MAX_MOTION, 180 * w)
        elif name == "low_resolution":
            image = low_resolution(image, 1 + m * (MAX_DOWNSCALE - 1))
        elif name == "gaussian_noise":
            image = gaussian_noise(image, m * MAX_NOISE, rng)
        elif name == "jpeg":
            image = jpeg(image, round(100 - m * (100 - MIN_QUALITY)))
    return image


def photometric_augment(images: Images, generator: torch.Generator | np.random.Generator, strength: float,
                        p: float = 0.5) -> Images:
    """Random photometric and acquisition changes of a batch of RGB uint8 images (B, H, W, 3), numpy or torch.

    Every image draws its own ops and parameters from ``generator`` (a seeded torch or numpy generator: the
    same seed gives the same batch); each op of :data:`AUGMENTATIONS` is applied with probability ``p``, in
    that order (scene lighting and colour, reflections, optics, sensor, compression), at a magnitude uniform
    in [0, ``strength``] of its largest change (the ``MAX_*`` constants). ``strength`` in [0, 1]; 0 returns
    the images unchanged. The draws do not depend on ``strength``, so one seed at two strengths picks the
    same ops with scaled magnitudes. Returns a new batch of the input's type, dtype, shape (and device); the
    work is done on the CPU with OpenCV (uint8 look-up tables, the JPEG codec); masks need no change.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], not {strength}")
    is_torch = isinstance(images, torch.Tensor)
    batch = images.detach().cpu().numpy() if is_torch else images
    if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[3] != 3:
        raise ValueError(f"expected uint8 images of shape (B, H, W, 3), got {batch.dtype} {tuple(batch.shape)}")
    shape = (len(batch), len(AUGMENTATIONS), 4)
    if isinstance(generator, torch.Generator):
        draws = torch.rand(shape, generator=generator, dtype=torch.float64).numpy()
        seeds = torch.randint(0, 2**62, (len(batch),), generator=generator).tolist()
    else:
        draws, seeds = generator.random(shape), generator.integers(0, 2**62, len(batch)).tolist()
    out = np.stack([_augment_one(np.ascontiguousarray(im), d, strength, p, np.random.default_rng(s))
                    for im, d, s in zip(batch, draws, seeds)]) if len(batch) else batch.copy()
    return torch.from_numpy(out).to(images.device) if is_torch else out
