"""The page in a real headless Chromium (the system's, driven by Playwright), served the shipped default weights."""

from __future__ import annotations

import base64
import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
CHROMIUM = os.environ.get("MICROAUNET_CHROMIUM") or next(
    filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
if not CHROMIUM:
    pytest.skip("no Chromium found: apt-get install chromium, or set MICROAUNET_CHROMIUM to a Chromium binary",
                allow_module_level=True)

from serving import decode, encode, kvasir_like, running  # noqa: E402

from microaunet.deploy.segmenter import Segmenter  # noqa: E402
from microaunet.serve.app import create_app  # noqa: E402
from microaunet.serve.config import ServeConfig  # noqa: E402

# a closed network makes Chromium's background fetches hang: none of them, and a fresh profile (Playwright's own)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
CANVAS = """(selector) => {  // a canvas's RGBA bytes, as base64: a fast way out of the browser
  const canvas = document.querySelector(selector);
  const bytes = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}"""


def canvas(page: sync_api.Page, selector: str, height: int = 576, width: int = 720) -> np.ndarray:
    rgba = np.frombuffer(base64.b64decode(page.evaluate(CANVAS, selector)), np.uint8)
    return rgba.reshape(height, width, 4)[..., :3]


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MICROAUNET_CACHE", str(tmp_path_factory.mktemp("cache")))
        segmenter = Segmenter()
    with running(create_app(ServeConfig(), segmenter)) as base:
        yield base


@pytest.fixture(scope="module")
def page(url: str) -> Iterator[sync_api.Page]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 820})
        page.goto(url)
        yield page
        browser.close()


def api(url: str, data: bytes, query: str = "") -> np.ndarray:
    request = urllib.request.Request(f"{url}/v1/segment{query}", data, {"Content-Type": "image/jpeg"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return decode(response.read())


def test_page_segments_an_image_and_rethresholds_it_without_a_request(url: str, page: sync_api.Page,
                                                                     tmp_path: Path) -> None:
    frame = tmp_path / "kvasir_like.jpg"
    frame.write_bytes(encode(kvasir_like(0)))
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    page.set_input_files("#files", frame)
    page.wait_for_selector(".card[data-state=done]", timeout=30_000)
    assert "microaunet-kvasir" in page.inner_text("#model") and "inference" in page.inner_text(".card .meta")

    page.screenshot(path=tmp_path / "page.png")
    shown = canvas(page, ".card canvas.mask")[..., 0]
    assert np.array_equal(shown == 255, api(url, frame.read_bytes()) == 255)  # the service's own mask
    assert 0.01 < (shown == 255).mean() < 0.9

    drawn = canvas(page, ".card canvas.overlay").astype(int)
    served = api(url, frame.read_bytes(), "?overlay=1").astype(int)
    inside = cv2.erode((shown == 255).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert np.abs(drawn - served)[inside].mean() < 2  # tinted as predict.overlay tints (the browser decodes the JPEG)

    page.locator("#threshold").fill("0.3")
    page.wait_for_function("document.querySelector('#threshold-value').textContent === '0.30'")
    rethresholded = canvas(page, ".card canvas.mask")[..., 0]
    probability = api(url, frame.read_bytes(), "?format=probability")
    assert np.array_equal(rethresholded == 255, probability >= np.floor(0.3 * 255 + 0.5))
    assert (rethresholded == 255).sum() >= (shown == 255).sum()
    assert len(posts) == 1  # the slider asked nothing of the service

    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    page.set_input_files("#files", notes)
    page.wait_for_selector(".status.error", timeout=10_000)
    assert "notes.txt: Content-Type text/plain is not accepted" in page.inner_text("#status")


def test_page_asks_for_the_chosen_tta(url: str, page: sync_api.Page, tmp_path: Path) -> None:
    frame = tmp_path / "flipped.jpg"
    frame.write_bytes(encode(kvasir_like(1)))
    page.locator("#threshold").fill("0.5")  # where the slider test left it elsewhere
    page.select_option("#tta", "flip")
    page.set_input_files("#files", frame)
    page.wait_for_selector(".card:first-child[data-state=done]", timeout=60_000)
    page.select_option("#tta", "none")
    assert "TTA flip" in page.inner_text(".card:first-child .meta")
    shown = canvas(page, ".card:first-child canvas.mask")[..., 0]
    assert np.array_equal(shown == 255, api(url, frame.read_bytes(), "?tta=flip") == 255)


def test_page_plays_a_video_back_with_its_overlay(page: sync_api.Page, tmp_path: Path) -> None:
    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 128))
    image = cv2.cvtColor(kvasir_like(0, (160, 128)), cv2.COLOR_RGB2BGR)
    for i in range(10):
        writer.write(np.roll(image, 4 * i, axis=1))
    writer.release()
    page.set_input_files("#files", clip)
    page.wait_for_selector(".card[data-state=done] video", timeout=30_000)
    page.wait_for_function("document.querySelector('.card video').videoWidth === 160", timeout=10_000)
    assert "10 frames" in page.inner_text(".card .meta")
