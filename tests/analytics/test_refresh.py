"""`analytics refresh` reads core purchases/returns and writes member_scores + history, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from loyalty.analytics.store import load_transactions, refresh
from loyalty.bootstrap import Context, FrozenClock
from loyalty.db.analytics_tables import member_score_history, member_scores
from loyalty.services import members, purchases, seed
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn, ReturnIn


def _populate(engine: Engine) -> tuple[Context, list[int]]:
    start = datetime(2025, 1, 1, 10, tzinfo=UTC)
    ctx = Context(engine=engine, clock=FrozenClock(start))
    ids = seed.ensure_programme(ctx)
    rng = np.random.default_rng(3)
    member_ids = []
    for i in range(12):
        m = members.register_member(ctx, MemberIn(phone=f"+8613800138{i:03d}", name=f"M{i}"))
        member_ids.append(m.id)
        n = int(rng.integers(1, 5))
        for k in range(n):
            when = start + timedelta(days=int(rng.integers(0, 180)) if k else i)
            line = PurchaseLineIn(sku="A", quantity=1, unit_price_minor=int(rng.integers(1000, 9000)))
            purchases.post_purchase(
                ctx,
                PurchaseIn(
                    store_id=ids.store_id,
                    order_id=f"o{i}-{k}",
                    occurred_at=when,
                    lines=[line],
                    member_id=m.id,
                ),
            )
    purchases.post_return(
        ctx,
        ReturnIn(
            store_id=ids.store_id,
            return_id="r1",
            order_id="o0-0",
            occurred_at=start + timedelta(days=1),
            refund_minor=500,
        ),
    )
    return ctx, member_ids


def test_refresh_writes_scores_and_history(engine: Engine) -> None:
    _ctx, member_ids = _populate(engine)
    tx = load_transactions(engine)
    assert (tx["amount"] < 0).sum() == 1  # the return, netted against its member's spend
    now = datetime(2025, 7, 1, tzinfo=UTC)
    n = refresh(engine, now=now)
    assert n == len(member_ids)
    with engine.connect() as conn:
        rows = conn.execute(select(member_scores)).mappings().all()
        assert {r["member_id"] for r in rows} == set(member_ids)
        assert all(len(r["rfm_code"]) == 3 and r["segment"] for r in rows)
        assert all(isinstance(r["monetary_minor"], int) for r in rows)
        p = [r["p_alive"] for r in rows]
        assert all(v is None or 0.0 <= v <= 1.0 for v in p)
    refresh(engine, now=now + timedelta(days=1))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(member_scores)).scalar() == n
        assert conn.execute(select(func.count()).select_from(member_score_history)).scalar() == 2 * n


def test_transactions_are_local_business_days_and_returns_net_on_their_purchase(engine: Engine) -> None:
    _populate(engine)
    tx = load_transactions(engine)
    ret = tx[tx["amount"] < 0]
    # the ¥5 refund came a day later; it is dated at the purchase it refunds (2025-01-01 10:00 UTC),
    # in the store's zone (Asia/Shanghai: 18:00), so it nets against that day's spend
    assert ret["date"].tolist() == [pd.Timestamp("2025-01-01 18:00")]
    assert ret["amount"].tolist() == [-500.0]
    first = tx[(tx["customer_id"] == ret["customer_id"].iloc[0]) & (tx["amount"] > 0)]["date"].min()
    assert first == pd.Timestamp("2025-01-01 18:00")


def test_refresh_the_morning_after_the_last_sale_scores_clv(engine: Engine) -> None:
    """The nightly run: the last purchases were yesterday (business day); every member still gets
    P(alive) and CLV, fitted on the whole history and scored as of today."""
    _populate(engine)
    last = load_transactions(engine)["date"].max()
    morning = (last.normalize() + pd.Timedelta(days=1, hours=3)).tz_localize("Asia/Shanghai")
    refresh(engine, now=morning.to_pydatetime())
    with engine.connect() as conn:
        rows = conn.execute(select(member_scores)).mappings().all()
    assert rows
    assert all(r["p_alive"] is not None and r["clv_minor"] is not None for r in rows)


def test_refresh_keeps_no_score_about_an_erased_member(engine: Engine) -> None:
    """An erasure (services.privacy) keeps the member's purchases in the books; the next refresh
    still fits on them but writes no score about the person."""
    from loyalty.services import privacy

    ctx, member_ids = _populate(engine)
    erased = member_ids[3]
    privacy.erase_member(ctx, erased, confirm=members.get_member(ctx, erased).card_no)
    n = refresh(engine, now=datetime(2025, 7, 1, tzinfo=UTC))
    assert n == len(member_ids) - 1
    with engine.connect() as conn:
        scored = set(conn.execute(select(member_scores.c.member_id)).scalars())
    assert scored == set(member_ids) - {erased}
