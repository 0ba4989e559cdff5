"""Photometric and acquisition perturbations: each moves the image the stated way; the random batch
augmentation is the identity at strength 0, reproducible from its seed, and keeps type, dtype and shape."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from microaunet.data import photometric as ph
from microaunet.data.synthetic import synthetic_pair


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return synthetic_pair(np.random.default_rng(3), 128)[0]


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    rng = np.random.default_rng(4)
    return np.stack([synthetic_pair(rng, 64)[0] for _ in range(6)])


def gray(x: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float64)


def sharpness(x: np.ndarray) -> float:
    return float(cv2.Laplacian(gray(x), cv2.CV_64F).var())


def hsv(x: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(x.astype(np.float32) / 255, cv2.COLOR_RGB2HSV)


def test_each_perturbation_moves_the_image_the_stated_way(image: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    mean, std = gray(image).mean(), gray(image).std()
    assert gray(ph.brightness(image, 1.3)).mean() > mean + 10 and gray(ph.brightness(image, 0.7)).mean() < mean - 10
    assert gray(ph.contrast(image, 1.4)).std() > 1.15 * std and gray(ph.contrast(image, 0.6)).std() < 0.7 * std
    assert abs(gray(ph.contrast(image, 0.6)).mean() - mean) < 1.5  # about the mean gray level
    assert gray(ph.gamma(image, 1.5)).mean() < mean - 10 and gray(ph.gamma(image, 0.67)).mean() > mean + 10
    hue_shift = (hsv(ph.hue_saturation(image, 10, 1.0))[..., 0] - hsv(image)[..., 0] + 180) % 360 - 180
    assert np.median(hue_shift) == pytest.approx(10, abs=1)
    assert hsv(ph.hue_saturation(image, 0, 1.4))[..., 1].mean() > 1.2 * hsv(image)[..., 1].mean()
    assert hsv(ph.hue_saturation(image, 0, 0.5))[..., 1].mean() < 0.6 * hsv(image)[..., 1].mean()
    assert sharpness(ph.gaussian_blur(image, 2)) < 0.2 * sharpness(image)
    edge = np.zeros((256, 256, 3), np.uint8)
    edge[:, 128:] = 200  # a vertical edge: horizontal motion smears it over the motion's length, vertical keeps it
    assert np.count_nonzero(ph.motion_blur(edge, 12, 0)[0, :, 0] % 200) in (11, 12, 13)
    assert np.array_equal(ph.motion_blur(edge, 12, 90), edge)
    errors = [np.abs(ph.jpeg(image, q).astype(int) - image).mean() for q in (90, 50, 20)]
    assert 0 < errors[0] < errors[1] < errors[2]
    noise = ph.gaussian_noise(image, 8, rng).astype(float) - image
    assert noise.std() == pytest.approx(8, rel=0.1) and abs(noise.mean()) < 0.5
    assert sharpness(ph.low_resolution(image, 4)) < 0.3 * sharpness(image)
    assert ph.low_resolution(image, 4).shape == image.shape
    white = (gray(image) >= 250).sum()
    assert (gray(ph.specular_highlights(image, 6, 8, rng)) >= 250).sum() > white + 50


def test_neutral_parameters_change_nothing(image: np.ndarray) -> None:
    for out in (ph.brightness(image, 1), ph.contrast(image, 1), ph.gamma(image, 1), ph.low_resolution(image, 1),
                ph.gaussian_noise(image, 0, np.random.default_rng(0)), ph.motion_blur(image, 0, 0)):
        assert np.array_equal(out, image)
    assert np.abs(ph.hue_saturation(image, 0, 1).astype(int) - image).max() <= 1  # float HSV round trip


def test_spatial_sizes_scale_with_the_image(image: np.ndarray) -> None:
    """A blur of 2 reference pixels on a twice larger image, seen at the small size, is the small image's blur."""
    big = cv2.resize(image, (256, 256), interpolation=cv2.INTER_CUBIC)
    back = cv2.resize(ph.gaussian_blur(big, 2), (128, 128), interpolation=cv2.INTER_AREA)
    assert np.abs(back.astype(int) - ph.gaussian_blur(image, 2)).mean() < 1.5


def test_strength_zero_is_the_identity(batch: np.ndarray) -> None:
    out = ph.photometric_augment(batch, np.random.default_rng(0), 0.0)
    assert np.array_equal(out, batch) and out is not batch
    tensor = torch.from_numpy(batch)
    assert torch.equal(ph.photometric_augment(tensor, torch.Generator().manual_seed(0), 0.0, p=1.0), tensor)


def test_augmentation_is_reproducible_per_sample_and_keeps_type(batch: np.ndarray) -> None:
    tensor = torch.from_numpy(batch)
    first = ph.photometric_augment(tensor, torch.Generator().manual_seed(7), 1.0)
    again = ph.photometric_augment(tensor, torch.Generator().manual_seed(7), 1.0)
    other = ph.photometric_augment(tensor, torch.Generator().manual_seed(8), 1.0)
    assert isinstance(first, torch.Tensor) and first.dtype == torch.uint8 and first.shape == tensor.shape
    assert torch.equal(first, again) and not torch.equal(first, other)
    same = np.repeat(batch[:1], 6, axis=0)  # one image six times: every sample draws its own changes
    out = ph.photometric_augment(same, np.random.default_rng(1), 1.0)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == same.shape
    assert len({o.tobytes() for o in out}) == 6
    assert np.array_equal(out, ph.photometric_augment(same, np.random.default_rng(1), 1.0))


def test_strength_scales_the_changes(batch: np.ndarray) -> None:
    change = [np.abs(ph.photometric_augment(batch, np.random.default_rng(2), s, p=1.0).astype(int) - batch).mean()
              for s in (0.1, 0.5, 1.0)]
    assert 0 < change[0] < change[1] < change[2]


@pytest.mark.parametrize("images,strength,problem", [
    (np.zeros((2, 8, 8, 3), np.float32), 0.5, "uint8 images of shape"),
    (np.zeros((8, 8, 3), np.uint8), 0.5, "uint8 images of shape"),
    (np.zeros((2, 8, 8, 3), np.uint8), 1.5, "strength must be in"),
])
def test_bad_input_is_refused(images: np.ndarray, strength: float, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        ph.photometric_augment(images, np.random.default_rng(0), strength)
