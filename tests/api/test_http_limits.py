"""Limits that live in the HTTP layer, driven over a real socket to a real uvicorn server configured as
`loyalty serve` configures it (`loyalty.api.server.uvicorn_config`).

* Body size: a sale padded to 10 MB was read, parsed and posted. A declared length over
  `LOYALTY_API_MAX_BODY_BYTES` is now answered 413 before the body is sent, and a chunked body is cut
  off once it passes the limit, with nothing written.
* Forwarded addresses: uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise, so a
  client there could name a new address per attempt and never meet the login limit. Only proxies
  named in `LOYALTY_TRUSTED_PROXIES` are believed now.

The database does not matter here (SQLite only).
"""

from __future__ import annotations

import json
import select
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from typer.testing import CliRunner

from loyalty.api.server import proxy_options, uvicorn_config
from tests.api.api_world import World, build_world, purchase_body
from tests.api.live_server import serve

V1 = "/api/v1"
LIMIT = 1_048_576  # the default LOYALTY_API_MAX_BODY_BYTES
TEN_MB = 10 * 1024 * 1024
LOGINS = 3


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    path: Path = tmp_path_factory.mktemp("http") / "loyalty.db"
    w = build_world(f"sqlite:///{path}", rate_limits={"login": (LOGINS, 60.0), "lookup": (1000, 60.0)})
    assert w.ctx.settings.api_max_body_bytes == LIMIT
    yield w
    w.client.close()
    w.ctx.engine.dispose()


@pytest.fixture
def fresh(world: World) -> World:
    world.app.state.limiter.reset()
    return world


def _padded_sale(w: World, order: str, size: int) -> bytes:
    """A valid sale, whitespace-padded to `size` bytes (still valid JSON: it would be posted)."""
    body = purchase_body(w.store_a, w.member_a["id"], order)
    body["occurred_at"] = datetime.now(UTC).isoformat()
    text = json.dumps(body).encode()
    return text[:-1] + b" " * (size - len(text)) + b"}"


