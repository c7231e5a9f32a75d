"""March 2026 followed on 16 March at 04:00 UTC, on the chain of conftest.py, worked out by hand.

Targets (by hand): sales A ¥3,000, B ¥1,500, C ¥1,200, D ¥400; new members A 2, B 1, C 0, D 0.

Time elapsed: Shanghai is half-way through the 16th, 15.5 of 31 days (0.5000); Berlin is at 05:00,
15 + 5/24 = 15.208333 days (0.4906). Weekday means over the eight weeks 19 Jan – 15 Mar: A ¥500 on
Mondays, C ¥200 on Saturdays, B ¥300 on Sundays and ¥10 on Saturdays (its ¥80 of 28 Feb over eight);
D opened on the 10th, too late for every weekday, so its pace goes on (linear). Still to come: the
rest of Monday the 16th, then Mondays 23, 30; Saturdays 21, 28; Sundays 22, 29; Tuesdays 17, 24, 31.

    store  actual   progress  ahead    forecast                          pace gap
    A      150,000  0.5000     0.00    150,000 + ½·50,000 + 2·50,000     0
                                       = 275,000 (0.9167)
    B       90,000  0.6000   +10.94    90,000 + 2·30,000 + 2·1,000       90,000 − 150,000·15.208333/31
                                       = 152,000 (1.0133)                = 90,000 − 73,589 = 16,411
    C       40,000  0.3333   −16.67    40,000 + 2·20,000 = 80,000 (0.6667)   −20,000
    D       30,000  0.7500   +25.00    30,000 · 31 / 15.5 = 60,000 (1.5000)  +10,000
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import select

from loyalty.db.core_tables import audit_log
from loyalty.services import targets
from tests.targets.conftest import ADMIN, Chain


def _plan(chain: Chain) -> None:
    ctx = chain.ctx
    sales = {chain.a: 300_000, chain.b: 150_000, chain.c: 120_000, chain.d: 40_000}
    targets.edit_targets(ctx, "2026-03", "sales", sales, ADMIN)
    targets.edit_targets(
        ctx, "2026-03", "new_members", {chain.a: 2, chain.b: 1, chain.c: 0, chain.d: 0}, ADMIN
    )


def _row(s: targets.Standing) -> tuple[object, ...]:
    return (s.target, s.actual, s.progress, s.elapsed, s.ahead_points, s.gap, s.pace_gap, s.forecast,
            s.forecast_ratio, s.needed_per_day)  # fmt: skip


D = Decimal


def test_each_store_against_its_target_and_its_clock(chain: Chain) -> None:
    _plan(chain)
    p = targets.month_progress(chain.ctx, "2026-03")
    assert (p.month, p.currency, p.forecast_weeks, [x.metric for x in p.plans]) == (
        "2026-03", "CNY", 8, ["sales", "new_members"]
    )  # fmt: skip
    by = {s.store.id: s for s in p.stores}
    assert [(s.state, s.elapsed, s.through, s.forecast_method) for s in p.stores] == [
        ("current", D("0.5000"), date(2026, 3, 16), "weekday"),
        ("current", D("0.4906"), date(2026, 3, 16), "weekday"),
        ("current", D("0.5000"), date(2026, 3, 16), "weekday"),
        ("current", D("0.5000"), date(2026, 3, 16), "linear"),
    ]
    sales = {sid: s.standings[0] for sid, s in by.items()}
    # needed per day: what is left over the days left (15.5; Berlin 15.791667), rounded up
    assert _row(sales[chain.a]) == (300_000, 150_000, D("0.5"), D("0.5"), D("0"), 150_000, 0, 275_000,
                                    D("0.9167"), 9_678)  # fmt: skip
    assert _row(sales[chain.b]) == (150_000, 90_000, D("0.6"), D("0.4906"), D("10.94"), 60_000, 16_411,
                                    152_000, D("1.0133"), 3_800)  # fmt: skip
    assert _row(sales[chain.c]) == (120_000, 40_000, D("0.3333"), D("0.5"), D("-16.67"), 80_000, -20_000,
                                    80_000, D("0.6667"), 5_162)  # fmt: skip
    assert _row(sales[chain.d]) == (40_000, 30_000, D("0.75"), D("0.5"), D("25"), 10_000, 10_000, 60_000,
                                    D("1.5"), 646)  # fmt: skip
    # new members: m3 joined A on Tuesday 3 March, m4 B on Thursday 5 March; an eighth of a member per
    # Tuesday (three to come) and per Thursday (two) rounds to nothing more
    joined = {sid: s.standings[1] for sid, s in by.items()}
    assert [(j.target, j.actual, j.progress, j.forecast) for j in joined.values()] == [
        (2, 1, D("0.5"), 1), (1, 1, D("1"), 1), (0, 0, None, 0), (0, 0, None, 0)
    ]  # fmt: skip
    assert joined[chain.b].ahead_points == D("50.94")


def test_regions_and_the_chain_add_their_stores_up(chain: Chain) -> None:
    _plan(chain)
    p = targets.month_progress(chain.ctx, "2026-03", metrics=["sales"])
    east, west = p.regions
    assert (east.region, east.stores, west.region, west.stores) == ("East", 3, "West", 1)
    # East: A, C, D — 220,000 of 460,000, due 150,000 + 60,000 + 20,000 = 230,000 (elapsed 0.5000)
    assert _row(east.standings[0]) == (460_000, 220_000, D("0.4783"), D("0.5"), D("-2.17"), 240_000, -10_000,
                                       415_000, D("0.9022"), 15_484)  # fmt: skip
    assert _row(west.standings[0])[:8] == _row(p.stores[1].standings[0])[:8]
    # the chain: 310,000 of 610,000; due 230,000 + 73,588.71 → elapsed 303,588.71 / 610,000 = 0.4977
    assert p.chain is not None
    chain_row = _row(p.chain.standings[0])
    assert chain_row[:9] == (610_000, 310_000, D("0.5082"), D("0.4977"), D("1.05"), 300_000, 6_411, 567_000,
                             D("0.9295"))  # fmt: skip


def test_league_and_alerts(chain: Chain) -> None:
    _plan(chain)
    league = targets.league(chain.ctx, "2026-03", "sales")
    assert [(r.rank, r.store.code, r.behind) for r in league.rows] == [
        (1, "NEW", False), (2, "BER", False), (3, "S001", False), (4, "SH2", True)
    ]  # fmt: skip
    assert (league.ranked, league.currency) == (4, "CNY")
    # a store manager sees their row with its rank among all
    mine = targets.league(chain.ctx, "2026-03", "sales", store_ids={chain.c})
    assert [(r.rank, r.store.id) for r in mine.rows] == [(4, chain.c)]
    # new members: C and D have no target and are not ranked
    joined = targets.league(chain.ctx, "2026-03", "new_members")
    assert [(r.rank, r.store.code) for r in joined.rows] == [
        (1, "BER"),
        (2, "S001"),
        (None, "NEW"),
        (None, "SH2"),
    ]

    found = targets.month_alerts(chain.ctx, "2026-03")
    assert [(a.store.code, a.metric, a.kind, a.threshold) for a in found] == [
        ("S001", "new_members", "forecast", 90),  # forecast 1 of 2
        ("SH2", "sales", "behind", 10),  # 16.67 points behind
        ("SH2", "sales", "forecast", 90),  # 66.67 %
    ]
    rules = targets.set_alert_rules(chain.ctx, ADMIN, behind_points=20, forecast_pct=60)
    assert (rules.behind_points, rules.forecast_pct, rules.updated_by) == (20, 60, "staff:7")
    assert targets.alert_rules(chain.ctx) == rules
    with chain.ctx.engine.connect() as conn:
        audited = conn.execute(
            select(audit_log.c.before, audit_log.c.after).where(audit_log.c.action == "targets.alert_rules")
        ).one()
    assert audited.before == {"behind_points": 10, "forecast_pct": 90}
    assert audited.after == {"behind_points": 20, "forecast_pct": 60}
    found = targets.month_alerts(chain.ctx, "2026-03")
    assert [(a.store.code, a.metric, a.kind) for a in found] == [("S001", "new_members", "forecast")]


def test_a_store_managers_view_and_zones_at_month_end(chain: Chain) -> None:
    _plan(chain)
    mine = targets.month_progress(chain.ctx, "2026-03", store_ids={chain.b})
    assert [s.store.id for s in mine.stores] == [chain.b]
    assert ([r.region for r in mine.regions], mine.chain) == (["West"], None)
    assert [[t.store.id for t in plan.stores] for plan in mine.plans] == [[chain.b], [chain.b]]
    # 31 March 20:00 UTC: April in Shanghai (March over), 22:00 in Berlin
    chain.clock.now = datetime(2026, 3, 31, 20, 0, tzinfo=UTC)
    p = targets.month_progress(chain.ctx, "2026-03", metrics=["sales"])
    a, b = p.stores[0], p.stores[1]
    assert (a.state, a.elapsed, a.forecast_method, a.standings[0].forecast) == (
        "past",
        D("1"),
        "final",
        150_000,
    )
    # 30 days and 22 of the last one's 24 hours
    assert (b.state, b.elapsed, b.standings[0].actual) == ("current", D("0.9973"), 90_000)
    future = targets.month_progress(chain.ctx, "2026-05", metrics=["sales"])
    assert {s.state for s in future.stores} == {"future"}
    assert future.alerts == []
