"""A busy port is said up front in one line, with how to choose another, instead of after the build.

`loyalty demo` checks the port before it builds the chain (the build takes a while) and `loyalty serve`
before it starts the server; both exit with status 1 and no traceback.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loyalty.api.server import PortUnavailable, check_port
from loyalty.db.engine import make_engine
from loyalty.db.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another server is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _loyalty(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LOYALTY_LOCALE": "en",
        "LOYALTY_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
    }
    return subprocess.run(
        [sys.executable, "-m", "loyalty.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
        timeout=120,
    )


def test_check_port_tells_a_busy_port_from_a_free_one(busy_port: int) -> None:
    with pytest.raises(PortUnavailable) as info:
        check_port("127.0.0.1", busy_port)
    assert info.value.in_use
    assert info.value.port == busy_port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = int(probe.getsockname()[1])
    check_port("127.0.0.1", free)  # nothing raised


def test_demo_says_the_port_is_busy_before_building(busy_port: int, tmp_path: Path) -> None:
    data = tmp_path / "demo-data"
    done = _loyalty(
        ["demo", "--port", str(busy_port), "--members", "50", "--months", "1", "--data-dir", str(data)],
        tmp_path,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"port {busy_port} on 127.0.0.1 is already in use (another server?): choose another, e.g. "
        f"`make demo PORT={busy_port + 1}` or `loyalty demo --port {busy_port + 1}`"
    ]
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "demo.db").exists()  # nothing was built
    assert not data.exists()


def _migrate(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    upgrade(engine)
    engine.dispose()


def test_serve_says_the_port_is_busy(busy_port: int, tmp_path: Path) -> None:
    _migrate(tmp_path)
    done = _loyalty(["serve", "--port", str(busy_port)], tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        f"port {busy_port} on 127.0.0.1 is already in use (another server?): choose another, e.g. "
        f"`loyalty serve --port {busy_port + 1}`"
    ]
    assert "Traceback" not in done.stdout + done.stderr


def test_serve_names_an_address_it_cannot_listen_on(tmp_path: Path) -> None:
    _migrate(tmp_path)
    done = _loyalty(["serve", "--host", "192.0.2.1", "--port", "8000"], tmp_path)  # TEST-NET-1
    assert done.returncode == 1, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("cannot listen on 192.0.2.1:8000 (")
    assert "`loyalty serve --port 8001`" in line


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo_passes_host_and_port() -> None:
    done = subprocess.run(
        ["make", "-n", "demo", "PORT=8123", "HOST=0.0.0.0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "loyalty demo --host 0.0.0.0 --port 8123" in done.stdout
