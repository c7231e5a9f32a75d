"""Reads every service shares: a read-only connection, a member's row, the tier ladder's rows.

Concepts have their own modules: the catalogue of stores, programmes and tiers (`catalogue`), member
accounts and lots (`accounts`), request fingerprints (`request_hashes`), window spend
(`tier_window`); the ledger's writer is `db.ledger_writer`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, select

from loyalty.bootstrap import Context
from loyalty.db.core_tables import members, tiers
from loyalty.domain.errors import NotFound
from loyalty.services.catalogue import default_programme as default_programme  # re-exported: a common read


def read(ctx: Context) -> Connection:
    """A connection for read-only use cases.

    On SQLite it begins DEFERRED, so balance look-ups and statements do not take the write lock that
    every writer's BEGIN IMMEDIATE needs (WAL readers never block writers).
    """
    return ctx.engine.connect().execution_options(sqlite_begin="DEFERRED")


def tier_rows(conn: Connection) -> list[Row[Any]]:
    return list(conn.execute(select(tiers).order_by(tiers.c.rank)))


def member_row(conn: Connection, member_id: int) -> Row[Any]:
    row = conn.execute(select(members).where(members.c.id == member_id)).first()
    if row is None:
        raise NotFound("MEMBER_NOT_FOUND", "member {member_id} does not exist", {"member_id": member_id})
    return row
