"""``microaunet predict``: masks and overlays for an image, a folder of images, or a video.

For videos, four threads joined by bounded queues share the work so that the slowest stage sets the pace
(OpenCV, ONNX Runtime and PyAV release the GIL while they work): decoding and resizing to the model's input;
inference; resizing the probabilities back, thresholding and drawing the overlay into the frame itself;
encoding. Frames stay in OpenCV's BGR order from decoder to encoder (only the small model input is turned to
RGB). Every frame is segmented (no frame skipping). The overlay video is H.264 in MP4, which browsers play,
through PyAV (``pip install "microaunet[video]"``, x264's ultrafast preset: 2.5x faster than veryfast for
a 1.4x larger file) or an OpenCV build with an H.264 encoder; without either it is MPEG-4 Part 2 (mp4v),
which desktop players play and browsers do not.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..data.io import IMAGE_EXTENSIONS, DataError, read_image
from ..progress import Progress, progress
from .drawing import overlay
from .segmenter import Segmenter, preprocess

# ffmpeg (inside OpenCV) prints its own lines about a corrupt file ("moov atom not found") before the one-line
# error this module gives; OpenCV reads the level when it first opens a video, and a user's own setting stays
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".m4v")
VIDEO_CONTAINERS = ("mp4", "webm")  # of the overlay video: H.264 (or mp4v) MP4, or VP8 WebM


def _write_rgb(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise DataError(f"{path}: could not write the file")


class _PyAVWriter:
    """H.264 (libx264, yuv420p) in an MP4 whose index comes first, so that a browser plays it as it loads."""

    codec = "h264"

    def __init__(self, path: Path, fps: float, width: int, height: int) -> None:
        import av

        self.av = av
        self.container = av.open(str(path), "w", options={"movflags": "+faststart"})
        self.stream = self.container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        self.stream.width, self.stream.height = width + width % 2, height + height % 2  # yuv420p: even sizes
        self.stream.pix_fmt = "yuv420p"
        # ultrafast: 5 ms a 720p frame on the 2-core EPYC, veryfast 12 ms (which alone capped predict near 80
        # frames/s); the file is about 1.4x larger at the same quality setting
        self.stream.options = {"preset": "ultrafast", "crf": "23"}
        self.stream.thread_count = 1  # one encoding thread beside the pipeline's own: no oversubscription

    def write(self, rgb: np.ndarray) -> None:
        self._encode(rgb, "rgb24")

    def write_bgr(self, bgr: np.ndarray) -> None:
        self._encode(bgr, "bgr24")

    def _encode(self, image: np.ndarray, pixel_format: str) -> None:
        if image.shape[0] % 2 or image.shape[1] % 2:
            image = np.pad(image, ((0, image.shape[0] % 2), (0, image.shape[1] % 2), (0, 0)), mode="edge")
        for packet in self.stream.encode(self.av.VideoFrame.from_ndarray(image, format=pixel_format)):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():  # flush the encoder's delayed frames
            self.container.mux(packet)
        self.container.close()


class _OpenCVWriter:
    def __init__(self, writer: cv2.VideoWriter, codec: str) -> None:
        self.writer, self.codec = writer, codec

    def write(self, rgb: np.ndarray) -> None:
        self.writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def write_bgr(self, bgr: np.ndarray) -> None:
        self.writer.write(bgr)

    def close(self) -> None:
        self.writer.release()


def open_video_writer(path: Path, fps: float, width: int, height: int) -> _PyAVWriter | _OpenCVWriter:
    """A writer for ``path`` (``.write(rgb)``, ``.write_bgr(bgr)``, ``.close()``, ``.codec``). A .webm is VP8
    through OpenCV, which every browser plays and OpenCV's wheels can write. An MP4 is H.264 through PyAV, or
    through OpenCV where its build has the encoder, else mp4v with a note on stderr."""
    if path.suffix == ".webm":
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"VP80"), fps, (width, height))
        if not writer.isOpened():
            raise DataError(f"{path}: cannot open a video writer")
        return _OpenCVWriter(writer, "vp8")
    try:
        import av

        if "libx264" in av.codecs_available:
            return _PyAVWriter(path, fps, width, height)
    except ImportError:
        pass
    logging = cv2.utils.logging
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)  # a build without the encoder logs its failure to open one
    try:
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"avc1"), fps, (width, height))
    finally:
        logging.setLogLevel(level)
    if writer.isOpened():
        return _OpenCVWriter(writer, "h264")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise DataError(f"{path}: cannot open a video writer")
    print(f"note: {path.name} is written as MPEG-4 Part 2 (mp4v), which browsers do not play: no H.264 encoder "
          "here; pip install 'microaunet[video]' (PyAV) adds one", file=sys.stderr)
    return _OpenCVWriter(writer, "mp4v")


def predict_images(segmenter: Segmenter, paths: list[Path], out: Path) -> dict[str, Any]:
    (out / "masks").mkdir(parents=True, exist_ok=True)
    (out / "overlays").mkdir(parents=True, exist_ok=True)
    errors, done = [], 0
    t0 = time.perf_counter()
    for path in progress(paths, "predict", "images"):
        try:
            image = read_image(path)
        except DataError as e:
            errors.append(str(e))
            continue
        pred = segmenter.predict(image)
        cv2.imwrite(str(out / "masks" / f"{path.stem}.png"), pred.mask.astype(np.uint8) * 255)
        _write_rgb(out / "overlays" / f"{path.stem}.png", overlay(image, pred.mask))
        done += 1
    seconds = time.perf_counter() - t0
    return {"images": done, "errors": errors, "seconds": round(seconds, 3),
            "images_per_s": round(done / seconds, 1) if seconds else None, "out": str(out)}


VIDEO_RESIZES = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR}
STAGES = ("decode", "resize", "infer", "resize_back", "overlay", "encode")


class _Stages:
    """Seconds spent in each stage of the video pipeline (summed over its frames), and when frames leave it."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self.done: list[float] = []  # perf_counter() at which each frame was encoded

    def timed(self, stage: str, fn: Callable[..., Any], *args: Any) -> Any:
        t0 = time.perf_counter()
        value = fn(*args)
        self.seconds[stage] += time.perf_counter() - t0
        return value

    def steady_fps(self) -> float | None:
        """Frames per second between the 10th and the 90th percentile of the frames (no start-up, no drain)."""
        n = len(self.done)
        first, last = n // 10, n - 1 - n // 10
        if last - first < 2 or self.done[last] <= self.done[first]:
            return None
        return (last - first) / (self.done[last] - self.done[first])


