"""The service's routes through FastAPI's test client (and a live uvicorn for overload and concurrency)."""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

pytest.importorskip("onnxruntime")
pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402
from serving import decode, encode, kvasir_like, running  # noqa: E402

from microaunet.cli import main  # noqa: E402
from microaunet.deploy.drawing import overlay  # noqa: E402
from microaunet.deploy.pretrained import list_pretrained  # noqa: E402
from microaunet.deploy.segmenter import Prediction, Segmenter  # noqa: E402
from microaunet.models import build_model  # noqa: E402
from microaunet.serve.app import MAX_BATCH, create_app  # noqa: E402
from microaunet.serve.config import ServeConfig  # noqa: E402
from microaunet.serve.images import mask_png  # noqa: E402
from microaunet.training.checkpoint import save_weights  # noqa: E402

SIZE = (301, 217)  # width, height: not square, not a multiple of the input size


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory: pytest.TempPathFactory) -> Segmenter:
    """Tiny untrained weights at a 64-pixel input: fast, and deterministic."""
    folder = tmp_path_factory.mktemp("serve")
    save_weights(build_model("microaunet", seed=0).eval(), "microaunet", folder / "tiny.safetensors")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MICROAUNET_CACHE", str(folder / "cache"))
        return Segmenter(folder / "tiny.safetensors", size=64)


def client_for(segmenter: Segmenter, **settings: object) -> TestClient:
    return TestClient(create_app(ServeConfig(**settings), segmenter))


@pytest.fixture(scope="module")
def client(segmenter: Segmenter) -> Iterator[TestClient]:
    with client_for(segmenter) as c:
        yield c


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return kvasir_like(0, SIZE)


def post_image(client: TestClient, data: bytes, query: str = "", content_type: str = "image/jpeg") -> Any:
    return client.post(f"/v1/segment{query}", content=data, headers={"Content-Type": content_type})


def rle_decode(rle: dict) -> np.ndarray:
    height, width = rle["size"]
    values = np.repeat(np.arange(len(rle["counts"])) % 2, rle["counts"]).astype(bool)
    return values.reshape(width, height).T  # column-major, as COCO


def test_health_models_page_and_docs(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    models = client.get("/v1/models").json()
    assert models["serving"]["name"] == "tiny" and models["serving"]["architecture"] == "microaunet"
    assert [card["name"] for card in models["shipped"]] == list_pretrained()
    assert all(card["parameters"] > 0 for card in models["shipped"])
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "://" not in page.text  # nothing from elsewhere: no CDN, no font, no script
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/segment", "/v1/segment/batch", "/v1/segment/video", "/v1/models", "/health"} <= set(paths)


def test_mask_png_is_the_segmenters_mask(client: TestClient, segmenter: Segmenter, image: np.ndarray) -> None:
    data = encode(image, "PNG")
    response = post_image(client, data, content_type="image/png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.headers["x-model"] == "tiny" and "inference;dur=" in response.headers["server-timing"]
    expected = segmenter.predict(image).mask
    mask = decode(response.content)
    assert mask.shape == (SIZE[1], SIZE[0]) and set(np.unique(mask)) <= {0, 255}
    assert np.array_equal(mask == 255, expected)
    multipart = client.post("/v1/segment", files={"image": ("frame.png", data, "image/png")})
    assert multipart.content == response.content


@pytest.mark.parametrize("shape", [(1, 1), (3, 8), (5, 9), (217, 301), (576, 720)])
def test_mask_png_reads_back_as_the_mask(shape: tuple[int, int]) -> None:
    mask = np.random.default_rng(shape[1]).random(shape) < 0.3
    data = mask_png(Prediction(mask.astype(np.float32), mask))
    with Image.open(io.BytesIO(data)) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "1", shape[::-1])
        assert np.array_equal(np.asarray(image), mask)
    assert np.array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED), mask * np.uint8(255))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF", "BMP"])
def test_every_accepted_format(client: TestClient, segmenter: Segmenter, image: np.ndarray, fmt: str) -> None:
    data = encode(image, fmt)
    response = post_image(client, data, content_type="application/octet-stream")
    assert response.status_code == 200, response.text
    assert np.array_equal(decode(response.content) == 255, segmenter.predict(decode(data)).mask)


