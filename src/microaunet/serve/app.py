"""The FastAPI application: routes, the token, the limits, and the one shared ``Segmenter``."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from importlib import resources
from io import BytesIO
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .. import __version__
from ..deploy.pretrained import list_pretrained, model_card
from ..deploy.segmenter import Segmenter
from ..deploy.tta import TTA_MODES, check_tta
from .config import ServeConfig
from .errors import RequestError
from .images import decode_image, describe, mask_png, overlay_png, probability_png
from .uploads import read_uploads
from .video import MEDIA_TYPE, VideoJobs
from .workers import WorkerPool

MB = 1_000_000
MAX_BATCH = 64  # images in one batch request
ENCODERS = {"png": mask_png, "probability": probability_png}
bearer = HTTPBearer(auto_error=False, description="needed when the service was started with --token")
TTAQuery = Annotated[str, Query(description="test-time augmentation, as in predict --tta: none, flip (2 views) or "
                                            "flip4 (4 views), averaged in one pass",
                                json_schema_extra={"enum": list(TTA_MODES)})]


def requested_tta(tta: str) -> str:
    """The mode, or 400 naming the modes there are (not FastAPI's 422, as for the other refused values here)."""
    try:
        return check_tta(tta)
    except ValueError as e:
        raise RequestError(400, str(e)) from None


class Clock:
    """Milliseconds spent in each step of a request, and in all since it arrived."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.steps: dict[str, float] = {}

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.steps[step], self.last = now - self.last, now

    def ms(self) -> dict[str, float]:
        return {k: round(v * 1e3, 2) for k, v in (self.steps | {"total": self.last - self.started}).items()}


def is_image_type(content_type: str) -> bool:
    return content_type in ("", "application/octet-stream") or content_type.startswith("image/")


def is_video_type(content_type: str) -> bool:
    return content_type in ("", "application/octet-stream") or content_type.startswith("video/")


@cache
def shipped_cards() -> list[dict[str, Any]]:
    return [model_card(name) for name in list_pretrained()]


def upload_body(media_type: str, field: str, description: str) -> dict[str, Any]:
    """The OpenAPI description of a body these routes read themselves (raw, or multipart file parts)."""
    binary = {"type": "string", "format": "binary"}
    items = {"type": "array", "items": binary} if field == "images" else binary
    return {"requestBody": {"required": True, "description": description, "content": {
        media_type: {"schema": binary},
        "multipart/form-data": {"schema": {"type": "object", "properties": {field: items}}},
    }}}


class Service:
    """What the routes share: the ``Segmenter`` of each TTA mode, the worker pool, the video jobs, the limits.

    ``segmenter`` serves its own mode; one for each other mode is built from it at the first request that asks
    for that mode (its ONNX graph, with the views in one batch, exported once and cached), then shared as well.
    """

    def __init__(self, config: ServeConfig, segmenter: Segmenter | None = None) -> None:
        self.config = config
        self.segmenter = segmenter or Segmenter(config.weights, size=config.size, threshold=config.threshold,
                                                threads=config.threads)
        self.segmenters = {self.segmenter.tta: self.segmenter}
        self.building = threading.Lock()
        self.pool = WorkerPool(config.workers, config.queue)
        self.videos = VideoJobs(self.segmenter_for)
        self.max_body, self.max_pixels = int(config.max_body_mb * MB), int(config.max_megapixels * MB)
        weights = self.segmenter.weights_path
        self.model = {"name": weights.stem, "architecture": self.segmenter.info["model"],
                      "version": hashlib.sha256(weights.read_bytes()).hexdigest()[:12],
                      "epochs": self.segmenter.info.get("epochs"), "input_size": self.segmenter.size,
                      "package": __version__}
        warm_up(self.segmenter)

    def segmenter_for(self, tta: str) -> Segmenter:
        """The shared segmenter of mode ``tta``, built (and warmed up) by the first request that needs it."""
        segmenter = self.segmenters.get(tta)
        if segmenter is None:
            with self.building:  # one build per mode, while the requests of the modes already built go on
                segmenter = self.segmenters.get(tta)
                if segmenter is None:
                    segmenter = self.segmenters[tta] = warm_up(self.segmenter.with_tta(tta))
        return segmenter

    def segment_one(self, data: bytes, name: str, fmt: str, overlay: bool, tta: str, clock: Clock) -> Response:
        """In a worker: decode, segment and encode one image."""
        clock.lap("queue")
        segmenter = self.segmenter_for(tta)
        image = decode_image(data, name, self.max_pixels)
        clock.lap("decode")
        prediction = segmenter.predict_batch([image])[0]
        clock.lap("inference")
        if fmt == "json":
            summary = describe(prediction)
            clock.lap("encode")
            content = {"model": self.model, "threshold": segmenter.threshold, "tta": tta} | summary
            return Response(json.dumps(content | {"timing_ms": clock.ms()}), media_type="application/json")
        body = overlay_png(image, prediction) if overlay else ENCODERS[fmt](prediction)
        clock.lap("encode")
        return Response(body, media_type="image/png", headers={
            "X-Model": self.model["name"], "X-Threshold": str(segmenter.threshold), "X-TTA": tta,
            "Server-Timing": ", ".join(f"{step};dur={ms}" for step, ms in clock.ms().items())})

    def segment_many(self, uploads: list[tuple[bytes, str]], tta: str, clock: Clock) -> dict[str, Any]:
        """In a worker: several images in one batch; the JSON summary of each."""
        clock.lap("queue")
        segmenter = self.segmenter_for(tta)
        images = [decode_image(data, name, self.max_pixels) for data, name in uploads]
        clock.lap("decode")
        predictions = segmenter.predict_batch(images)
        clock.lap("inference")
        results = [{"name": name} | describe(p) for (_, name), p in zip(uploads, predictions)]
        clock.lap("encode")
        return {"model": self.model, "threshold": segmenter.threshold, "tta": tta, "images": results,
                "timing_ms": clock.ms()}

    def close(self) -> None:
        self.pool.shutdown()
        self.videos.close()


def warm_up(segmenter: Segmenter) -> Segmenter:
    """``segmenter`` after its slow first run, so that no request waits for that."""
    segmenter.predict_batch([np.zeros((64, 64, 3), np.uint8)])
    return segmenter


def create_app(config: ServeConfig, segmenter: Segmenter | None = None) -> FastAPI:
    """The service around ``segmenter`` (default: one built from ``config``); ``app.state.service`` holds it."""
    service = Service(config, segmenter)
    pool, videos = service.pool, service.videos
    page = resources.files("microaunet.serve").joinpath("page.html").read_text(encoding="utf-8")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(title="microaunet", version=__version__, lifespan=lifespan,
                  description=f"Polyp segmentation with {service.model['name']} ({service.model['architecture']}). "
                              "Send an image as the request body or as a multipart file part.")
    app.state.service = service

    @app.exception_handler(RequestError)
    async def refused(_: Request, e: RequestError) -> JSONResponse:
        return JSONResponse({"detail": e.message}, e.status, e.headers)

    async def authorised(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        given = credentials.credentials if credentials else ""
        if config.token and not hmac.compare_digest(given.encode(), config.token.encode()):
            raise RequestError(401, "this service needs its token: send 'Authorization: Bearer <token>'",
                               {"WWW-Authenticate": "Bearer"})

    # The page and the docs are static and open, since a browser loads them without a header; /v1 is guarded.
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return page

    @app.get("/health", summary="liveness, the model served, and the requests in progress")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": service.model["name"], "in_progress": pool.admitted,
                "capacity": pool.capacity}

    api = APIRouter(prefix="/v1", dependencies=[Depends(authorised)])

    @api.get("/models", summary="the model served, and the shipped weights with their model cards")
    def models() -> dict[str, Any]:
        return {"serving": service.model | {"threshold": service.segmenter.threshold}, "shipped": shipped_cards()}

    @api.post("/segment", summary="segment one image: the mask (PNG), its probability (PNG), the overlay or JSON",
              openapi_extra=upload_body("image/*", "image", "one JPEG, PNG, TIFF or BMP image"),
              response_class=Response, responses={200: {"content": {"image/png": {}, "application/json": {}}}})
    async def segment(
        request: Request,
        format: Annotated[Literal["png", "json", "probability"], Query(
            description="png: the binary mask at the image's size (1-bit PNG); probability: the probability as "
                        "8-bit gray (>= 128 is the mask); json: area, components, the mask as RLE, timing")] = "png",
        overlay: Annotated[bool, Query(description="return the image with the mask drawn over it (PNG)")] = False,
        tta: TTAQuery = "none",
    ) -> Response:
        if overlay and format != "png":
            raise RequestError(400, "overlay=1 returns an image: leave format at png")
        requested_tta(tta)
        clock = Clock()
        with pool.admit():
            uploads = await read_uploads(request, service.max_body, BytesIO, is_image_type)
            if len(uploads) > 1:
                raise RequestError(400, f"/v1/segment takes one image, got {len(uploads)}: use /v1/segment/batch")
            clock.lap("upload")
            return await pool.run(service.segment_one, uploads[0].sink.getvalue(), uploads[0].name, format, overlay,
                                  tta, clock)

    @api.post("/segment/batch", summary="segment several images in one call (multipart file parts): JSON for each",
              openapi_extra=upload_body("image/*", "images", f"up to {MAX_BATCH} images as multipart file parts"))
    async def segment_batch(request: Request, tta: TTAQuery = "none") -> dict[str, Any]:
        requested_tta(tta)
        clock = Clock()
        with pool.admit():
            uploads = await read_uploads(request, service.max_body, BytesIO, is_image_type)
            if len(uploads) > MAX_BATCH:
                raise RequestError(413, f"{len(uploads)} images in one batch; the limit is {MAX_BATCH}")
            clock.lap("upload")
            return await pool.run(service.segment_many, [(u.sink.getvalue(), u.name) for u in uploads], tta, clock)

    @api.post("/segment/video", summary="segment a video frame by frame: progress as NDJSON, then the result's URL",
              openapi_extra=upload_body("video/*", "video", "one video file (mp4, avi, mov, mkv, webm)"),
              response_class=StreamingResponse, responses={200: {"content": {"application/x-ndjson": {}}}})
    async def segment_video(request: Request, tta: TTAQuery = "none") -> StreamingResponse:
        requested_tta(tta)
        job = videos.new_job()
        try:
            uploads = await read_uploads(request, int(config.max_video_mb * MB), job.open_upload, is_video_type)
            for upload in uploads:
                upload.sink.close()
            if len(uploads) > 1:
                raise RequestError(400, f"send one video, got {len(uploads)} files")
        except BaseException:
            videos.drop(job)
            raise
        events = await videos.start(job, uploads[0].name, tta)

        async def lines() -> AsyncIterator[str]:
            async for event in events:
                yield json.dumps(event) + "\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @api.get("/videos/{video_id}", summary="a processed video with its overlay (WebM)", response_class=FileResponse)
    def video(video_id: str) -> FileResponse:
        return FileResponse(videos.result(video_id), media_type=MEDIA_TYPE)

    app.include_router(api)
    return app
