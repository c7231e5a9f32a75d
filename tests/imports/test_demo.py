"""`make demo` in miniature: `loyalty demo` on a free port reaches a serving, populated instance."""

from __future__ import annotations

import json
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
from sqlalchemy import func, select, text

from loyalty.db.analytics_tables import member_scores
from loyalty.db.engine import make_engine
from loyalty.demo.chain import DEMO_CASHIER, DEMO_LOGINS, DEMO_PASSWORD, DEMO_TIERS, DEMO_USER
from loyalty.demo.programme import DEMO_TIER_SERVICES

#: how the console's header names each role (English: the suite runs with LOYALTY_LOCALE=en)
ROLE_TITLES = {
    "admin": "Administrator",
    "marketer": "Marketer",
    "store_manager": "Store manager",
    "cashier": "Cashier",
    "analyst": "Analyst",
    "auditor": "Auditor",
}


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def _console_login(browser: httpx.Client, username: str) -> None:
    csrf = _csrf(browser.get("/console/login").text)
    login = browser.post(
        "/console/login", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": csrf}
    )
    assert login.status_code == 303, login.text[:500]


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
        assert f" {DEMO_USER} " in login, login  # the admin comes first
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
        services = {t["code"]: [s["code"] for s in t["services"]] for t in ladder.json()}
        assert services == {"normal": [], **DEMO_TIER_SERVICES}  # the cashier's badges: 钻石 → VIP lane
        # the console's and the portal's addresses are printed, and a login for each role works there
        assert f"http://127.0.0.1:{port}/console" in output
        assert f"http://127.0.0.1:{port}/m" in output
        first_store = "SH01"  # the chain's first shop (S001, the programme's default store, stays empty)
        for login in DEMO_LOGINS:
            row = next((line for line in output.splitlines() if f"│ {login.username} " in line), "")
            assert DEMO_PASSWORD in row, (login, output)
            assert (first_store if login.first_store else "all") in row, row
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as browser:
                _console_login(browser, login.username)
                home = browser.get("/console")
                assert home.status_code == 200, (login, home.text[:300])
                assert f"{login.username} · {ROLE_TITLES[login.role]}" in home.text, login
        assert DEMO_CASHIER in {login.username for login in DEMO_LOGINS}
        # the jobs and the analytics ran: members are scored, so the analytics pages have figures
        engine = make_engine(env["LOYALTY_DATABASE_URL"])
        try:
            with engine.connect() as conn:
                assert conn.execute(select(func.count()).select_from(member_scores)).scalar_one() > 0
                ran = conn.execute(text("SELECT kind, status, actor_name FROM jobs ORDER BY id")).all()
                open_flags = text("SELECT count(*) FROM anomaly_flags WHERE status = 'open'")
                flags = conn.execute(open_flags).scalar_one()
                coupons = conn.execute(text("SELECT count(*) FROM coupons")).scalar_one()
                promoted = conn.execute(
                    text("SELECT count(*) FROM coupon_uses WHERE coupon_id IS NULL")
                ).scalar_one()
                ordered = conn.execute(text("SELECT count(*) FROM reward_orders")).scalar_one()
                streaks = conn.execute(
                    text(
                        "SELECT count(*) FROM purchase_line_rules e JOIN earning_rules r ON r.id = e.rule_id "
                        "WHERE r.code = 'four-weeks-running'"
                    )
                ).scalar_one()
                planned = conn.execute(
                    text("SELECT metric, chain_target FROM target_plans WHERE superseded_at IS NULL")
                ).all()
                regions = conn.execute(
                    text("SELECT count(*) FROM stores WHERE region IS NOT NULL")
                ).scalar_one()
                used = conn.execute(
                    text("SELECT count(*) FROM coupon_uses WHERE purchase_id IS NOT NULL")
                ).scalar_one()
                rated = conn.execute(
                    text(
                        "SELECT count(*), min(f.rating), max(f.rating), "
                        "sum(CASE WHEN f.member_id = p.member_id AND f.store_id = p.store_id "
                        "THEN 0 ELSE 1 END) FROM feedback f JOIN purchases p ON p.id = f.purchase_id"
                    )
                ).one()
            assert coupons > 0  # `loyalty.demo.coupons`: issued to RFM segments …
            assert used > 0  # … and some used since
            assert promoted > 0  # the chain-wide 满减 promotion on the campaign's sales
            assert ordered > 0  # `loyalty.demo.rewards`: members ordered rewards with their points
            assert streaks > 0  # `loyalty.demo.programme.DEMO_STREAK`: regulars' fourth weeks in a row
            # `loyalty.demo.targets`: this month's sales targets, the stores in regions, for the tracking page
            assert [(m, t > 0) for m, t in planned] == [("sales", True)]
            assert regions == 8
            assert flags > 0  # `loyalty.demo.fraud` planted some, and the scan found them
            # `loyalty.demo.feedback`: members rated a share of their recent purchases (their own sales,
            # at the sale's store), so the dashboard shows satisfaction
            count, low, high, strangers = rated
            assert count > 0, rated
            assert 1 <= low <= high <= 5, rated
            assert strangers == 0, rated
            # recorded as jobs, so the console's jobs page lists them
            assert [tuple(r) for r in ran] == [
                ("points_expiry", "done", "demo"),
                ("tier_evaluation", "done", "demo"),
                ("analytics_refresh", "done", "demo"),
                ("member_clusters", "done", "demo"),  # the clusters page and member pages have clusters
                ("recommendations", "done", "demo"),  # the member pages show recommendations
                ("churn_model", "done", "demo"),  # the churn page and member pages show churn risk
                ("basket_rules", "done", "demo"),  # the basket page shows stored rules
                ("anomaly_scan", "done", "demo"),  # fraud planted and scanned: the review queue has flags
            ]
        finally:
            engine.dispose()
        # a member signs in to the portal with the printed phone and the code the outbox command shows
        phone = re.search(r"sign in with the phone (\S+)", output)
        assert phone, output
        outbox_cmd = next(line.strip() for line in output.splitlines() if "members outbox --phone" in line)
        assert outbox_cmd == f"loyalty members outbox --phone {phone.group(1)}"
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as mobile:
            csrf = _csrf(mobile.get("/m/login").text)
            asked = mobile.post("/m/login", data={"phone": phone.group(1), "csrf_token": csrf})
            assert asked.status_code == 200, asked.text[:300]
            shown = subprocess.run(
                [sys.executable, "-m", "loyalty.cli", *outbox_cmd.split()[1:]],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout
            code = re.search(r"\b(\d{6})\b", json.loads(shown)[0]["body"])  # the newest message
            assert code, shown
            verify = {"phone": phone.group(1), "code": code.group(1), "csrf_token": _csrf(asked.text)}
            assert mobile.post("/m/login/verify", data=verify).status_code == 303
            card = mobile.get("/m")
            assert card.status_code == 200
            assert 'id="points-available"' in card.text
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
