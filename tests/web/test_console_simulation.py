"""The marketer simulates draft rules on the console's rules page before saving them, on both
backends: past sales replayed (totals, rules, days, the sales changed most), nothing saved, a bad
day or rule refused beside the form."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from loyalty.db.programme_tables import earning_rules
from loyalty.services import purchases
from loyalty.services.schemas import PurchaseIn, PurchaseLineIn
from tests.api.api_world import World
from tests.web.console_client import as_

DRAFT = "rules:\n  - {code: sim-x2, name: 全场双倍, kind: multiplier, multiplier_pct: 200}\n"


def _rules(world: World) -> int:
    with world.ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(earning_rules)).scalar_one())


def test_a_marketer_simulates_a_draft_before_saving(world: World) -> None:
    at = world.ctx.now() - timedelta(days=2)
    sale = PurchaseIn(
        store_id=world.store_a,
        member_id=world.member_a["id"],
        order_id=f"SIM-{at.timestamp():.0f}",
        occurred_at=at,
        lines=[PurchaseLineIn(sku="SIM", category="apparel", quantity=1, unit_price_minor=12_300)],
    )
    purchases.post_purchase(world.ctx, sale)
    day = str(at.astimezone(world.ctx.settings.tz).date())
    marketer = as_(world.app, "marketer1")
    before = _rules(world)
    form = {"yaml": DRAFT, "action": "simulate", "replay_from": day, "replay_to": day}
    shown = marketer.post("/console/programme/rules", form)
    assert shown.status_code == 200, shown.text
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", shown.text))
    summary = re.search(
        r"(\d[\d,]*) member sales \([^)]*\) earned (\d[\d,]*) points; "
        r"these rules would have given (\d[\d,]*)",
        text,
    )
    assert summary, text[:2000]
    sales, actual, draft = (int(g.replace(",", "")) for g in summary.groups())
    assert sales > 0
    assert draft >= actual  # doubling never gives less
    assert 'id="simulation-rules"' in shown.text
    assert "sim-x2" in shown.text
    assert _rules(world) == before  # a simulation saves nothing
    bad = marketer.post("/console/programme/rules", {**form, "replay_from": "soon"})
    assert bad.status_code == 422
    assert "Enter a day such as 2026-11-01." in bad.text
    wrong = marketer.post(
        "/console/programme/rules", {**form, "yaml": "rules: [{code: x, kind: multiplier}]"}
    )
    assert wrong.status_code == 422
    assert "rules[0]" in wrong.text
