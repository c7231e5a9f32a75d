"""Run the API under uvicorn (`loyalty serve`, `make demo`, the benchmark)."""

from __future__ import annotations

import errno
import os
import socket
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

_URL_ENV = "LOYALTY_SERVE_DATABASE_URL"


class PortUnavailable(Exception):
    """The server cannot listen on host:port: another process holds it, or the address is not usable."""

    def __init__(self, host: str, port: int, reason: str, *, in_use: bool) -> None:
        super().__init__(f"{host}:{port}: {reason}")
        self.host, self.port, self.reason, self.in_use = host, port, reason, in_use


def check_port(host: str, port: int) -> None:
    """Raise `PortUnavailable` unless a server could listen on host:port right now.

    Binds a socket the way uvicorn does (SO_REUSEADDR, so a port left in TIME_WAIT by a stopped server
    counts as free) and closes it again. Commands call it before any slow work, so a busy port is
    reported in one line up front instead of as uvicorn's bind error once everything else is done.
    """
    try:
        bound_socket(host, port).close()
    except OSError as exc:  # socket.gaierror (unknown host name) is an OSError too
        reason = exc.strerror or str(exc)
        raise PortUnavailable(host, port, reason, in_use=exc.errno == errno.EADDRINUSE) from exc
    except OverflowError as exc:  # a port outside 0-65535
        raise PortUnavailable(host, port, str(exc), in_use=False) from exc


def bound_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket bound to host:port as uvicorn binds one (SO_REUSEADDR, so a port left in TIME_WAIT
    by a stopped server counts as free); with `reuse_port`, other processes of the same user may bind
    the port beside it (SO_REUSEPORT, `worker_processes`)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def app_from_env() -> FastAPI:
    """App factory for worker processes: each builds its own engine from the URL in the environment."""
    from loyalty.api.app import context_from_url, create_app

    return create_app(context_from_url(os.environ[_URL_ENV]))


def proxy_options(trusted_proxies: Sequence[str]) -> dict[str, Any]:
    """uvicorn's forwarded-header options: believe X-Forwarded-For/-Proto only from `trusted_proxies`.

    uvicorn on its own believes them from 127.0.0.1 and ::1 (or `FORWARDED_ALLOW_IPS`), so behind no
    proxy at all a client on the server's host, or anything relaying through it, could name any
    address it liked and count its login attempts against that. With no proxy configured the headers
    are ignored and the peer's address is the client's; with some, the client is the rightmost address
    in X-Forwarded-For that is not one of them (each proxy appends the address it saw).
    """
    return {"proxy_headers": bool(trusted_proxies), "forwarded_allow_ips": list(trusted_proxies)}


def uvicorn_config(
    app: Any, host: str, port: int, *, trusted_proxies: Sequence[str] = (), **options: Any
) -> uvicorn.Config:
    """The uvicorn configuration `loyalty serve` runs `app` under (the tests serve through it too)."""
    import uvicorn

    settings = {"server_header": False, **options, **proxy_options(trusted_proxies)}
    return uvicorn.Config(app, host=host, port=port, **settings)


def run(
    database_url: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    workers: int = 1,
    log_level: str = "info",
    access_log: bool = True,
    trusted_proxies: Sequence[str] | None = None,
) -> None:
    """Serve the API for `database_url` on host:port until interrupted.

    Synchronous endpoints run in uvicorn's thread pool so a slow database call never blocks the event
    loop. With `workers > 1` there are that many processes, each with its own app and engine (the only
    way past the GIL); rate-limit windows and credential caches are then per process. On Linux each
    process listens on a socket of its own, so the kernel shares the tills' long-lived connections
    evenly (`loyalty.api.worker_processes`); elsewhere they share uvicorn's one socket.
    `trusted_proxies` (default: `LOYALTY_TRUSTED_PROXIES`) are the reverse proxies whose forwarded
    headers are believed (`proxy_options`).

    Raises `PortUnavailable` before building anything when host:port cannot be listened on.
    """
    import uvicorn

    from loyalty.api.app import context_from_url, create_app
    from loyalty.api.worker_processes import WorkerProcesses, WorkerSpec, balanced_sockets_supported
    from loyalty.config import get_settings

    check_port(host, port)
    proxies = get_settings().trusted_proxies if trusted_proxies is None else tuple(trusted_proxies)
    if workers > 1 and balanced_sockets_supported():
        options = {"log_level": log_level, "access_log": access_log}
        status = WorkerProcesses(WorkerSpec(database_url, host, port, tuple(proxies), options), workers).run()
        if status:
            sys.exit(status)
        return
    common = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": access_log,
        "server_header": False,
        **proxy_options(proxies),
    }
    if workers > 1:
        os.environ[_URL_ENV] = database_url
        uvicorn.run("loyalty.api.server:app_from_env", factory=True, workers=workers, **common)
        return
    uvicorn.run(create_app(context_from_url(database_url)), **common)
