"""An app behind a real uvicorn server on a free TCP port of 127.0.0.1, for tests that need a socket
(a browser, many concurrent clients) rather than the in-process test client."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import uvicorn

from loyalty.api.server import uvicorn_config


def free_port() -> int:
    """A TCP port of 127.0.0.1 nothing listens on now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serve(app: Any, *, start_within: float = 20, trusted_proxies: Sequence[str] = ()) -> Iterator[str]:
    """Run `app` in a server thread; the block gets its base URL and the server stops after it.

    The server is configured as `loyalty serve` configures it (`uvicorn_config`), proxies included.
    """
    port = free_port()
    config = uvicorn_config(app, "127.0.0.1", port, trusted_proxies=trusted_proxies, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_within
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
