"""`POST /api/v1/programme/simulations` on both backends: a draft replayed over past days answers
its points beside what the sales earned, writes nothing, and names the bad field or day."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from loyalty.db.programme_tables import earning_rules
from tests.api.api_world import World

URL = "/api/v1/programme/simulations"
DRAFT = [{"code": "all-x2", "name": "全场双倍", "kind": "multiplier", "multiplier_pct": 200}]


def _rules(world: World) -> int:
    with world.ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(earning_rules)).scalar_one())


def test_a_marketer_replays_a_draft_and_nothing_is_written(world: World) -> None:
    today = world.ctx.now().date()
    before = _rules(world)
    body = {"rules": DRAFT, "from": str(today - timedelta(days=400)), "to": str(today - timedelta(days=320))}
    answer = world.client.post(URL, json=body, headers=world.as_("marketer"))
    assert answer.status_code == 200, answer.text
    sim = answer.json()
    assert sim["sales"] == sum(d["sales"] for d in sim["days"])
    assert sim["points_actual"] == sum(d["points_actual"] for d in sim["days"])
    if sim["sales"]:  # the world's sales of that time: doubled where the base gave anything
        assert sim["points_draft"] >= sim["points_actual"]
    assert [r["code"] for r in sim["rules"]] == ["all-x2"]
    assert _rules(world) == before
    cashier = world.client.post(URL, json=body, headers=world.as_("cashier"))
    assert cashier.status_code == 403
    bad = world.client.post(
        URL,
        json={**body, "rules": [{"code": "x", "kind": "multiplier", "multiplier_pct": 5}]},
        headers=world.as_("admin"),
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"].startswith("rules[0]")
    future = world.client.post(
        URL, json={**body, "to": str(today + timedelta(days=2))}, headers=world.as_("admin")
    )
    assert (future.status_code, future.json()["errors"][0]["field"]) == (422, "to")
