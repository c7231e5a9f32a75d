"""PostgreSQL's many-rows statements (`db.unnest`): arrays written as text literals read back as sent,
and several tables' writes in one statement, foreign keys between them included."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, select, text

from loyalty.db.core_tables import idempotency_keys
from loyalty.db.engine import make_engine
from loyalty.db.migrate import upgrade
from loyalty.db.unnest import Writes, array_literal, send
from loyalty.domain.errors import IdempotencyMismatch
from loyalty.services import idempotency

pytestmark = pytest.mark.postgres

_TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=20)


@pytest.fixture(scope="module")
def conn() -> Iterator[Connection]:
    from tests.conftest import create_pg_database, drop_pg_database

    url = create_pg_database()
    try:
        engine = make_engine(url)
        upgrade(engine)
        with engine.connect() as connection:
            yield connection
        engine.dispose()
    finally:
        drop_pg_database(url)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.one_of(st.none(), _TEXT), max_size=12),
    st.lists(_TEXT, max_size=12),
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=12),
)
def test_arrays_read_back_as_sent(
    conn: Connection, texts: list[str | None], strings: list[str], ints: list[int]
) -> None:
    """Mixed columns and the two joined in one step (strings alone, ints alone) alike."""
    rows = send(conn, "SELECT %s::text[], %s::text[], %s::bigint[]", [texts, strings, ints])()
    assert rows == [(texts, strings, ints)]
    assert array_literal([]) == "{}"


def test_writes_of_several_tables_go_in_one_statement(conn: Connection) -> None:
    """A store may refer to a merchant written by another part of the same statement (foreign keys
    are checked at its end), and keys recorded so are found again."""
    at = ["2026-03-01 02:00:00+00"]
    with conn.begin():
        writes = Writes()
        store = {"id": [900_001], "merchant_id": [900_001], "code": ["S-U"], "name": ['Store "U"']}
        writes.insert("stores", {**store, "city": [None], "timezone": ["Asia/Shanghai"], "created_at": at})
        merchant = {"id": [900_001], "code": ["M-U"], "name": ["M\\U"], "currency": ["CNY"]}
        writes.insert("merchants", {**merchant, "programme_id": [None], "created_at": at})
        keys = {"scope": ["s", "s"], "key": ["a", 'b"\\'], "request_hash": ["h", "h"]}
        responses = {"response": ['{"x": 1}', "[]"], "status_code": [201, 200], "created_at": at * 2}
        writes.insert("idempotency_keys", {**keys, **responses})
        writes.send(conn)
        names = text(
            "SELECT s.name, m.name FROM stores s JOIN merchants m ON m.id = s.merchant_id WHERE s.id = 900001"
        )
        assert tuple(conn.execute(names).one()) == ('Store "U"', "M\\U")
        stored = conn.execute(select(idempotency_keys.c.key, idempotency_keys.c.response)).all()
        assert sorted(stored, key=lambda r: r[0]) == [("a", {"x": 1}), ('b"\\', [])]
        answers = idempotency.find_many(conn, [("s", "a", "h"), ("s", "zz", "h"), ("s", 'b"\\', "other")])
        assert isinstance(answers[0], idempotency.Stored)
        assert answers[0].response == {"x": 1}
        assert answers[1] is None
        assert isinstance(answers[2], IdempotencyMismatch)  # the same key with another request
        conn.rollback()


def test_additions_take_their_rows_in_key_order(conn: Connection) -> None:
    """Two transactions adding to the same rows, named in opposite orders, do not deadlock: each
    locks them in key order, so the one that waits holds none of them meanwhile. Here the racer,
    adding to (y, x), waits for x, which the first holds; the first then adds to y, which the racer
    would already hold (and the database would break the deadlock by failing one) had it gone in the
    order it was given."""
    x, y = 900_110, 900_111
    engine = conn.engine
    with engine.begin() as setup:
        setup.execute(
            text(
                "INSERT INTO merchants (id, code, name, currency, created_at) "
                "VALUES (900110, 'M-ADD', 'M', 'CNY', now());"
                "INSERT INTO accounts (id, kind, merchant_id, balance, debt, created_at) VALUES "
                "(900110, 'liability', 900110, 0, 0, now()), (900111, 'expired', 900110, 0, 0, now())"
            )
        )

    def add(c: Connection, keys: list[int], amounts: list[int]) -> None:
        writes = Writes()
        writes.add_to("accounts", {"balance": amounts, "debt": [0] * len(keys)}, "id", keys)
        writes.send(c)

    failures: list[BaseException] = []
    with engine.connect() as first, engine.connect() as racer:
        racer_pid = racer.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        racer.rollback()

        def race() -> None:
            try:
                with racer.begin():
                    add(racer, [y, x], [10, 100])
            except BaseException as exc:
                failures.append(exc)

        with first.begin():
            first.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
            add(first, [x], [1])
            thread = threading.Thread(target=race)
            thread.start()
            waiting = text(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = :pid AND wait_event_type = 'Lock'"
            )
            deadline = time.monotonic() + 10
            while not conn.execute(waiting, {"pid": racer_pid}).scalar() and time.monotonic() < deadline:
                conn.rollback()
                time.sleep(0.02)
            conn.rollback()
            add(first, [y], [1000])
        thread.join(10)
    assert not failures
    with engine.connect() as check:
        balances = dict(
            check.execute(text("SELECT id, balance FROM accounts WHERE id IN (900110, 900111)")).all()
        )
    assert balances == {x: 101, y: 1010}
    with engine.begin() as cleanup:
        cleanup.execute(
            text("DELETE FROM accounts WHERE id IN (900110, 900111); DELETE FROM merchants WHERE id = 900110")
        )
