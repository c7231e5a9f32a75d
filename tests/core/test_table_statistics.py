"""The planner's statistics of the tables sales grow are taken again once such a table doubled
(`services.table_statistics`), by one server process at a time.

PostgreSQL only: SQLite plans a statement from the tables as they are when it is prepared, and the
watch does nothing there. The activity counters come from `pg_stat_user_tables` (what the sessions
flushed; `pg_stat_force_next_flush` makes the writing session flush at once).
"""

from __future__ import annotations

from sqlalchemy import text

from loyalty.bootstrap import Context
from loyalty.db.core_tables import purchases
from loyalty.db.table_statistics import MIN_CHANGES, analyze_grown
from loyalty.services import members
from loyalty.services import purchases as purchase_service
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn
from loyalty.services.seed import ProgrammeIds
from loyalty.services.table_statistics import StatisticsWatch

from .conftest import T0


def _sale(ctx: Context, programme: ProgrammeIds, phone: str) -> tuple[int, int]:
    """A member and one sale of theirs: (member id, purchase id)."""
    member = members.register_member(ctx, MemberIn(phone=phone, name="Stats"))
    sale = PurchaseIn(
        store_id=programme.store_id,
        order_id=f"STATS-{phone}",
        occurred_at=T0,
        member_id=member.id,
        currency="CNY",
        lines=[PurchaseLineIn(sku="SKU-1", category="apparel", quantity=1, unit_price_minor=10_000)],
    )
    return member.id, purchase_service.post_purchase(ctx, sale).purchase_id


def _copies(ctx: Context, purchase_id: int, count: int, tag: str) -> None:
    """`count` copies of a purchase under other order ids (`tag` tells them apart), the writer's
    statistics flushed at once."""
    copied = [c.name for c in purchases.columns if c.name not in ("id", "order_id")]
    with ctx.engine.begin() as conn:
        conn.execute(
            text(
                f"INSERT INTO purchases ({', '.join(copied)}, order_id) "
                f"SELECT {', '.join(copied)}, :tag || g FROM purchases, generate_series(1, :n) g "
                "WHERE id = :id"
            ),
            {"id": purchase_id, "n": count, "tag": f"COPY-{tag}-"},
        )
        conn.execute(text("SELECT pg_stat_force_next_flush()"))


def test_a_table_that_doubled_is_analyzed_once(ctx: Context, programme: ProgrammeIds) -> None:
    watch = StatisticsWatch(ctx)
    if ctx.engine.dialect.name != "postgresql":
        assert watch.check() == []
        return
    _, purchase_id = _sale(ctx, programme, "+8613900000881")
    watch.check()  # what earlier use of this database left to analyze
    assert watch.check() == []
    _copies(ctx, purchase_id, MIN_CHANGES - 10, "a")
    assert watch.check() == []  # too few changes to matter
    _copies(ctx, purchase_id, 20, "b")
    assert watch.check() == ["purchases"]
    with ctx.engine.connect() as conn:
        analyzed = conn.execute(
            text("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'purchases'")
        ).scalar_one()
    assert analyzed
    assert watch.check() == []  # it did not double again
    _copies(ctx, purchase_id, 500, "c")
    assert watch.check() == []  # a quarter more: not yet


def test_one_process_analyzes_at_a_time(ctx: Context, programme: ProgrammeIds) -> None:
    """A second server process looking while the first analyzes skips its look."""
    if ctx.engine.dialect.name != "postgresql":
        return
    _, purchase_id = _sale(ctx, programme, "+8613900000882")
    StatisticsWatch(ctx).check()
    _copies(ctx, purchase_id, 2 * MIN_CHANGES, "a")
    with ctx.engine.begin() as first, ctx.engine.begin() as second:
        assert analyze_grown(first) == ["purchases"]
        assert analyze_grown(second) == []  # the lock is the first one's until it commits