def test_json_summary(client: TestClient, segmenter: Segmenter, image: np.ndarray) -> None:
    result = post_image(client, encode(image), "?format=json").json()
    expected = segmenter.predict(decode(encode(image)))
    mask = rle_decode(result["mask_rle"])
    assert np.array_equal(mask, expected.mask)
    assert (result["width"], result["height"]) == SIZE and result["threshold"] == 0.5
    assert result["polyp_area"]["pixels"] == expected.mask.sum() == sum(c["area"] for c in result["components"])
    assert result["mean_probability"] == pytest.approx(expected.probability[expected.mask].mean(), abs=1e-4)
    for component in result["components"]:
        x, y, w, h = component["bbox"]
        assert 0 <= x < x + w <= SIZE[0] and 0 <= y < y + h <= SIZE[1]
        assert mask[y:y + h, x:x + w].any()
    assert result["model"]["name"] == "tiny" and len(result["model"]["version"]) == 12
    assert {"decode", "inference", "encode", "total"} <= set(result["timing_ms"])


def test_probability_and_overlay(client: TestClient, segmenter: Segmenter, image: np.ndarray) -> None:
    data = encode(image, "PNG")
    expected = segmenter.predict(image)
    probability = decode(post_image(client, data, "?format=probability").content)
    assert probability.dtype == np.uint8 and np.abs(probability / 255 - expected.probability).max() <= 0.5 / 255
    assert np.array_equal(probability >= 128, expected.mask)  # what the page's threshold slider relies on
    drawn = decode(post_image(client, data, "?overlay=1").content)
    assert np.array_equal(drawn, overlay(image, expected.mask))


def test_batch_gives_each_image_its_mask(client: TestClient, segmenter: Segmenter) -> None:
    images = [kvasir_like(seed, (160 + 40 * seed, 120)) for seed in range(3)]
    files = [("images", (f"frame{i}.jpg", encode(im), "image/jpeg")) for i, im in enumerate(images)]
    result = client.post("/v1/segment/batch", files=files).json()
    assert [r["name"] for r in result["images"]] == ["frame0.jpg", "frame1.jpg", "frame2.jpg"]
    for item, (_, (_, data, _)) in zip(result["images"], files):
        assert np.array_equal(rle_decode(item["mask_rle"]), segmenter.predict(decode(data)).mask)


def test_tta_is_the_segmenters_tta(client: TestClient, segmenter: Segmenter, image: np.ndarray) -> None:
    data = encode(image, "PNG")
    for mode in ("flip", "flip4"):
        expected = segmenter.with_tta(mode).predict(image)
        response = post_image(client, data, f"?tta={mode}", content_type="image/png")
        assert response.status_code == 200 and response.headers["x-tta"] == mode
        assert np.array_equal(decode(response.content) == 255, expected.mask)
        probability = decode(post_image(client, data, f"?format=probability&tta={mode}").content)
        assert np.abs(probability / 255 - expected.probability).max() <= 0.5 / 255
        result = post_image(client, data, f"?format=json&tta={mode}").json()
        assert result["tta"] == mode and np.array_equal(rle_decode(result["mask_rle"]), expected.mask)
        assert result["mean_probability"] == pytest.approx(expected.probability[expected.mask].mean(), abs=1e-4)
    files = [("images", ("frame.png", data, "image/png"))]
    result = client.post("/v1/segment/batch?tta=flip", files=files).json()
    assert result["tta"] == "flip"
    assert np.array_equal(rle_decode(result["images"][0]["mask_rle"]), segmenter.with_tta("flip").predict(image).mask)
    plain = post_image(client, data, "?format=json").json()
    assert plain["tta"] == "none" and np.array_equal(rle_decode(plain["mask_rle"]), segmenter.predict(image).mask)
    service = client.app.state.service
    assert set(service.segmenters) == {"none", "flip", "flip4"} and service.segmenters["none"] is segmenter


@pytest.mark.parametrize("route", ["/v1/segment", "/v1/segment/batch", "/v1/segment/video"])
def test_unknown_tta_is_refused_naming_the_modes(client: TestClient, image: np.ndarray, route: str) -> None:
    response = client.post(f"{route}?tta=flip8", files={"image": ("frame.jpg", encode(image), "image/jpeg")})
    assert response.status_code == 400
    assert response.json()["detail"] == "tta must be one of none, flip, flip4, got 'flip8'"


NOISE = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)


@pytest.mark.parametrize(("data", "content_type", "status", "message"), [
    (b"hello", "text/plain", 415, "Content-Type text/plain is not accepted"),
    (b"hello", "image/png", 400, "not a decodable image"),
    (b"", "image/png", 400, "the upload is empty"),
    (encode(NOISE, "GIF"), "image/gif", 415, "GIF images are not accepted"),
    (encode(NOISE, "PNG")[:4000], "image/png", 400, "cannot decode the PNG image"),
], ids=["text", "garbage", "empty", "gif", "truncated"])
def test_bad_images_get_one_clear_line(client: TestClient, data: bytes, content_type: str, status: int,
                                       message: str) -> None:
    response = post_image(client, data, content_type=content_type)
    assert response.status_code == status and message in response.json()["detail"]


