"""The one error type of the service: a status code and a one-line message naming the problem."""

from __future__ import annotations


class RequestError(Exception):
    """A request the service refuses; answered as ``{"detail": message}`` with ``status``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers
