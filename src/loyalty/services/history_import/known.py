"""What an import's validation must know about the database, read once into Arrow tables.

Each table is read on the driver's own cursor: a million members through SQLAlchemy's row objects
cost seconds of an import.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, Select, select

from loyalty.db.core_tables import members, programmes, purchases, returns, stores
from loyalty.db.imports_tables import imported_balances

STORES = pa.schema([("code", pa.string()), ("id", pa.int64()), ("timezone", pa.string())])


def _to_arrow(conn: Connection, stmt: Select[Any], schema: pa.Schema) -> pa.Table:
    """The rows of a parameterless `stmt` as an Arrow table of `schema`."""
    cur = conn.connection.cursor()
    try:
        cur.execute(str(stmt.compile(dialect=conn.dialect)))
        rows = cur.fetchall()
    finally:
        cur.close()
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    return pa.table([pa.array(list(c), f.type) for c, f in zip(cols, schema, strict=True)], schema=schema)


def programme_currency(conn: Connection) -> str | None:
    """The programme's currency (None before `loyalty programme init`)."""
    currency: str | None = conn.execute(
        select(programmes.c.currency).order_by(programmes.c.id).limit(1)
    ).scalar()
    return currency


def store_codes(conn: Connection) -> pa.Table:
    """Every store: code, id, timezone."""
    return _to_arrow(conn, select(stores.c.code, stores.c.id, stores.c.timezone), STORES)


def member_keys(conn: Connection, schema: pa.Schema) -> pa.Table:
    """Every member by the keys a file may name them with: id, card_no, phone, member_code."""
    return _to_arrow(
        conn, select(members.c.id, members.c.card_no, members.c.phone, members.c.member_code), schema
    )


def posted_orders(conn: Connection, schema: pa.Schema) -> pa.Table:
    """Every posted sale: store_id, order_id, id, member_id, total_minor, refunded_minor."""
    columns = ("store_id", "order_id", "id", "member_id", "total_minor", "refunded_minor")
    return _to_arrow(conn, select(*(purchases.c[name] for name in columns)), schema)


def posted_returns(conn: Connection, schema: pa.Schema) -> pa.Table:
    """Every posted return: store_id, return_id."""
    return _to_arrow(conn, select(returns.c.store_id, returns.c.return_id), schema)


def granted_balances(conn: Connection, schema: pa.Schema) -> pa.Table:
    """Every opening balance granted by an import: member_id, source_key."""
    return _to_arrow(conn, select(imported_balances.c.member_id, imported_balances.c.source_key), schema)