def _head(base: str, path: str, headers: dict[str, str]) -> bytes:
    host = urlsplit(base).netloc
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _connect(base: str) -> socket.socket:
    parts = urlsplit(base)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    return sock


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], Any]:
    """Status, headers and JSON body of the one response on `sock` (read until the server closes)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:  # the server closed with our unread body in its buffer
            break
        if not chunk:
            break
        data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = next(
            (
                int(v)
                for k, _, v in (h.partition(b":") for h in head.split(b"\r\n"))
                if k.lower() == b"content-length"
            ),
            None,
        )
        if length is not None and len(rest) >= length:
            break
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, json.loads(rest) if rest else None


def _not_posted(w: World, order: str) -> None:
    listed = w.client.get(f"{V1}/members/{w.member_a['id']}/purchases", headers=w.as_("admin"))
    assert order not in [p["order_id"] for p in listed.json()["items"]]


def _too_large(status: int, headers: dict[str, str], problem: Any) -> None:
    assert status == 413, problem
    assert headers["content-type"].startswith("application/problem+json")
    assert headers.get("connection") == "close"
    assert problem["code"] == "PAYLOAD_TOO_LARGE"
    assert problem["max_body_bytes"] == LIMIT
    assert "1,048,576 bytes" in problem["detail"]


def test_a_sale_declared_10_mb_long_is_refused_before_its_body_is_sent(fresh: World) -> None:
    """The server answers on the headers alone: it never waits for (or holds) the 10 MB."""
    body = _padded_sale(fresh, "big-declared", TEN_MB)
    with serve(fresh.app) as base, _connect(base) as sock:
        head = {**fresh.as_("pos"), "Content-Type": "application/json", "Content-Length": str(len(body))}
        sock.sendall(_head(base, f"{V1}/purchases", head) + body[:65536])
        # were the server reading the body, this would wait for the rest and time out
        _too_large(*_read_response(sock))
    _not_posted(fresh, "big-declared")


@pytest.mark.parametrize(
    "media_type",
    [
        "application/json",  # read by the text guard before the app
        "application/octet-stream",  # read by FastAPI itself
    ],
)
def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(fresh: World, media_type: str) -> None:
    """No length declared: counted as it arrives, refused past the limit long before its end."""
    total = 32 * TEN_MB // 10  # 32 MB on offer; the server must stop it near 1 MB
    body = _padded_sale(fresh, "big-chunked", total)
    sent = 0
    with serve(fresh.app) as base, _connect(base) as sock:
        head = {**fresh.as_("pos"), "Content-Type": media_type, "Transfer-Encoding": "chunked"}
        sock.sendall(_head(base, f"{V1}/purchases", head))
        step = 65536
        while sent < total:
            if select.select([sock], [], [], 0)[0]:  # the server has answered
                break
            piece = body[sent : sent + step]
            try:
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            except OSError:  # it closed the connection after answering
                break
            sent += len(piece)
        status, headers, problem = _read_response(sock)
    _too_large(status, headers, problem)
    assert sent < total / 2, sent  # refused mid-stream, not after reading it all
    _not_posted(fresh, "big-chunked")


def test_a_sale_within_the_limit_is_posted_as_before(fresh: World) -> None:
    body = _padded_sale(fresh, "padded-ok", LIMIT - 1024)
    with serve(fresh.app) as base, httpx.Client(base_url=base, timeout=30) as http:
        resp = http.post(
            f"{V1}/purchases", content=body, headers={**fresh.as_("pos"), "Content-Type": "application/json"}
        )
    assert resp.status_code == 201, resp.text


def _login(http: httpx.Client, forwarded_for: str) -> int:
    resp = http.post(
        f"{V1}/auth/token",
        data={"username": "admin1", "password": "wrong-password"},
        headers={"X-Forwarded-For": forwarded_for},
    )
    return resp.status_code


def test_a_forged_forwarded_for_does_not_walk_around_the_login_limit(fresh: World) -> None:
    """No proxy configured (the default): the header is ignored; the limit counts the peer."""
    with serve(fresh.app) as base, httpx.Client(base_url=base, timeout=30) as http:
        codes = [_login(http, f"198.51.100.{i}") for i in range(LOGINS + 1)]
    assert codes == [401] * LOGINS + [429], codes


def test_behind_a_configured_proxy_the_forwarded_address_is_the_client(fresh: World) -> None:
    with (
        serve(fresh.app, trusted_proxies=["127.0.0.1"]) as base,
        httpx.Client(base_url=base, timeout=30) as h,
    ):
        # each forwarded client has its own window
        assert [_login(h, f"198.51.100.{i}") for i in range(LOGINS + 1)] == [401] * (LOGINS + 1)
        # one client is limited whatever it puts in front of the address the proxy appended
        codes = [_login(h, f"203.0.113.{i}, 192.0.2.7") for i in range(LOGINS + 1)]
        assert codes == [401] * LOGINS + [429], codes
        assert _login(h, "192.0.2.8") == 401


def test_the_server_believes_forwarded_headers_only_from_the_proxies_configured() -> None:
    assert proxy_options(()) == {"proxy_headers": False, "forwarded_allow_ips": []}
    assert uvicorn_config(object(), "127.0.0.1", 8000).proxy_headers is False
    config = uvicorn_config(object(), "127.0.0.1", 8000, trusted_proxies=("10.0.0.0/8",))
    assert (config.proxy_headers, config.forwarded_allow_ips) == (True, ["10.0.0.0/8"])


def test_serve_refuses_a_trusted_proxy_that_is_no_address() -> None:
    from loyalty.cli import app

    result = CliRunner().invoke(app, ["serve", "--trusted-proxies", "10.0.0.1,proxy.local"])
    assert result.exit_code == 2, result.output
    assert "proxy.local" in result.output
