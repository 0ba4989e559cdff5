"""Running the service with uvicorn."""

from __future__ import annotations

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


def serve(config: ServeConfig, host: str = "127.0.0.1", port: int = 8000, access_log: bool = False) -> None:
    """Run the service until interrupted."""
    if not is_loopback(host) and not config.token:
        warnings.warn(f"serving on {host} without a token: anyone who reaches this address can use the service",
                      stacklevel=2)
    # torch only normalises each input here; its intra-op threads would compete with the request workers
    torch.set_num_threads(1)
    uvicorn.run(create_app(config), host=host, port=port, access_log=access_log, log_level="info")
