"""Several server processes on one port, each listening on a socket of its own (`loyalty serve --workers`).

Uvicorn's own workers share one listening socket, and whichever process is first to accept takes the
connection. Tills open their connections once and keep them all day, so the share a process took in
its first seconds is the share it keeps: one process saturates its core while the other idles. Here
each process binds its own socket with `SO_REUSEPORT`, and the kernel spreads new connections over
the sockets by their addresses. A small supervisor starts the processes, starts another when one
dies, stops them all on SIGINT or SIGTERM, and gives up (exit status 3, as uvicorn) when one ends by
itself before it began serving, since its replacement would fail the same way.
"""

from __future__ import annotations

import logging
import logging.config
import multiprocessing
import os
import signal
import socket
import sys
import threading
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

import uvicorn
from uvicorn.config import LOG_LEVELS, LOGGING_CONFIG, STARTUP_FAILURE

from loyalty.api.server import bound_socket

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess
    from multiprocessing.synchronize import Event

logger = logging.getLogger("uvicorn.error")

_POLL_S = 0.5
_STOP_GRACE_S = 30.0


def balanced_sockets_supported() -> bool:
    """Whether the kernel balances connections over sockets sharing a port: Linux's `SO_REUSEPORT`.

    Elsewhere the option exists with other meanings (on macOS and the BSDs the newest socket takes
    every connection), so `loyalty serve` keeps uvicorn's shared socket there.
    """
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def own_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening socket for one process that other processes of the same user may bind beside it."""
    sock = bound_socket(host, port, reuse_port=True)
    try:
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker process needs to serve: sent to it by pickling, so plain values only."""

    database_url: str
    host: str
    port: int
    trusted_proxies: tuple[str, ...]
    uvicorn_options: dict[str, Any]


class _SignallingServer(uvicorn.Server):
    """A uvicorn server that sets `ready` once it accepts connections, so the supervisor can tell a
    process that failed to start from one that died while serving."""

    def __init__(self, config: uvicorn.Config, ready: Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._ready.set()


def serve_worker(spec: WorkerSpec, ready: Event) -> None:
    """Body of one worker process: bind its own socket, build its own app and engine, serve."""
    from loyalty.api.app import context_from_url, create_app
    from loyalty.api.server import uvicorn_config

    try:
        sock = own_socket(spec.host, spec.port)
    except OSError as exc:
        logger.error("cannot listen on %s:%s: %s", spec.host, spec.port, exc)
        sys.exit(STARTUP_FAILURE)
    app = create_app(context_from_url(spec.database_url))
    options = spec.uvicorn_options
    config = uvicorn_config(app, spec.host, spec.port, trusted_proxies=spec.trusted_proxies, **options)
    _SignallingServer(config, ready).run(sockets=[sock])


@dataclass
class _Worker:
    process: BaseProcess
    ready: Event


class WorkerProcesses:
    """Run `count` worker processes for `spec` until SIGINT or SIGTERM; `run()` returns the exit status."""

    def __init__(self, spec: WorkerSpec, count: int) -> None:
        self._spec = spec
        self._count = count
        self._mp = multiprocessing.get_context("spawn")  # a fresh interpreter: no engine or thread inherited
        self._stop = threading.Event()

    def run(self) -> int:
        log_level = self._spec.uvicorn_options.get("log_level", "info")
        logging.config.dictConfig(LOGGING_CONFIG)
        logger.setLevel(LOG_LEVELS.get(str(log_level).lower(), logging.INFO))
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self._supervise()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop(self) -> None:
        """Ask `run()` to stop its workers and return (what SIGINT and SIGTERM do)."""
        self._stop.set()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stop.set()

    def _supervise(self) -> int:
        workers = [self._start() for _ in range(self._count)]
        status = 0
        try:
            while not self._stop.wait(_POLL_S):
                for index, worker in enumerate(workers):
                    if worker.process.is_alive() or self._stop.is_set():
                        continue
                    worker.process.join()
                    if _failed_to_start(worker):
                        logger.error(
                            "Worker process [%s] failed to start (exit status %s); stopping.",
                            worker.process.pid,
                            worker.process.exitcode,
                        )
                        status = STARTUP_FAILURE
                        self._stop.set()
                        break
                    logger.warning(
                        "Worker process [%s] ended (exit status %s); starting another.",
                        worker.process.pid,
                        worker.process.exitcode,
                    )
                    workers[index] = self._start()
        finally:
            _stop_all(workers)
        return status

    def _start(self) -> _Worker:
        ready = self._mp.Event()
        process = self._mp.Process(target=serve_worker, args=(self._spec, ready), name="loyalty-worker")
        process.start()
        return _Worker(process, ready)


def _failed_to_start(worker: _Worker) -> bool:
    """Whether a worker that ended did so by itself before it served: its replacement would fail the
    same way. One killed by a signal while starting (by an operator, or the kernel short of memory) is
    replaced like one that died while serving."""
    exitcode = worker.process.exitcode
    return not worker.ready.is_set() and exitcode is not None and exitcode >= 0


def _stop_all(workers: list[_Worker]) -> None:
    """SIGTERM every live worker (uvicorn finishes its open requests), then kill what outlives the grace."""
    for worker in workers:
        if worker.process.is_alive() and worker.process.pid is not None:
            os.kill(worker.process.pid, signal.SIGTERM)
    for worker in workers:
        worker.process.join(_STOP_GRACE_S)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
