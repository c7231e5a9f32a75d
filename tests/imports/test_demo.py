"""`make demo` in miniature: `loyalty demo` on a free port reaches a serving, populated instance."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from loyalty.demo.chain import DEMO_CASHIER, DEMO_PASSWORD, DEMO_TIERS, DEMO_USER


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_demo_serves_a_populated_chain(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "LOYALTY_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"}
    cmd = [
        sys.executable,
        "-m",
        "loyalty.cli",
        "demo",
        "--members",
        "300",
        "--months",
        "3",
        "--port",
        str(port),
        "--data-dir",
        str(tmp_path / "data"),
    ]
    log = (tmp_path / "demo.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 120
        healthy = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    healthy = True
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        output = (tmp_path / "demo.log").read_text(errors="replace")
        assert healthy, output
        assert "points liability" in output
        # what it prints is what works: the login line, and API docs that need no network
        login = next(line for line in output.splitlines() if DEMO_PASSWORD in line)
        assert DEMO_USER in login, login
        docs = httpx.get(f"http://127.0.0.1:{port}/docs", timeout=10)
        assert docs.status_code == 200
        assert "cdn." not in docs.text, docs.text[:500]
        assert "https://" not in docs.text.split("<body")[0], docs.text[:500]
        token = httpx.post(
            f"{base}/auth/token", data={"username": DEMO_USER, "password": DEMO_PASSWORD}, timeout=10
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        stores = httpx.get(f"{base}/stores", headers=auth, timeout=10)
        assert stores.status_code == 200, stores.text
        assert {"SH01", "UR01"} <= {s["code"] for s in stores.json()}
        member = httpx.get(f"{base}/members/1", headers=auth, timeout=10)
        assert member.status_code == 200, member.text
        assert member.json()["card_no"].startswith("88")  # a generated, imported member
        ladder = httpx.get(f"{base}/tiers", headers=auth, timeout=10)
        assert ladder.status_code == 200, ladder.text
        # the café chain's own ladder, not the product default
        got = [(t["code"], t["threshold"]["amount"]) for t in ladder.json()]
        assert got == [(code, f"{Decimal(minor).scaleb(-2):.2f}") for code, _n, _r, minor, _m in DEMO_TIERS]
        # the console's address is printed, and the demo's cashier of the first store logs in there
        assert f"http://127.0.0.1:{port}/console" in output
        assert DEMO_CASHIER in output
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as browser:
            form = browser.get("/console/login").text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
            assert csrf, form[:500]
            login = browser.post(
                "/console/login",
                data={"username": DEMO_CASHIER, "password": DEMO_PASSWORD, "csrf_token": csrf.group(1)},
            )
            assert login.status_code == 303, login.text[:500]
            assert "cashier · Cashier" in browser.get("/console").text
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