def model_input(frame_bgr: np.ndarray, size: int, interpolation: int) -> np.ndarray:
    """A decoded BGR frame -> the (3, size, size) normalised float32 input (resized first: the colour order
    swap, which commutes with the resize, then touches only the small image)."""
    small = cv2.resize(frame_bgr, (size, size), interpolation=interpolation)
    return preprocess([cv2.cvtColor(small, cv2.COLOR_BGR2RGB)], size)[0]


def predict_video(segmenter: Segmenter, path: Path, out: Path, save_masks: bool = False, batch_size: int = 4,
                  container: str = "mp4", on_progress: Callable[[int, int | None], None] | None = None,
                  resize: str = "area", started: float | None = None) -> dict[str, Any]:
    """The overlay video (and optionally one mask per frame) in ``out``, as ``container`` (see
    :func:`open_video_writer`); ``on_progress(done, total)`` after each batch. ``resize``: how frames are resized
    to the model's input, ``area`` (OpenCV's INTER_AREA, as in training) or ``linear`` (INTER_LINEAR, 5x cheaper
    at 720p; its Dice cost is in results/speed.md). ``started``: the ``time.perf_counter()`` at which the run
    began (e.g. before the model was loaded), for ``fps_whole_run``; default: this call's start.

    The result has ``fps`` (the steady rate: frames between the 10th and 90th percentile over their time),
    ``fps_whole_run`` (all frames over the whole run, start-up and drain included) and ``stage_ms``: the mean
    milliseconds a frame spends in each stage (each stage runs in its own thread, so the pace is the slowest
    stage, or the CPU time of all stages over the cores)."""
    started = time.perf_counter() if started is None else started
    if resize not in VIDEO_RESIZES:
        raise ValueError(f"resize must be one of {', '.join(VIDEO_RESIZES)}, got {resize!r}")
    interpolation = VIDEO_RESIZES[resize]
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise DataError(f"{path}: cannot open the video (unsupported or corrupt file)")
    ok, first = capture.read()
    if not ok:
        raise DataError(f"{path}: no frame could be decoded (an empty, truncated or corrupt video)")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    height, width = first.shape[:2]
    out.mkdir(parents=True, exist_ok=True)
    video_out = out / f"{path.stem}_overlay.{container}"
    writer = open_video_writer(video_out, fps, width, height)
    if save_masks:
        (out / "masks").mkdir(exist_ok=True)
    depth = 4 * batch_size
    frames: queue.Queue = queue.Queue(maxsize=depth)
    results: queue.Queue = queue.Queue(maxsize=depth)
    drawn: queue.Queue = queue.Queue(maxsize=depth)
    failure: list[BaseException] = []
    stages = _Stages()

    def read() -> None:  # decode, and resize for the model
        frame = first
        try:
            while frame is not None:
                frames.put((frame, stages.timed("resize", model_input, frame, segmenter.size, interpolation)))
                ok, frame = stages.timed("decode", capture.read)
                frame = frame if ok else None
        finally:
            frames.put(None)

    def draw() -> None:  # back to the frame's size, threshold, overlay into the frame
        index = 0
        try:
            while (item := results.get()) is not None:
                frame, probability = item
                mask = stages.timed("resize_back", segmenter.mask_at_image_size, probability, height, width)
                stages.timed("overlay", overlay, frame, mask, 0.35, True, True)
                if save_masks:
                    cv2.imwrite(str(out / "masks" / f"{path.stem}_{index:06d}.png"), mask)
                drawn.put(frame)
                index += 1
        except BaseException as e:  # report in the main thread
            failure.append(e)
            _drain(results)
        finally:
            drawn.put(None)

    def encode() -> None:
        try:
            while (frame := drawn.get()) is not None:
                stages.timed("encode", writer.write_bgr, frame)
                stages.done.append(time.perf_counter())
        except BaseException as e:  # report in the main thread
            failure.append(e)
            _drain(drawn)

    threads = [threading.Thread(target=fn, daemon=True) for fn in (read, draw, encode)]
    for t in threads:
        t.start()
    n = 0
    t0 = time.perf_counter()
    with Progress(total, path.name, "frames") as bar:
        done = False
        while not done:
            batch = []
            while len(batch) < batch_size:
                item = frames.get()
                if item is None:
                    done = True
                    break
                batch.append(item)
            if batch:
                probabilities = stages.timed("infer", segmenter.probabilities, np.stack([x for _, x in batch]))
                for (frame, _), probability in zip(batch, probabilities):
                    results.put((frame, probability))
            n += len(batch)
            bar.update(len(batch), fps=f"{n / (time.perf_counter() - t0):.1f}")
            if on_progress:
                on_progress(n, total)
    results.put(None)
    for t in threads:
        t.join()
    writer.close()
    capture.release()
    seconds = time.perf_counter() - started
    if failure:
        raise DataError(f"{video_out}: writing failed ({failure[0]})")
    steady = stages.steady_fps()
    return {"frames": n, "seconds": round(seconds, 3), "fps": round(steady or n / seconds, 1),
            "fps_whole_run": round(n / seconds, 1), "size": [width, height], "resize": resize,
            "stage_ms": {k: round(1000 * v / max(n, 1), 3) for k, v in stages.seconds.items()},
            "video": str(video_out), "codec": writer.codec, "masks": str(out / "masks") if save_masks else None}


def _drain(q: queue.Queue) -> None:
    """Take items until the end marker, so that the stage feeding ``q`` never blocks on a full queue."""
    while q.get() is not None:
        pass


def predict_path(segmenter: Segmenter, source: Path, out: Path, save_masks: bool = False, resize: str = "area",
                 started: float | None = None) -> dict[str, Any]:
    """Dispatch on what ``source`` is: a folder of images, one image, or a video (``resize`` and ``started``: as
    for :func:`predict_video`)."""
    if source.is_dir():
        paths = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not paths:
            raise DataError(f"{source}: no images ({', '.join(IMAGE_EXTENSIONS)}) in this folder")
        return predict_images(segmenter, paths, out)
    if not source.is_file():
        raise DataError(f"{source}: no such file or folder")
    suffix = source.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return predict_video(segmenter, source, out, save_masks, resize=resize, started=started)
    if suffix in IMAGE_EXTENSIONS:
        result = predict_images(segmenter, [source], out)
        if result["errors"]:
            raise DataError(result["errors"][0])
        return result
    raise DataError(f"{source}: unsupported file type '{suffix}' (images: {', '.join(IMAGE_EXTENSIONS)}; "
                    f"videos: {', '.join(VIDEO_EXTENSIONS)})")