def test_bad_requests_name_the_problem(client: TestClient, image: np.ndarray) -> None:
    data = encode(image)
    response = client.post("/v1/segment", data={"note": "no file here"}, files={"x": ("", b"", "text/plain")})
    assert response.status_code == 400 and "no file part" in response.json()["detail"]
    response = client.post("/v1/segment", files=[("image", ("a.jpg", data)), ("image", ("b.jpg", data))])
    assert response.status_code == 400 and "/v1/segment/batch" in response.json()["detail"]
    assert post_image(client, data, "?format=json&overlay=1").status_code == 400
    assert post_image(client, data, "?format=xml").status_code == 422
    response = client.post("/v1/segment", files={"image": ("/etc/passwd", b"root:x:0:0", "image/jpeg")})
    assert response.status_code == 400 and "/etc/passwd: not a decodable image" in response.json()["detail"]
    assert client.get("/v1/videos/..%2F..%2Fetc%2Fpasswd").status_code == 404  # ids are looked up, never opened


def test_size_limits(segmenter: Segmenter, image: np.ndarray) -> None:
    with client_for(segmenter, max_body_mb=0.01, max_megapixels=0.05) as client:
        big = encode(kvasir_like(1, (400, 300)), "BMP")  # 360 KB
        response = post_image(client, big, content_type="image/bmp")
        assert response.status_code == 413 and "over the limit of 0.01 MB" in response.json()["detail"]
        chunked = client.post("/v1/segment", content=iter([big[:6000], big[6000:12000]]))  # no Content-Length
        assert chunked.status_code == 413
        response = post_image(client, encode(kvasir_like(1, (300, 200))))  # 60,000 pixels in a few KB
        assert response.status_code == 413 and "megapixels" in response.json()["detail"]
        assert post_image(client, encode(kvasir_like(1, (100, 80)))).status_code == 200


def test_batch_count_limit(client: TestClient) -> None:
    tiny = encode(np.zeros((1, 1, 3), np.uint8), "PNG")
    response = client.post("/v1/segment/batch", files=[("images", (f"{i}.png", tiny)) for i in range(MAX_BATCH + 1)])
    assert response.status_code == 413 and f"limit is {MAX_BATCH}" in response.json()["detail"]


def test_token_guards_every_route_but_health(segmenter: Segmenter, image: np.ndarray,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    with client_for(segmenter, token="s3cret") as client:
        assert client.get("/health").status_code == 200
        assert client.get("/").status_code == 200  # the page is static: it asks for the token itself
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
            response = client.get("/v1/models", headers=headers)
            assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        assert post_image(client, encode(image)).status_code == 401
        assert client.post("/v1/segment/video", content=b"x").status_code == 401
        good = {"Authorization": "Bearer s3cret"}
        assert client.get("/v1/models", headers=good).status_code == 200
        response = client.post("/v1/segment", content=encode(image), headers=good | {"Content-Type": "image/jpeg"})
        assert response.status_code == 200


class Gate:
    """A Segmenter whose predictions, once the gate is shut, wait until the test opens it."""

    def __init__(self, segmenter: Segmenter) -> None:
        self.segmenter, self.shut, self.entered, self.open = segmenter, False, threading.Event(), threading.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self.segmenter, name)

    def predict_batch(self, images: list[np.ndarray]) -> list:
        if self.shut:
            self.entered.set()
            assert self.open.wait(20)
        return self.segmenter.predict_batch(images)


