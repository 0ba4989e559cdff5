"""Running the service with uvicorn."""

from __future__ import annotations

import ctypes
import ipaddress
import warnings

import torch
import uvicorn

from .app import create_app
from .config import ServeConfig


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def reuse_freed_memory() -> None:
    """Keep each request's multi-megabyte buffers in the heap, for the next request to reuse (glibc only).

    glibc hands allocations past an adaptive threshold to mmap and unmaps them when they are freed, so
    the decoded frame, its copies and its probability maps are page-faulted in again on every request
    (about a millisecond for a 720x576 frame). A fixed threshold and no trimming keep them: the memory
    stays at its peak, flat from one request to the next.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    libc.mallopt(m_mmap_threshold, 32 * 2**20)  # glibc's largest on 64-bit systems
    libc.mallopt(m_trim_threshold, 256 * 2**20)


def serve(config: ServeConfig, host: str = "127.0.0.1", port: int = 8000, access_log: bool = False) -> None:
    """Run the service until interrupted."""
    if not is_loopback(host) and not config.token:
        warnings.warn(f"serving on {host} without a token: anyone who reaches this address can use the service",
                      stacklevel=2)
    # torch only normalises each input here; its intra-op threads would compete with the request workers
    torch.set_num_threads(1)
    reuse_freed_memory()
    uvicorn.run(create_app(config), host=host, port=port, access_log=access_log, log_level="info")
