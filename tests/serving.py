"""Helpers of the serve tests: a synthetic Kvasir-SEG-like image, and an app served by uvicorn in a thread."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import cv2
import numpy as np
from PIL import Image

from microaunet.data.synthetic import synthetic_pair


def kvasir_like(seed: int = 0, size: tuple[int, int] = (720, 576)) -> np.ndarray:
    """A synthetic polyp frame at a Kvasir-SEG size (width, height)."""
    image, _ = synthetic_pair(np.random.default_rng(seed), 256)
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)


def encode(image: np.ndarray, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, fmt)
    return buffer.getvalue()


def decode(data: bytes) -> np.ndarray:
    """An image's array; a 1-bit mask as 0 and 255."""
    image = Image.open(io.BytesIO(data))
    return np.asarray(image.convert("L") if image.mode == "1" else image)


@contextmanager
def running(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn on a free loopback port in a background thread; yields its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
