"""The balance's expiry schedule: each business date (programme time zone) with the points expiring then.

On SQLite and PostgreSQL. The programme's zone is Asia/Shanghai (UTC+8), so a lot expiring at 17:00 UTC
expires on the *next* calendar day there: a schedule built from UTC dates would file it a day early.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from loyalty.bootstrap import Context, FrozenClock
from loyalty.services import members, points, purchases, seed
from loyalty.services.schemas import MemberIn
from tests.core.sales import food_sale


def _member(ctx: Context) -> int:
    return members.register_member(ctx, MemberIn(phone="13800138071", name="Schedule")).id


def test_schedule_groups_unspent_lots_by_business_date_in_the_programme_zone(
    ctx: Context, programme: seed.ProgrammeIds, clock: FrozenClock
) -> None:
    mid = _member(ctx)
    sid = programme.store_id
    # T0 is 2026-01-05 10:00 UTC (18:00 in Shanghai); lots expire 365 days after the sale.
    first = purchases.post_purchase(ctx, food_sale(ctx, sid, mid, "s1", 10_000))
    clock.advance(hours=2)  # 12:00 UTC, 20:00 Shanghai: the same business date
    second = purchases.post_purchase(ctx, food_sale(ctx, sid, mid, "s2", 5_000))
    clock.advance(hours=5)  # 17:00 UTC = 01:00 the next day in Shanghai
    third = purchases.post_purchase(ctx, food_sale(ctx, sid, mid, "s3", 2_000))
    assert min(first.points_earned, second.points_earned, third.points_earned) > 0

    b = points.balance(ctx, mid)
    assert b.timezone == "Asia/Shanghai"
    assert [(e.date, e.points) for e in b.expiry_schedule] == [
        (date(2027, 1, 5), first.points_earned + second.points_earned),
        (date(2027, 1, 6), third.points_earned),
    ]
    # pending lots are scheduled too (none is spendable inside the return window)
    assert b.pending == sum(e.points for e in b.expiry_schedule)


def test_schedule_shows_what_is_left_after_a_spend_and_drops_expired_lots(
    ctx: Context, programme: seed.ProgrammeIds, clock: FrozenClock
) -> None:
    mid = _member(ctx)
    sid = programme.store_id
    early = purchases.post_purchase(ctx, food_sale(ctx, sid, mid, "e1", 10_000))
    clock.advance(days=30)
    late = purchases.post_purchase(ctx, food_sale(ctx, sid, mid, "e2", 10_000))
    clock.advance(days=40)  # both past the return window
    spent = early.points_earned // 2
    points.redeem(ctx, mid, spent, store_id=sid)  # FEFO: taken from the earlier lot

    b = points.balance(ctx, mid)
    assert [(e.date, e.points) for e in b.expiry_schedule] == [
        (date(2027, 1, 5), early.points_earned - spent),
        (date(2027, 2, 4), late.points_earned),
    ]
    # the 30/60/90-day buckets and the schedule read the same lots
    later = points.balance(ctx, mid, as_of=clock.now.replace(year=2027, month=1, day=1))
    assert later.expiring_soon[0].points == early.points_earned - spent
    assert later.expiring_soon[1].points == early.points_earned - spent + late.points_earned

    # once the first date has passed, it leaves the schedule
    after = points.balance(ctx, mid, as_of=clock.now.replace(year=2027, month=1, day=20))
    assert [(e.date, e.points) for e in after.expiry_schedule] == [(date(2027, 2, 4), late.points_earned)]


def test_cli_points_balance_prints_the_schedule(
    monkeypatch: pytest.MonkeyPatch, ctx: Context, programme: seed.ProgrammeIds
) -> None:
    from typer.testing import CliRunner

    from loyalty.cli import app
    from loyalty.config import get_settings

    mid = _member(ctx)
    earned = purchases.post_purchase(ctx, food_sale(ctx, programme.store_id, mid, "c1", 10_000))
    monkeypatch.setenv("LOYALTY_DATABASE_URL", ctx.engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["points", "balance", str(mid)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["timezone"] == "Asia/Shanghai"
    assert shown["expiry_schedule"] == [{"date": "2027-01-05", "points": earned.points_earned}]
