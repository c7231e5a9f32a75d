# ruff: noqa: S608
# SQL here is assembled from our own column names and integer ids only.
"""The members a batch names, as posting them needs them, read in one statement per 20,000 members.

Their status and tier, their account (locked, in account id order, on PostgreSQL: two batches lock
their members in the same order and never deadlock) with its cached balance and debt; and what the
programme's rules may ask of a member beyond the tier: birthday, tags, registration.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection

from loyalty.db.prepared import send_sql
from loyalty.db.rows import among, is_postgres
from loyalty.db.stored_time import read_instants

IntArray = npt.NDArray[np.int64]


class MemberState(NamedTuple):
    """A member as a posting reads them (see the module docstring)."""

    status: str
    tier_id: int
    account_id: int
    balance: int
    debt: int
    # As the driver hands them back (SQLite: stored text), decoded only when asked: an import reads
    # tens of thousands of members a batch, and no rule asks yet.
    stored_birthday: Any
    stored_tags: Any
    stored_registration: Any

    @property
    def birthday(self) -> date | None:
        value = self.stored_birthday
        return date.fromisoformat(value) if isinstance(value, str) else value

    @property
    def tags(self) -> tuple[str, ...]:
        value = self.stored_tags
        return tuple(json.loads(value) if isinstance(value, str) else value or ())

    @property
    def registered_us(self) -> int:
        """When they registered, epoch microseconds."""
        return int(read_instants([self.stored_registration])[0])


def read_members(conn: Connection, member_ids: IntArray) -> dict[int, MemberState]:
    """member id -> their state; accounts locked on PostgreSQL."""
    return send_member_reads(conn, member_ids)()


def send_member_reads(conn: Connection, member_ids: IntArray) -> Callable[[], dict[int, MemberState]]:
    """`read_members`, sent now and read later (`db.prepared.send_sql`)."""
    pg = is_postgres(conn)
    lock = " ORDER BY a.id FOR UPDATE OF a" if pg else ""  # SQLite's writer holds the database
    sent = [
        send_sql(
            conn,
            "SELECT m.id, m.status, m.tier_id, a.id, a.balance, a.debt, m.birthday, m.tags, m.created_at "
            f"FROM members m JOIN accounts a ON a.member_id = m.id WHERE {condition}{lock}",
            params,
        )
        for condition, params in among("m.id", member_ids, pg)
    ]

    def read() -> dict[int, MemberState]:
        # The driver hands back each column's Python type (str, int) on both databases; an import
        # reads tens of thousands of members a batch, so each row becomes its state as it is.
        state = MemberState._make
        out: dict[int, MemberState] = {}
        for rows in sent:
            out.update({row[0]: state(row[1:]) for row in rows()})
        return out

    return read
