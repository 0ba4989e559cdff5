"""A bounded pool: ``workers`` requests are segmented at once, ``queue`` more wait, the rest get 503 at once.

Admission is counted on the event loop's thread (no lock needed) and covers a request from before its
body is read until its response is built, so memory is bounded by (workers + queue) request bodies,
however many clients connect. Inference runs in the pool's threads: ONNX Runtime and OpenCV release
the GIL, and the one ONNX Runtime session is shared (its ``run`` is thread-safe).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from .errors import RequestError

T = TypeVar("T")
RETRY_AFTER_S = 1


class WorkerPool:
    def __init__(self, workers: int, queue: int) -> None:
        if workers < 1 or queue < 0:
            raise ValueError(f"workers must be at least 1 and queue at least 0, got {workers} and {queue}")
        self.capacity = workers + queue
        self.admitted = 0
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="microaunet-serve")

    @contextmanager
    def admit(self) -> Iterator[None]:
        if self.admitted >= self.capacity:
            raise RequestError(503, f"the service is at capacity ({self.capacity} requests in progress or queued); "
                                    f"retry in {RETRY_AFTER_S} s", {"Retry-After": str(RETRY_AFTER_S)})
        self.admitted += 1
        try:
            yield
        finally:
            self.admitted -= 1

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
