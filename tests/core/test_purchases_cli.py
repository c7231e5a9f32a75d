"""`loyalty purchases claim STORE ORDER MEMBER` and `loyalty purchases list`, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

from loyalty.bootstrap import Context
from loyalty.services import members, seed
from loyalty.services import purchases as sales
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn


def _loyalty(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The `loyalty` command in a process of its own, as a person runs it."""
    return subprocess.run(
        [sys.executable, "-m", "loyalty.cli", *args],
        env={**os.environ, "LOYALTY_DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_claim_and_list_from_the_command_line(db_url: str) -> None:
    ctx = Context.from_url(db_url)  # the real clock, as the command's
    try:
        store = seed.ensure_programme(ctx).store_id
        member = members.register_member(ctx, MemberIn(phone="13800138000", name="张三"))
        for order in ("T-1", "T-2"):
            sales.post_purchase(
                ctx,
                PurchaseIn(
                    store_id=store,
                    order_id=order,
                    occurred_at=datetime.now(UTC),
                    lines=[PurchaseLineIn(sku="A", category="coffee", quantity=2, unit_price_minor=1_250)],
                    channel="mini_program",
                ),
            )
    finally:
        ctx.engine.dispose()

    listed = _loyalty(db_url, "purchases", "list", "--anonymous", "--channel", "小程序")
    assert listed.returncode == 0, listed.stderr
    assert [p["order_id"] for p in json.loads(listed.stdout)["items"]] == ["T-2", "T-1"]

    wrong = _loyalty(db_url, "purchases", "claim", "S001", "T-1", str(member.id), "--total", "25.001")
    assert wrong.returncode == 2
    assert "--total" in wrong.stderr
    claimed = _loyalty(db_url, "purchases", "claim", "S001", "T-1", str(member.id), "--total", "25.00")
    assert claimed.returncode == 0, claimed.stderr
    result = json.loads(claimed.stdout)
    assert (result["member_id"], result["channel"], result["points_credited"]) == (
        member.id,
        "mini_program",
        25,
    )
    again = _loyalty(db_url, "purchases", "claim", str(store), "T-1", "13800138000", "--by", "phone")
    assert again.returncode == 1
    assert json.loads(again.stderr)["code"] == "PURCHASE_ALREADY_CLAIMED"
    by_phone = _loyalty(db_url, "purchases", "claim", "S001", "T-2", "13800138000", "--by", "phone")
    assert by_phone.returncode == 0, by_phone.stderr
    unknown = _loyalty(db_url, "purchases", "claim", "NOPE", "T-2", str(member.id))
    assert unknown.returncode == 2
    members_only = _loyalty(db_url, "purchases", "list", "--members")
    assert [p["member_id"] for p in json.loads(members_only.stdout)["items"]] == [member.id, member.id]