def http_post(url: str, data: bytes) -> tuple[int, bytes, dict]:
    request = urllib.request.Request(url, data, {"Content-Type": "image/jpeg"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def test_overload_answers_503_with_retry_after(segmenter: Segmenter, image: np.ndarray) -> None:
    gate = Gate(segmenter)
    data = encode(image)
    app = create_app(ServeConfig(workers=1, queue=1), gate)
    gate.shut = True
    with running(app) as url, ThreadPoolExecutor(2) as clients:
        first = clients.submit(http_post, f"{url}/v1/segment", data)
        assert gate.entered.wait(20)
        queued = clients.submit(http_post, f"{url}/v1/segment", data)
        for _ in range(2000):  # until the second request waits in the queue
            if json.loads(urllib.request.urlopen(f"{url}/health").read())["in_progress"] == 2:
                break
            time.sleep(0.01)
        status, body, headers = http_post(f"{url}/v1/segment", data)
        assert status == 503 and headers["retry-after"] == "1" and b"at capacity" in body
        gate.open.set()
        assert first.result()[0] == queued.result()[0] == 200


def test_parallel_requests_give_the_sequential_masks(segmenter: Segmenter) -> None:
    frames = [encode(kvasir_like(seed, SIZE)) for seed in range(8)]
    with running(create_app(ServeConfig(workers=2), segmenter)) as url:
        sequential = [http_post(f"{url}/v1/segment", f)[1] for f in frames]
        with ThreadPoolExecutor(8) as clients:
            parallel = list(clients.map(lambda f: http_post(f"{url}/v1/segment", f), frames * 3))
    assert all(status == 200 for status, _, _ in parallel)
    assert [body for _, body, _ in parallel] == sequential * 3
    assert len(set(sequential)) == len(frames)  # the frames differ, so a mix-up would show


def write_video(path: Path, frames: int = 7, size: tuple[int, int] = (128, 96)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    image = kvasir_like(0, size)
    for i in range(frames):
        writer.write(np.roll(image, 3 * i, axis=1))
    writer.release()
    return path


def test_video_streams_progress_then_plays_back(segmenter: Segmenter, tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi").read_bytes()
    app = create_app(ServeConfig(), segmenter)
    with TestClient(app) as client:
        with client.stream("POST", "/v1/segment/video", files={"video": ("clip.avi", video, "video/x-msvideo")}) as r:
            assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
            events = [json.loads(line) for line in r.iter_lines() if line]
        assert all("progress" in e for e in events[:-1]) and events[-2]["progress"] == {"frames": 7, "total": 7}
        done = events[-1]["done"]
        assert done["frames"] == 7 and done["size"] == [128, 96] and done["media_type"] == "video/webm"
        assert done["tta"] == "none"
        response = client.get(done["video"])
        assert response.status_code == 200 and response.headers["content-type"] == "video/webm"
        played = tmp_path / "played.webm"
        played.write_bytes(response.content)
        capture = cv2.VideoCapture(str(played))
        count = 0
        while capture.read()[0]:
            count += 1
        assert count == 7
        videos = app.state.service.videos
        assert [p.name for p in videos.root.iterdir()] == [f"{done['video'].rsplit('/', 1)[1]}.webm"]  # no upload
    assert not videos.root.exists()  # removed when the service stops


def test_video_with_tta(segmenter: Segmenter, tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi").read_bytes()
    with client_for(segmenter) as client:
        response = client.post("/v1/segment/video?tta=flip4", files={"video": ("clip.avi", video, "video/x-msvideo")})
        done = json.loads(response.text.splitlines()[-1])["done"]
        assert done["tta"] == "flip4" and done["frames"] == 7
        assert set(client.app.state.service.segmenters) == {"none", "flip4"}


def test_video_errors(segmenter: Segmenter, tmp_path: Path) -> None:
    with client_for(segmenter, max_video_mb=0.001) as client:
        response = client.post("/v1/segment/video", content=b"x" * 2000, headers={"Content-Type": "video/mp4"})
        assert response.status_code == 413
        response = client.post("/v1/segment/video", content=b"x", headers={"Content-Type": "text/plain"})
        assert response.status_code == 415
        response = client.post("/v1/segment/video", files={"video": ("clip.mp4", b"not a video", "video/mp4")})
        detail = response.json()["detail"]
        assert response.status_code == 400 and detail.startswith("clip.mp4: cannot open the video")
        assert "/tmp" not in detail  # the service's temporary paths are not told
        assert client.get("/v1/videos/0123456789abcdef").status_code == 404


def test_serve_command(segmenter: Segmenter, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    import microaunet.serve.server as server

    assert main(["serve", "--weights", "no-such-weights"]) == 2
    assert "no pretrained weights named 'no-such-weights'" in capsys.readouterr().err
    started = {}
    monkeypatch.setattr(server.uvicorn, "run", lambda app, **kw: started.update(app=app, **kw))
    monkeypatch.setenv("MICROAUNET_TOKEN", "from-env")
    monkeypatch.setenv("MICROAUNET_CACHE", str(segmenter.weights_path.parent / "cache"))  # its ONNX export, again
    assert main(["serve", "--weights", str(segmenter.weights_path), "--size", "64", "--port", "8123"]) == 0
    assert (started["host"], started["port"]) == ("127.0.0.1", 8123)
    with TestClient(started["app"]) as client:
        assert client.get("/v1/models").status_code == 401
        assert client.get("/v1/models", headers={"Authorization": "Bearer from-env"}).status_code == 200
