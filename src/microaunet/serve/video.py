"""Videos segmented server-side, one at a time, with ``predict``'s video pipeline.

The upload goes to a private temporary folder (the service's only disk writes), and the overlay video
is written there as WebM (VP8): the OpenCV of the pip wheels writes no H.264, and browsers play VP8.
The last ``keep`` results are kept for download under random ids, the older ones deleted, and the
folder is removed when the service stops.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, BinaryIO

from ..data.io import DataError
from ..deploy.predict import predict_video
from ..deploy.segmenter import Segmenter
from .errors import RequestError

CONTAINER, MEDIA_TYPE = "webm", "video/webm"
Event = dict[str, Any]


class VideoJob:
    """One upload's own folder, and the events of its processing: progress, then the result or an error."""

    def __init__(self, root: Path) -> None:
        self.folder = Path(tempfile.mkdtemp(dir=root))
        self.upload = self.folder / "upload"
        self.events: asyncio.Queue[Event] = asyncio.Queue()

    def open_upload(self) -> BinaryIO:
        return self.upload.open("wb")


class VideoJobs:
    """``segmenter_for(tta)``: the segmenter of each test-time augmentation mode."""

    def __init__(self, segmenter_for: Callable[[str], Segmenter], keep: int = 4) -> None:
        self.segmenter_for, self.keep = segmenter_for, keep
        self.root = Path(tempfile.mkdtemp(prefix="microaunet-serve-"))
        self.results: OrderedDict[str, Path] = OrderedDict()
        self.busy = False
        self.lock = threading.Lock()  # results and busy change in the processing thread too

    def new_job(self) -> VideoJob:
        with self.lock:
            if self.busy:
                raise RequestError(503, "a video is being processed; retry when it is done", {"Retry-After": "5"})
            self.busy = True
        return VideoJob(self.root)

    def drop(self, job: VideoJob) -> None:
        """A job that never started (its upload was refused)."""
        shutil.rmtree(job.folder, ignore_errors=True)
        with self.lock:
            self.busy = False

    async def start(self, job: VideoJob, name: str, tta: str = "none") -> AsyncIterator[Event]:
        """Process the upload in a thread; 400 if it is no readable video, else its events as they come."""
        loop = asyncio.get_running_loop()

        def emit(event: Event) -> None:
            loop.call_soon_threadsafe(job.events.put_nowait, event)

        threading.Thread(target=self._process, args=(job, name, tta, emit), daemon=True).start()
        first = await job.events.get()
        if "error" in first:
            raise RequestError(400, first["error"])
        return self._relay(job, first)

    @staticmethod
    async def _relay(job: VideoJob, event: Event) -> AsyncIterator[Event]:
        yield event
        while "progress" in event:
            event = await job.events.get()
            yield event

    def _process(self, job: VideoJob, name: str, tta: str, emit: Callable[[Event], None]) -> None:
        try:
            result = predict_video(self.segmenter_for(tta), job.upload, job.folder, container=CONTAINER,
                                   on_progress=lambda done, total: emit({"progress": {"frames": done, "total": total}}))
            video_id = uuid.uuid4().hex
            with self.lock:
                self.results[video_id] = Path(shutil.move(result["video"], self.root / f"{video_id}.{CONTAINER}"))
                while len(self.results) > self.keep:
                    self.results.popitem(last=False)[1].unlink(missing_ok=True)
            emit({"done": {"video": f"/v1/videos/{video_id}", "media_type": MEDIA_TYPE, "frames": result["frames"],
                           "fps": result["fps"], "seconds": result["seconds"], "size": result["size"], "tta": tta}})
        except DataError as e:  # its message names the temporary files: name the upload instead
            emit({"error": str(e).replace(str(job.upload), name).replace(str(job.folder), name)})
        except Exception as e:  # a streamed response can no longer change its status: say it in the stream
            emit({"error": f"{name}: processing failed ({type(e).__name__}: {e})"})
        finally:
            self.drop(job)

    def result(self, video_id: str) -> Path:
        with self.lock:
            path = self.results.get(video_id)
        if path is None:
            raise RequestError(404, f"no video {video_id!r} here (the last {self.keep} results are kept)")
        return path

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
