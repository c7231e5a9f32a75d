"""The driver-level statement path gives the same stored values and errors as SQLAlchemy's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, DateTime, Engine, bindparam, func, insert, select
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.exc import IntegrityError

from loyalty.db.core_tables import UTCDateTime, programmes
from loyalty.db.engine import make_engine
from loyalty.db.prepared import Prepared, pipelined_transaction
from loyalty.services.posting.one_sale import _PURCHASE_BY_ORDER
from loyalty.services.seed import DEFAULT_RULES

_INSERT = Prepared(insert(programmes).returning(programmes.c.id))
_CREATED_AFTER = Prepared(
    select(func.coalesce(func.count(), 0)).where(programmes.c.created_at > bindparam("since"))
)


def _row(name: str, at: datetime) -> dict[str, object]:
    return {
        "code": name,
        "name": name,
        "currency": "CNY",
        **DEFAULT_RULES,
        "excluded_categories": [],
        "created_at": at,
    }


def test_prepared_insert_round_trips_like_sqlalchemy(engine: Engine) -> None:
    shanghai = timezone(timedelta(hours=8))
    at = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=shanghai)
    with engine.begin() as conn:
        pid = _INSERT.scalar(conn, _row("prepared", at))
        ref = conn.execute(insert(programmes).returning(programmes.c.id), _row("reference", at)).scalar_one()
        stored = dict(conn.execute(select(programmes.c.id, programmes.c.created_at)).all())
        # a literal the statement carries itself (coalesce's 0) and a typed datetime bind
        assert _CREATED_AFTER.scalar(conn, {"since": at - timedelta(seconds=1)}) == 2
        assert _CREATED_AFTER.scalar(conn, {"since": at}) == 0
    assert stored[pid] == stored[ref] == at.astimezone(UTC)


def test_prepared_errors_are_sqlalchemy_errors(engine: Engine) -> None:
    with engine.begin() as conn:
        pid = _INSERT.scalar(conn, _row("one", datetime(2026, 1, 1, tzinfo=UTC)))
        with pytest.raises(IntegrityError):
            _INSERT.run(conn, {**_row("dup", datetime(2026, 1, 1, tzinfo=UTC)), "id": pid})


def test_a_pipelined_transaction_that_fails_writes_nothing_and_leaves_its_connection_usable(
    engine: Engine,
) -> None:
    """The statements and the COMMIT travel in one pipeline (PostgreSQL); a conflict among them fails
    the commit, nothing is written, and the pooled connection is not left in an aborted transaction."""
    with engine.begin() as conn:
        pid = _INSERT.scalar(conn, _row("first", datetime(2026, 1, 1, tzinfo=UTC)))
    ids = Prepared(select(programmes.c.id).order_by(programmes.c.id))
    for _ in range(3):  # the pool hands the same connection back each time
        with engine.connect() as conn, pytest.raises(IntegrityError), pipelined_transaction(conn):  # noqa: PT012
            _INSERT.send(conn, _row("second", datetime(2026, 1, 2, tzinfo=UTC)))
            _INSERT.send(conn, {**_row("dup", datetime(2026, 1, 3, tzinfo=UTC)), "id": pid})
        with engine.connect() as conn:
            assert [r[0] for r in ids.run(conn, {})] == [pid]
    with engine.connect() as conn:
        with pipelined_transaction(conn):
            _INSERT.send(conn, _row("third", datetime(2026, 1, 4, tzinfo=UTC)))
        assert len(ids.run(conn, {})) == 2


@settings(max_examples=300, deadline=None)
@given(
    at=st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]
        ),
    )
)
def test_utc_datetime_binds_on_sqlite_what_sqlalchemy_would(at: datetime) -> None:
    """`UTCDateTime`'s own SQLite bind processor writes exactly the text SQLAlchemy's SQLite DATETIME
    writes for the same instant in UTC (what every stored row and every comparison relies on)."""
    dialect = sqlite_dialect()
    fast = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    generic = DateTime().dialect_impl(dialect).bind_processor(dialect)
    assert fast is not None
    assert generic is not None
    assert fast(at) == generic(at.astimezone(UTC).replace(tzinfo=None))
    assert fast(None) is None
    with pytest.raises(ValueError, match="naive"):
        fast(at.replace(tzinfo=None))


@pytest.mark.postgres
def test_a_statement_planned_at_each_run_is_never_kept_prepared_on_postgresql(pg_url: str) -> None:
    """The driver prepares a statement after five runs, and PostgreSQL may keep a generic plan made
    while a table was small. The order look-up of a sale is planned at each run instead: after many
    runs it is still not a prepared statement of the connection, where the same statement without
    the option is."""
    engine = make_engine(pg_url)
    kept = Prepared(_PURCHASE_BY_ORDER.statement)
    try:
        with engine.begin() as conn:
            for i in range(8):
                _PURCHASE_BY_ORDER.run(conn, {"store_id": 1, "order_id": f"o{i}"})
            assert _PURCHASE_BY_ORDER.planned_each_run
            assert not _kept_look_ups(conn)
            for i in range(8):
                kept.run(conn, {"store_id": 1, "order_id": f"o{i}"})
            assert len(_kept_look_ups(conn)) == 1
    finally:
        engine.dispose()


def _kept_look_ups(conn: Connection) -> list[str]:
    """The connection's prepared statements that read an order's request hash (the look-up)."""
    rows = conn.exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars()
    return [s for s in rows if "request_hash" in s and "FROM purchases" in s]
