"""``microaunet serve``: a local HTTP inference service, with a web page, around one shared ``Segmenter``.

Routes: ``POST /v1/segment`` (one image: the mask or probability as PNG, the overlay, or a JSON
summary), ``POST /v1/segment/batch``, ``POST /v1/segment/video`` (streamed progress, then the overlay
video at ``GET /v1/videos/{id}``), ``GET /v1/models``, ``GET /health``, the page at ``/`` and the
OpenAPI docs at ``/docs``. Built on FastAPI (its validation and generated OpenAPI docs) and uvicorn.
"""

from .config import ServeConfig

__all__ = ["ServeConfig"]
