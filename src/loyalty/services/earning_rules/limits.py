"""Rule limits at posting time: the entries of limited rules cut to the room left, the room stored.

The engine gives what the rules say (`domain.programme.engine.earn`); this step reads what limited
rules already gave under the keys the sale counts against (locked: `db.rule_usage`), cuts each entry
in posting order (`domain.programme.limits.clamp`) and adds what was given, in the posting's
transaction. A quote reads the same usage without a lock and writes nothing.
"""

from __future__ import annotations

from sqlalchemy import Connection

from loyalty.db.rule_usage import Key, add_usage, send_usage
from loyalty.domain.programme.engine import Earned, Lines, Sales
from loyalty.domain.programme.limits import UsageKey, clamp, limited_keys


def _db_key(key: UsageKey) -> Key:
    code, programme, kind, subject, period = key
    return (programme, code, kind, subject, period)


def within_limits(
    conn: Connection, earned: Earned, sales: Sales, lines: Lines, *, write: bool = True
) -> Earned:
    """`earned` with its limited rules' entries cut to what their limits leave; with `write`, the
    usage locked and updated in `conn`'s transaction."""
    keys = limited_keys(earned, sales, lines)
    if not keys:
        return earned
    stored = send_usage(conn, [_db_key(k) for k in keys], lock=write)()
    used = {key: stored.get(_db_key(key), 0) for key in keys}
    clamped, added = clamp(earned, sales, lines, used)
    if write and added:
        add_usage(conn, {_db_key(k): v for k, v in added.items()})
    return clamped
