"""`loyalty serve --workers N`: each process listens on its own socket and the kernel shares the
connections between them; a worker that dies is replaced, one that cannot start stops the server, and
SIGTERM stops them all.

Uvicorn's shared socket let the first process to accept keep most of the tills' long-lived
connections; these tests look at which process holds which socket (`/proc`), so they run on Linux,
where the product uses its own sockets.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from loyalty.api.server import check_port
from loyalty.api.worker_processes import balanced_sockets_supported
from tests.api.live_server import free_port
from tests.conftest import migrated_url

pytestmark = pytest.mark.skipif(
    not balanced_sockets_supported(), reason="per-process listening sockets are used on Linux only"
)

_LISTEN, _ESTABLISHED = "0A", "01"


def _children(pid: int) -> set[int]:
    """The worker processes of the supervisor `pid` (not multiprocessing's resource tracker)."""
    found = set()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid and b"spawn_main" in command:
            found.add(int(entry.name))
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _server_sockets(port: int) -> dict[str, str]:
    """inode → state of the TCP sockets whose local port is `port` (the server's side)."""
    sockets = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                sockets[fields[9]] = fields[3]
    return sockets


def _listening_inodes(pid: int, port: int) -> set[str]:
    mine = _socket_inodes(pid)
    return {inode for inode, s in _server_sockets(port).items() if s == _LISTEN and inode in mine}


def _held(pid: int, port: int, state: str) -> int:
    """How many of the port's sockets in `state` the process holds."""
    mine = _socket_inodes(pid)
    return sum(1 for inode, s in _server_sockets(port).items() if s == state and inode in mine)


def _until(what: str, check: Callable[[], bool], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"not within {within} s: {what}"
        time.sleep(0.1)


def _health(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/api/v1/health")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


@pytest.fixture
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with migrated_url("sqlite", tmp_path_factory, "workers") as url:
        yield url


@pytest.fixture
def two_workers(database: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`loyalty serve --workers 2` on a free port, once both workers answer."""
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    env = {**os.environ, "LOYALTY_LOCALE": "en"}
    command = [sys.executable, "-m", "loyalty.cli", "serve", "--workers", "2", "--port", str(port)]
    command += ["--database-url", database, "--no-access-log"]
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        _until("two workers listen", lambda: len(_children(server.pid)) == 2 and _listening(server.pid, port))
        _until("both workers serve", lambda: _started(tmp_path / "serve.log") == 2)
        yield server, port
    finally:
        if server.poll() is None:
            server.kill()
            for child in _children(server.pid):
                os.kill(child, signal.SIGKILL)
            server.wait(30)
        log.close()
        print((tmp_path / "serve.log").read_text())  # shown when the test failed


def _started(log: Path) -> int:
    return log.read_text().count("Application startup complete.")


def _listening(pid: int, port: int) -> bool:
    return all(_held(child, port, _LISTEN) == 1 for child in _children(pid))


def test_each_worker_listens_on_its_own_socket_and_the_connections_are_shared(
    two_workers: tuple[subprocess.Popen[bytes], int],
) -> None:
    server, port = two_workers
    workers = _children(server.pid)
    listening = [_listening_inodes(worker, port) for worker in workers]
    assert [len(inodes) for inodes in listening] == [1, 1]
    assert listening[0] != listening[1]  # not one socket inherited by both
    assert _held(server.pid, port, _LISTEN) == 0  # the supervisor serves nothing itself

    # 48 tills each open a connection and keep it, as tills do all day.
    with ExitStack() as tills:
        for _ in range(48):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            tills.callback(conn.close)
            conn.request("GET", "/api/v1/health")
            response = conn.getresponse()
            response.read()
            assert response.status == 200
        held = sorted(_held(worker, port, _ESTABLISHED) for worker in workers)
    assert sum(held) == 48
    # Spread by the connections' addresses, each takes about half (fewer than 10 of 48: p < 1e-4).
    assert held[0] >= 10, held


def test_a_worker_that_dies_is_replaced_and_sigterm_stops_them_all(
    two_workers: tuple[subprocess.Popen[bytes], int], tmp_path: Path
) -> None:
    server, port = two_workers
    log = tmp_path / "serve.log"
    first = _children(server.pid)
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    _until(
        "another worker replaces the dead one",
        lambda: len(now := _children(server.pid)) == 2 and victim not in now and _listening(server.pid, port),
    )
    _until("it serves", lambda: _started(log) == 3)
    assert all(_health(port) for _ in range(10))

    workers = _children(server.pid)
    server.send_signal(signal.SIGTERM)
    assert server.wait(60) == 0
    assert not any(Path(f"/proc/{worker}").exists() for worker in workers)
    check_port("127.0.0.1", port)  # nothing listens any more


def test_a_worker_that_cannot_start_stops_the_server(database: str) -> None:
    # The port is held by a process that does not share it, so no worker can bind it: the
    # supervisor must give up with uvicorn's start-up failure status rather than restart them forever.
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        code = (
            "import sys\n"
            "from loyalty.api.worker_processes import WorkerProcesses, WorkerSpec\n"
            f"spec = WorkerSpec({database!r}, '127.0.0.1', {port}, (), {{'log_level': 'info'}})\n"
            "sys.exit(WorkerProcesses(spec, 2).run())\n"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert "failed to start" in done.stderr
    assert "starting another" not in done.stderr
