"""The service's settings (kept apart from the app, so that the CLI reads the defaults without FastAPI)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..deploy.pretrained import DEFAULT_PRETRAINED


@dataclass
class ServeConfig:
    weights: str = DEFAULT_PRETRAINED
    threads: int = 1  # ONNX Runtime threads per request: the pool parallelises across requests
    workers: int = field(default_factory=lambda: min(os.cpu_count() or 1, 8))  # requests segmented at once
    queue: int = 64  # requests waiting beyond those, before 503
    token: str | None = None
    max_body_mb: float = 20.0
    max_megapixels: float = 16.0
    max_video_mb: float = 200.0
    size: int = 256
    threshold: float = 0.5
