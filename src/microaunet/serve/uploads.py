"""Request bodies, read as they stream in: one raw upload, or the file parts of a multipart form.

Each file goes to a sink the caller opens (memory for images, a private temporary file for a video),
and the body is counted as it arrives, so nothing past the size limit is kept. A part's file name is
used in messages only: no path from a request is ever opened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from .errors import RequestError


@dataclass
class Upload:
    name: str  # the part's file name, or "request body" for a raw upload
    sink: BinaryIO


def _too_large(limit: int) -> RequestError:
    return RequestError(413, f"the request body is over the limit of {limit / 1e6:g} MB")


class _Parts:
    """Callbacks of python-multipart's streaming parser: each part with a file name goes to a new sink."""

    def __init__(self, boundary: bytes, open_sink: Callable[[], BinaryIO], accepts: Callable[[str], bool]) -> None:
        self.open_sink, self.accepts = open_sink, accepts
        self.uploads: list[Upload] = []
        self.headers: dict[bytes, bytes] = {}
        self.field = self.value = b""
        self.current: Upload | None = None
        self.parser = MultipartParser(boundary, {
            "on_part_begin": self.part_begin, "on_header_field": self.header_field,
            "on_header_value": self.header_value, "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished, "on_part_data": self.part_data,
        })

    def part_begin(self) -> None:
        self.headers, self.current = {}, None

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self.field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def header_end(self) -> None:
        self.headers[self.field.lower()] = self.value
        self.field = self.value = b""

    def headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        if b"filename" not in options:
            return  # a plain form field, not a file
        name = options[b"filename"].decode("utf-8", "replace") or "upload"
        content_type = parse_options_header(self.headers.get(b"content-type", b""))[0].decode("latin-1")
        if not self.accepts(content_type):
            raise RequestError(415, f"{name}: Content-Type {content_type} is not accepted here")
        self.current = Upload(name, self.open_sink())
        self.uploads.append(self.current)

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self.current:
            self.current.sink.write(data[start:end])


async def read_uploads(request: Request, limit: int, open_sink: Callable[[], BinaryIO],
                       accepts: Callable[[str], bool]) -> list[Upload]:
    """The files of the request: its body, or each file part of a ``multipart/form-data`` body, in order.

    ``accepts(content_type)`` says which Content-Types are meant for this route (415 for the others);
    whether the bytes really are what they claim is for the caller's decoder to find out.
    """
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise _too_large(limit)
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    parts = None
    if content_type == b"multipart/form-data":
        if b"boundary" not in options:
            raise RequestError(400, "the multipart body has no boundary in its Content-Type")
        parts = _Parts(options[b"boundary"], open_sink, accepts)
    elif not accepts(content_type.decode("latin-1")):
        raise RequestError(415, f"Content-Type {content_type.decode('latin-1')} is not accepted here "
                                "(send the file as the body, or as a multipart/form-data file part)")
    uploads = [] if parts else [Upload("request body", open_sink())]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise _too_large(limit)
            if parts:
                parts.parser.write(chunk)
            else:
                uploads[0].sink.write(chunk)
        if parts:
            parts.parser.finalize()
    except MultipartParseError as e:
        raise RequestError(400, f"the multipart body is malformed ({e})") from None
    if parts:
        uploads = parts.uploads
        if not uploads:
            raise RequestError(400, "the multipart body has no file part (e.g. curl -F image=@frame.jpg)")
    return uploads
