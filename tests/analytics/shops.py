"""The database a test of stored analytics (clusters, churn, recommendations, basket rules) builds its
small shop in, once a module, on SQLite and on PostgreSQL: migrated, with a frozen clock; the sales
and returns of its story, each at its moment; and what every refresh of a stored run must leave behind.

`shop_on` is the body of each module's `shop` fixture (`params=BACKENDS`), so the shops differ only in
what they sell, not in how their database is made and dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from sqlalchemy import Table, func, select

from loyalty.bootstrap import Context, FrozenClock
from loyalty.config import Settings
from loyalty.db.engine import make_engine
from loyalty.services import jobs, purchases
from loyalty.services.schemas import PurchaseIn, PurchaseLineIn, ReturnIn, ReturnLineIn
from tests.conftest import migrated_url

T = TypeVar("T")

#: a shop fixture's params: SQLite, and PostgreSQL where the tests reach one
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def shop_on(
    backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    start: datetime,
    build: Callable[[Context, FrozenClock, str], T],
    *,
    settings: Settings | None = None,
    wait: float | None = None,
) -> Iterator[T]:
    """A new database on `backend` (a file in a temporary folder `name`, or an empty PostgreSQL database
    of its own), migrated, its clock at `start`; yields `build(ctx, clock, url)`. After: the jobs
    started in it waited for (`wait` seconds at most), the engine closed."""
    with migrated_url(backend, tmp_path_factory, name) as url:
        engine = make_engine(url)
        try:
            clock = FrozenClock(start)
            extra: dict[str, Any] = {} if settings is None else {"settings": settings}
            ctx = Context(engine=engine, clock=clock, **extra)
            yield build(ctx, clock, url)
        finally:
            jobs.wait_all(timeout=wait)
            engine.dispose()


def sell_at(
    ctx: Context,
    clock: FrozenClock,
    when: datetime,
    *,
    store: int,
    order: str,
    member: int | None,
    lines: list[PurchaseLineIn],
    channel: str | None = None,
) -> None:
    """A purchase posted as made at `when` (aware), the shop's clock moved there first; `channel` left
    to the default unless given."""
    clock.now = when.astimezone(UTC)
    chosen: dict[str, Any] = {} if channel is None else {"channel": channel}
    purchases.post_purchase(
        ctx,
        PurchaseIn(
            store_id=store, order_id=order, occurred_at=clock.now, member_id=member, lines=lines, **chosen
        ),
    )


def return_at(
    ctx: Context, clock: FrozenClock, when: datetime, *, store: int, order: str, line_no: int
) -> None:
    """One unit of line `line_no` of `order` returned at `when` (aware), the clock moved there first."""
    clock.now = when.astimezone(UTC)
    purchases.post_return(
        ctx,
        ReturnIn(
            store_id=store,
            return_id=f"R-{order}",
            order_id=order,
            occurred_at=clock.now,
            lines=[ReturnLineIn(line_no=line_no, quantity=1)],
        ),
    )


def check_replaced(ctx: Context, rows: Table, runs: Table, run_id: int) -> int:
    """After a refresh: the member rows in `rows` are all of run `run_id`, while `runs` keeps the runs
    before it too; how many member rows there are."""
    with ctx.engine.connect() as conn:
        found = {r for (r,) in conn.execute(select(rows.c.run_id).distinct())}
        count = conn.execute(select(func.count()).select_from(rows)).scalar_one()
        kept = conn.execute(select(func.count()).select_from(runs)).scalar_one()
    assert found == {run_id}
    assert kept >= 2  # the runs are kept; the members' rows only for the latest
    return int(count)
