# ruff: noqa: S608
# SQL here is assembled from table/column names of our own schema and integers from NumPy arrays only;
# every value that comes from a file travels as a bound parameter or through COPY.
"""Set-based posting of a batch of purchases: the bulk import's way of running the live rules.

`post_purchase_batch` posts a whole batch of orders (columnar: one array per field) with a handful of
vectorised steps and multi-row writes, instead of a dozen statements per order:

1. Line amounts, points and eligible spend come from `domain.earning` (`line_points`, `line_eligible`,
   `lot_times`, `debt_paid`): the very functions the live `post_purchase` calls for one sale.
2. Tier upgrades happen at once, as live: each member's qualifying spend in the rolling window is
   computed at every order in posting order (existing purchases in the database plus this batch's earlier
   orders: one sort, one cumulative sum, a `searchsorted` for each window start), mapped to tiers by
   `domain.tiers.tier_index_for_spend`, and `upgrade_path` gives the tier each order earns with (a
   member's later orders in the batch earn with the new multiplier) and where `tier_history` rows go.
3. New points pay debt first (`debt_paid`, cumulated per member in posting order).
4. Rows are written with explicit ids (so earning transfer, postings and lot link without a round trip)
   by `executemany` on SQLite and `COPY` on PostgreSQL, inside the caller's transaction, so a batch and
   its import checkpoint commit together. On SQLite the earning transfers and their postings are not
   bound from Python at all: `_derive_transfers` writes them with `INSERT … SELECT` from the purchase
   rows just written (every value they hold is on the purchase or its accounts).

Anonymous orders (member id `ANONYMOUS`) are written with their lines only, as live: every step that
depends on a member runs over the members' orders (`by_member`), so they earn nothing, lock no account
and count in nobody's window. Each order's channel is written where any is not `store` (the column's
default).

Fallback: the batch is posted by the exact per-order live routine (`purchases._post_one`) instead when
it holds anything this routine does not model set-based — an invalid line, an unknown store or member,
an inactive or merged member, a member whose orders are not in time order within the batch, or an order
that already exists (replay or idempotency mismatch: detected by the unique constraint inside a
savepoint). The live routine then raises or replays exactly as it would for a POS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import chain, islice
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from loyalty.bootstrap import Context
from loyalty.db import unnest
from loyalty.db.prepared import driver_error, send_sql
from loyalty.domain.actors import Actor
from loyalty.domain.channels import DEFAULT_CHANNEL, is_default_channel
from loyalty.domain.earning import US_PER_DAY, debt_paid, line_eligible, line_points, lot_times, rule_label
from loyalty.domain.errors import NotFound
from loyalty.domain.tiers import tier_index_for_spend, upgrade_path
from loyalty.services import audit
from loyalty.services.common import ANONYMOUS_RULE, StoreInfo
from loyalty.services.schemas import PurchaseIn, PurchaseLineIn

IntArray = npt.NDArray[np.int64]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = _EPOCH.replace(tzinfo=None)  # UTC wall time, for text
_FEW_TIMES = 64
_ID_CHUNK = 20_000
# Orders up to which PostgreSQL writes a batch in one statement rather than COPY: the API's batches
_FEW_ORDERS = 256
# Bound parameters per statement: the lowest limit any SQLite has had (999 before 3.32).
_MAX_BOUND_PARAMETERS = 999


#: `OrderBatch.member_id` of an anonymous sale (ids start at 1)
ANONYMOUS = 0


@dataclass
class OrderBatch:
    """Orders in posting order; their lines contiguous, order i owning lines offsets[i]:offsets[i+1].

    An anonymous sale's member id is `ANONYMOUS` (0): it is written with its lines and nothing else.
    `channel` holds each order's channel (`domain.channels`); None means every order is a store sale.
    """

    store_id: IntArray
    order_id: pa.Array  # string
    occurred_us: IntArray  # epoch microseconds, UTC
    member_id: IntArray
    offsets: IntArray
    sku: pa.Array  # string, per line
    category: pa.Array  # string or null, per line
    quantity: IntArray
    unit_price_minor: IntArray
    discount_minor: IntArray
    currency: str | None = None
    channel: pa.Array | None = None  # string, per order

    def __len__(self) -> int:
        return len(self.store_id)

    @classmethod
    def from_items(cls, items: Sequence[PurchaseIn], currency: str | None = None) -> OrderBatch:
        """The columnar form of sales as the live path takes them (each naming its member by id, or
        none: an anonymous sale)."""
        if any(item.member_id is None and not item.anonymous for item in items):
            raise ValueError("a batch names its members by id")
        flat = [ln for item in items for ln in item.lines]
        counts = [len(item.lines) for item in items]
        channels = [item.channel for item in items]
        return cls(
            store_id=np.array([item.store_id for item in items], dtype=np.int64),
            order_id=pa.array([item.order_id for item in items], pa.string()),
            occurred_us=np.array([_us_of(item.occurred_at) for item in items], dtype=np.int64),
            member_id=np.array(
                [ANONYMOUS if item.member_id is None else item.member_id for item in items], dtype=np.int64
            ),
            offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            sku=pa.array([ln.sku for ln in flat], pa.string()),
            category=pa.array([ln.category for ln in flat], pa.string()),
            quantity=np.array([ln.quantity for ln in flat], dtype=np.int64),
            unit_price_minor=np.array([ln.unit_price_minor for ln in flat], dtype=np.int64),
            discount_minor=np.array([ln.discount_minor for ln in flat], dtype=np.int64),
            currency=currency,
            channel=None if all(map(is_default_channel, channels)) else pa.array(channels, pa.string()),
        )

    def channels(self) -> list[str]:
        """Each order's channel."""
        if self.channel is None:
            return [DEFAULT_CHANNEL] * len(self)
        out: list[str] = self.channel.to_pylist()
        return out

    def items(self) -> list[PurchaseIn]:
        """The same orders as the live path's input (for the fallback and for tests)."""
        skus = self.sku.to_pylist()
        cats = self.category.to_pylist()
        qty, price, disc = (
            self.quantity.tolist(),
            self.unit_price_minor.tolist(),
            self.discount_minor.tolist(),
        )
        out = []
        for i, (sid, oid, us, mid, channel) in enumerate(
            zip(
                self.store_id.tolist(),
                self.order_id.to_pylist(),
                self.occurred_us.tolist(),
                self.member_id.tolist(),
                self.channels(),
                strict=True,
            )
        ):
            lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
            out.append(
                PurchaseIn(
                    store_id=sid,
                    order_id=oid,
                    occurred_at=datetime.fromtimestamp(us / 1_000_000, tz=UTC).replace(
                        microsecond=us % 1_000_000
                    ),
                    member_id=None if mid == ANONYMOUS else mid,
                    channel=channel,
                    lines=[
                        PurchaseLineIn(
                            sku=skus[j],
                            category=cats[j],
                            quantity=qty[j],
                            unit_price_minor=price[j],
                            discount_minor=disc[j],
                        )
                        for j in range(lo, hi)
                    ],
                    currency=self.currency,
                )
            )
        return out


# -- helpers ---------------------------------------------------------------------------------------


def _lines_per_order(batch: OrderBatch) -> IntArray:
    counts: IntArray = np.diff(batch.offsets)
    return counts


def _sql_ts(us: IntArray, pg: bool) -> list[str]:
    """UTC text as the `UTCDateTime` column stores it on SQLite ('YYYY-MM-DD HH:MM:SS.ffffff')."""
    if len(us) <= _FEW_TIMES:  # an Arrow call costs tens of microseconds whatever the length
        suffix = "+00" if pg else ""
        return [
            (_NAIVE_EPOCH + timedelta(microseconds=v)).isoformat(" ", "microseconds") + suffix
            for v in us.tolist()
        ]
    text = pc.cast(pa.array(us, pa.timestamp("us")), pa.string())  # always with 6 fraction digits
    if pg:
        text = pc.binary_join_element_wise(text, pa.scalar("+00"), "")
    out: list[str] = text.to_pylist()
    return out


def _one_ts(at: datetime, pg: bool) -> str:
    return _sql_ts(np.array([_us_of(at)], dtype=np.int64), pg)[0]


def stored_times(times: Sequence[datetime], pg: bool) -> list[str]:
    """Aware datetimes as `UTCDateTime` columns store them, for `write_rows`."""
    return _sql_ts(np.array([_us_of(t) for t in times], dtype=np.int64), pg)


def stored_date(value: date | None) -> str | None:
    """A date as the `Date` column stores it on SQLite ('YYYY-MM-DD'), for `write_rows`; PostgreSQL
    parses the same text."""
    return value.isoformat() if value is not None else None


def _us_of(at: datetime) -> int:
    delta = at.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


# -- database access -------------------------------------------------------------------------------


def _cursor(conn: Connection) -> Any:
    return conn.connection.cursor()


def _fetch(conn: Connection, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
    return send_sql(conn, sql, params)()


def _among(column: str, ids: IntArray, pg: bool) -> Iterator[tuple[str, list[str]]]:
    """`column` is one of `ids`, in chunks: (the SQL condition, its parameters).

    PostgreSQL binds the ids as one array, so the statement's text stays the same: the driver
    converts it once, and the server plans it once per connection. SQLite lists them in the text.
    """
    for i in range(0, len(ids), _ID_CHUNK):
        chunk = ids[i : i + _ID_CHUNK].tolist()
        if pg:
            yield f"{column} = ANY(%s::bigint[])", [unnest.array_literal(chunk)]
        else:
            yield f"{column} IN ({','.join(map(str, chunk))})", []


MemberState = tuple[str, int, int, int, int]  # (status, tier_id, account_id, balance, debt)


def _members(conn: Connection, member_ids: IntArray) -> dict[int, MemberState]:
    """member id -> (status, tier_id, account_id, balance, debt); accounts locked on PostgreSQL."""
    return _send_members(conn, member_ids)()


def _send_members(conn: Connection, member_ids: IntArray) -> Callable[[], dict[int, MemberState]]:
    pg = conn.dialect.name == "postgresql"
    lock = " ORDER BY a.id FOR UPDATE OF a" if pg else ""
    sent = [
        send_sql(
            conn,
            "SELECT m.id, m.status, m.tier_id, a.id, a.balance, a.debt FROM members m "
            f"JOIN accounts a ON a.member_id = m.id WHERE {among}{lock}",
            params,
        )
        for among, params in _among("m.id", member_ids, pg)
    ]

    def read() -> dict[int, MemberState]:
        out: dict[int, MemberState] = {}
        for rows in sent:
            for mid, status, tier_id, acc, bal, debt in rows():
                out[int(mid)] = (str(status), int(tier_id), int(acc), int(bal), int(debt))
        return out

    return read


def _parse_ts(values: list[Any]) -> IntArray:
    if not values:
        return np.zeros(0, dtype=np.int64)
    if isinstance(values[0], str):
        out: IntArray = np.array(values, dtype="datetime64[us]").astype(np.int64)
        return out
    return np.array([_us_of(v) for v in values], dtype=np.int64)


def _send_existing_spend(
    conn: Connection,
    member_ids: IntArray,
    t_lo: int,
    t_hi: int,
    w_min: int,
    w_max: int,
    session: BulkSession,
) -> Callable[[], tuple[IntArray, IntArray, IntArray]]:
    """Qualifying spend already in the database that any window of the batch can see, read later
    (see `db.prepared.send_sql`).

    The events are (member_id, occurred_us, net spend). Purchases inside every window of the batch
    ((t_hi − w_min, t_lo]) come summed per member as one event at t_lo; the rest one by one. Orders an
    unbroken session posted itself come from its memory (`BulkSession.posted_spend`), so the
    database is only asked for what it held before: the read no longer grows with the import.
    The events serve any sub-batch too: its windows see no less of the summed range.
    """
    pg = conn.dialect.name == "postgresql"
    known = session.key is not None
    mine = session.posted_spend(member_ids, t_lo - w_max, t_hi) if known else None
    if mine is not None and session.before == 0:  # the database held no purchase before the session
        return lambda: mine
    edges: list[tuple[int, int]]
    if t_hi - w_min < t_lo:
        mid_lo, mid_hi = t_hi - w_min, t_lo
        edges = [(t_lo - w_max, mid_lo), (mid_hi, t_hi)]
    else:
        mid_lo = mid_hi = 0
        edges = [(t_lo - w_max, t_hi)]
    ph = "%s" if pg else "?"
    net = "total_minor - refunded_minor"
    held = f" AND id <= {int(session.before)}" if known else ""
    summed: list[Callable[[], list[Any]]] = []
    single: list[Callable[[], list[Any]]] = []
    for among, params in _among("member_id", member_ids, pg):
        if mid_hi:
            summed.append(
                send_sql(
                    conn,
                    f"SELECT member_id, sum({net}) FROM purchases WHERE {among} "
                    f"AND occurred_at > {ph} AND occurred_at <= {ph}{held} GROUP BY member_id",
                    (*params, _one_ts_us(mid_lo, pg), _one_ts_us(mid_hi, pg)),
                )
            )
        single += [
            send_sql(
                conn,
                f"SELECT member_id, occurred_at, {net} FROM purchases WHERE {among} "
                f"AND occurred_at > {ph} AND occurred_at <= {ph}{held}",
                (*params, _one_ts_us(lo, pg), _one_ts_us(hi, pg)),
            )
            for lo, hi in edges
            if hi > lo
        ]

    def read() -> tuple[IntArray, IntArray, IntArray]:
        mids: list[int] = []
        ts: list[int] = []
        vals: list[int] = []
        for sums in summed:
            rows = sums()
            mids += [int(r[0]) for r in rows]
            ts += [t_lo] * len(rows)
            vals += [int(r[1]) for r in rows]
        for each in single:
            rows = each()
            mids += [int(r[0]) for r in rows]
            ts += _parse_ts([r[1] for r in rows]).tolist()
            vals += [int(r[2]) for r in rows]
        found = (
            np.array(mids, dtype=np.int64),
            np.array(ts, dtype=np.int64),
            np.array(vals, dtype=np.int64),
        )
        if mine is None:
            return found
        m_mid, m_t, m_v = mine
        return (
            np.concatenate([found[0], m_mid]),
            np.concatenate([found[1], m_t]),
            np.concatenate([found[2], m_v]),
        )

    return read


def _one_ts_us(us: int, pg: bool) -> Any:
    if pg:
        return datetime.fromtimestamp(us // 1_000_000, tz=UTC).replace(microsecond=us % 1_000_000)
    return _sql_ts(np.array([us], dtype=np.int64), False)[0]


def next_ids(conn: Connection, table: str, n: int) -> IntArray:
    """`n` fresh primary keys for `table`: from its sequence on PostgreSQL, after max(id) on SQLite.

    SQLite: the transaction holds the database's write lock (BEGIN IMMEDIATE), so nobody else can take
    the same ids before commit.
    """
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if conn.dialect.name == "postgresql":
        rows = _fetch(
            conn,
            f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s)",
            (n,),
        )
        return np.array([r[0] for r in rows], dtype=np.int64)
    top = _fetch(conn, f"SELECT coalesce(max(id), 0) FROM {table}")[0][0]
    return np.arange(int(top) + 1, int(top) + 1 + n, dtype=np.int64)


def next_ids_for(conn: Connection, wanted: dict[str, int]) -> dict[str, IntArray]:
    """`next_ids` for several tables; on PostgreSQL in one statement (one round trip, not one a table)."""
    if conn.dialect.name != "postgresql":
        return {table: next_ids(conn, table, n) for table, n in wanted.items()}
    return _send_next_ids(conn, wanted)()


def _send_next_ids(conn: Connection, wanted: dict[str, int]) -> Callable[[], dict[str, IntArray]]:
    """PostgreSQL: `next_ids_for`, read later (see `db.prepared.send_sql`)."""
    tables = [table for table, n in wanted.items() if n > 0]
    out = {table: np.zeros(0, dtype=np.int64) for table in wanted}
    if not tables:
        return lambda: out
    sent = send_sql(
        conn,
        " UNION ALL ".join(
            f"SELECT {i}, nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s)"
            for i, table in enumerate(tables)
        ),
        [wanted[table] for table in tables],
    )

    def read() -> dict[str, IntArray]:
        rows = sent()
        for i, table in enumerate(tables):
            out[table] = np.sort(np.array([r[1] for r in rows if r[0] == i], dtype=np.int64))
        return out

    return read


def write_rows(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    constants: dict[str, int | str | None] | None = None,
    *,
    into: unnest.Writes | None = None,
) -> None:
    """Insert many rows: `executemany` on SQLite, `COPY … FROM STDIN` on PostgreSQL.

    COPY waits for the server twice per table; for a few rows PostgreSQL's rows are instead gathered
    `into` one statement with the batch's other writes (`db.unnest.Writes`, sent by the caller).

    Values must already be what the driver stores (datetimes as UTC text, see `_sql_ts`). `constants`
    are columns with one value for every row: on SQLite they are written into the statement instead of
    being bound again for each of millions of rows.
    """
    consts = constants or {}
    cols = ", ".join([*columns, *consts])
    extra = tuple(consts.values())
    pg = conn.dialect.name == "postgresql"
    if into is not None:
        data = [list(col) for col in zip(*rows, strict=True)]
        if data:
            data += [[value] * len(data[0]) for value in extra]
            into.insert(table, dict(zip((*columns, *consts), data, strict=True)))
        return
    cur = _cursor(conn)
    try:
        if pg:
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy_in:
                for row in rows:
                    copy_in.write_row((*row, *extra))
        else:
            row = "(" + ", ".join(["?" for _ in columns] + [_literal(v) for v in consts.values()]) + ")"
            _insert_many(cur, f"INSERT INTO {table} ({cols}) VALUES ", row, len(columns), rows)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise driver_error(f"bulk insert into {table}", None, exc, conn) from exc
    finally:
        cur.close()


def update_rows(
    conn: Connection,
    table: str,
    assigned: Sequence[str],
    key: str,
    rows: list[tuple[Any, ...]],
    into: unnest.Writes | None = None,
) -> None:
    """`UPDATE table SET assigned… WHERE key = …` for each row (the assigned values, then the key).

    PostgreSQL: one statement joining `unnest` of the values, or part of those gathered `into` one
    (see `write_rows`); SQLite: `executemany`.
    """
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        *values, keys = (list(col) for col in zip(*rows, strict=True))
        writes = into or unnest.Writes()
        writes.update(table, dict(zip(assigned, values, strict=True)), key, keys)
        if into is None:
            writes.send(conn)
        return
    sets = ", ".join(f"{c} = ?" for c in assigned)
    sql = f"UPDATE {table} SET {sets} WHERE {key} = ?"
    cur = _cursor(conn)
    try:
        cur.executemany(sql, rows)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise driver_error(sql, rows, exc, conn) from exc
    finally:
        cur.close()


def _insert_many(cur: Any, head: str, row: str, width: int, rows: Iterable[Sequence[Any]]) -> None:
    """SQLite: insert `rows` with multi-row VALUES statements of `_MAX_BOUND_PARAMETERS // width` rows.

    One statement step per row costs as much again as the row itself (statement reset, the driver's
    per-row loop); a hundred rows per step made the import's inserts about a third faster.
    """
    if width < 1:
        raise ValueError("at least one bound column is needed")
    per = max(1, _MAX_BOUND_PARAMETERS // width)
    source = iter(rows)
    rest: list[Any] = []

    def chunks() -> Iterator[list[Any]]:
        nonlocal rest
        while True:
            flat = list(chain.from_iterable(islice(source, per)))
            if len(flat) < per * width:
                rest = flat
                return
            yield flat

    cur.executemany(head + ", ".join([row] * per), chunks())
    if rest:
        cur.execute(head + ", ".join([row] * (len(rest) // width)), rest)


def _literal(value: int | str | None) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(int(value))
    return "'" + value.replace("'", "''") + "'"


def _derive_transfers(
    conn: Connection, pids: IntArray, tids: IntArray, post_ids: IntArray, stores: dict[int, StoreInfo]
) -> None:
    """SQLite: the earning transfers and their postings, derived in SQL from the purchases just written.

    Every value comes from the purchase row (points, member, store, order, rule, time) or its accounts,
    so nothing is bound from Python: on SQLite this is about twice as fast as inserting the same rows
    with `executemany`. Ids are the contiguous ranges `next_ids` handed out, in purchase order: the
    j-th earning purchase gets transfer tids[0] + j, whose postings are post_ids[0] + 2j (debit: the
    store's liability, −amount) and post_ids[0] + 2j + 1 (credit: the member, +amount), as live.
    """
    t0, p0 = int(tids[0]), int(post_ids[0])
    if int(tids[-1]) - t0 + 1 != len(tids) or int(post_ids[-1]) - p0 + 1 != len(post_ids):
        raise RuntimeError("transfer and posting ids must be contiguous ranges on SQLite")
    liability = " ".join(f"WHEN {int(sid)} THEN {int(st.liability_account_id)}" for sid, st in stores.items())
    # When every purchase earns (the usual batch), the j-th transfer belongs to the j-th purchase and
    # its id follows from the purchase's; numbering only the earning ones takes a window function.
    if len(tids) == len(pids) and int(pids[-1]) - int(pids[0]) + 1 == len(pids):
        tid = f"{t0 - int(pids[0])} + p.id"
    else:
        tid = f"{t0} - 1 + row_number() OVER (ORDER BY p.id)"
    cur = _cursor(conn)
    try:
        cur.execute(
            "INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, amount, member_id, "
            "purchase_id, rule, store_id, order_id, created_at) "
            f"SELECT {tid}, 'earn', CASE p.store_id {liability} END, "
            "a.id, p.points_earned, p.member_id, p.id, p.rule, p.store_id, p.order_id, p.created_at "
            "FROM purchases p JOIN accounts a ON a.member_id = p.member_id "
            f"WHERE p.id BETWEEN {int(pids[0])} AND {int(pids[-1])} AND p.points_earned > 0 ORDER BY p.id"
        )
        if cur.rowcount != len(tids):
            raise RuntimeError(f"derived {cur.rowcount} earning transfers, expected {len(tids)}")
        cur.execute(
            "INSERT INTO postings (id, transfer_id, account_id, amount, created_at) "
            f"SELECT {p0} + 2 * (t.id - {t0}) + s.k, t.id, "
            "CASE s.k WHEN 0 THEN t.debit_account_id ELSE t.credit_account_id END, "
            "CASE s.k WHEN 0 THEN -t.amount ELSE t.amount END, t.created_at "
            "FROM transfers t CROSS JOIN (SELECT 0 AS k UNION ALL SELECT 1) s "
            f"WHERE t.id BETWEEN {t0} AND {int(tids[-1])}"  # ids are explicit: no ORDER BY (sort) needed
        )
        if cur.rowcount != len(post_ids):
            raise RuntimeError(f"derived {cur.rowcount} postings, expected {len(post_ids)}")
    finally:
        cur.close()


# -- what one import run carries between its batches ----------------------------------------------


class BulkSession:
    """What a run of batches knows about the database between batches, while nobody else writes.

    On SQLite, `PRAGMA data_version` on the same connection changes exactly when another connection
    has committed; while it stays put, the members' rows this run read or wrote are still what the
    database holds, so the next batch needs no read for them. It also keeps, per member, an upper
    bound of the qualifying spend any window of the run can see (database spend since `floor` plus
    everything this run posted): a member whose bound plus the batch's spend stays below the next
    tier's threshold cannot be upgraded by the batch, so only the others need their window spend read.
    For those, the orders the session posted itself are kept in memory (member, time, total: 24 bytes
    an order), so the database is only read for what it held before the session began (purchases up
    to id `before`), and a long import does not read back its own rows.
    Any doubt (another writer, another connection, PostgreSQL, a window reaching before `floor`)
    drops what is known and reads from the database again.
    """

    def __init__(self) -> None:
        self.key: tuple[int, int, int] | None = None
        self.members: dict[int, MemberState] = {}
        self.upper: dict[int, int] | None = None
        self.floor = 0
        self.last_purchase_id = 0
        self.before = 0
        self._posted: list[tuple[IntArray, IntArray, IntArray]] = []

    def validate(self, conn: Connection) -> None:
        if conn.dialect.name != "sqlite":
            self.reset()
            return
        dbapi = conn.connection.dbapi_connection
        version = int(_fetch(conn, "PRAGMA data_version")[0][0])
        # A return posted on this very connection between batches (data_version only sees other
        # connections) would make the remembered spend stale: the newest return is part of the key.
        returned = int(_fetch(conn, "SELECT coalesce(max(id), 0) FROM returns")[0][0])
        key = (id(dbapi), version, returned)
        # ... and the previous batch of this run must have committed (not rolled back).
        top = int(_fetch(conn, "SELECT coalesce(max(id), 0) FROM purchases")[0][0])
        if key != self.key or top != self.last_purchase_id:
            self.reset()
            self.key = key
            self.before = top

    def reset(self) -> None:
        self.key = None
        self.members = {}
        self.upper = None
        self._posted = []

    def record(self, member_ids: IntArray, occurred_us: IntArray, totals: IntArray) -> None:
        """Orders the session just posted (their net spend is their total: nothing refunded yet)."""
        self._posted.append((member_ids.copy(), occurred_us.copy(), totals.copy()))

    def posted_spend(self, member_ids: IntArray, lo: int, hi: int) -> tuple[IntArray, IntArray, IntArray]:
        """Orders of `member_ids` (sorted) the session posted with lo < time <= hi, as spend events."""
        if len(self._posted) > 1:
            mids, times, totals = zip(*self._posted, strict=True)
            self._posted = [(np.concatenate(mids), np.concatenate(times), np.concatenate(totals))]
        if not self._posted:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        mid, t, v = self._posted[0]
        keep = (t > lo) & (t <= hi)
        keep[keep] = np.isin(mid[keep], member_ids)
        return mid[keep], t[keep], v[keep]

    def bounds(self, conn: Connection, floor: int) -> dict[int, int] | None:
        """Spend upper bounds per member valid for windows starting at or after `floor`."""
        if self.key is None:
            return None
        if self.upper is None or floor < self.floor:
            rows = _fetch(
                conn,
                "SELECT member_id, sum(total_minor - refunded_minor) FROM purchases "
                "WHERE occurred_at > ? AND member_id IS NOT NULL GROUP BY member_id",
                (_one_ts_us(floor, False),),
            )
            self.upper = {int(m): int(v) for m, v in rows}
            self.floor = floor
        return self.upper


# -- the routine -----------------------------------------------------------------------------------


def _members_of(batch: OrderBatch) -> tuple[npt.NDArray[np.bool_] | None, IntArray]:
    """(which orders are anonymous, None when none is; the batch's members, sorted and unique)."""
    anonymous = batch.member_id == ANONYMOUS
    if not anonymous.any():
        return None, np.unique(batch.member_id)
    return anonymous, np.unique(batch.member_id[~anonymous])


def _valid(batch: OrderBatch, amounts: IntArray) -> bool:
    counts = _lines_per_order(batch)
    if len(batch) == 0 or (counts <= 0).any():
        return False
    if (batch.quantity <= 0).any() or (batch.unit_price_minor < 0).any() or (batch.discount_minor < 0).any():
        return False
    if (amounts < 0).any():
        return False
    if pc.any(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(batch.order_id)), 0)).as_py():
        return False
    return not (pc.any(pc.is_null(batch.order_id)).as_py() or pc.any(pc.is_null(batch.sku)).as_py())


def _post_live(conn: Connection, ctx: Context, batch: OrderBatch) -> int:
    from loyalty.services import purchases as live

    cache = live._Cache(conn, ctx)
    posted = 0
    for item in batch.items():
        posted += 0 if live._post_one(conn, ctx, cache, item).replayed else 1
    return posted


def post_purchase_batch(
    conn: Connection, ctx: Context, batch: OrderBatch, session: BulkSession | None = None
) -> int:
    """Post `batch` inside the caller's transaction; return how many orders were newly posted.

    Same effect as posting the orders one by one with the live routine (see the module docstring for
    when it does exactly that instead). Successive batches of one run pass the same `session`.
    """
    if len(batch) == 0:
        return 0
    posted = post_set_based(conn, ctx, batch, session or BulkSession())
    return _post_live(conn, ctx, batch) if posted is None else len(posted.purchase_ids)


@dataclass(frozen=True)
class Posted:
    """What a set-based posting wrote, per order in batch order (what the live routine would answer)."""

    purchase_ids: IntArray
    totals: IntArray
    points: IntArray
    rules: list[str]
    available_us: IntArray  # the earned lot's times (meaningless where no points were earned)
    expires_us: IntArray
    tiers_before: list[str]  # code of the member's tier the order earned with
    tiers_after: list[str]  # and of the tier it left them in (higher where it upgraded them)


@dataclass(frozen=True)
class ReadAhead:
    """What posting `batch` set-based reads from PostgreSQL, sent before it is needed (`read_ahead`)."""

    batch: OrderBatch
    members: Callable[[], dict[int, MemberState]]  # locked, in account id order
    spend: Callable[[], tuple[IntArray, IntArray, IntArray]]  # of every member of the batch
    ids: Callable[[], dict[str, IntArray]]  # as if every order earned (unused ones are skipped)


def read_ahead(conn: Connection, ctx: Context, batch: OrderBatch) -> ReadAhead | None:
    """Send the reads of a set-based posting of `batch` (a few orders on PostgreSQL) without waiting.

    Inside a pipeline they then travel with whatever the caller sends next, and `post_set_based(…,
    ahead=…)` waits for their answers once instead of three times. Posting a batch is then a round
    trip for the reads and one for the writes with the commit (see `api.sale_batches`). None where
    there is nothing to gain (SQLite, a big batch) or the batch is not postable set-based.
    """
    if conn.dialect.name != "postgresql" or not 0 < len(batch) <= _FEW_ORDERS:
        return None
    from loyalty.services import purchases as live

    cache = live._Cache(conn, ctx)
    try:
        windows = [
            cache.store(s).programme.tier_window_days * US_PER_DAY for s in set(batch.store_id.tolist())
        ]
    except NotFound:
        return None
    umem = _members_of(batch)[1]
    t = batch.occurred_us
    n = len(batch)
    return ReadAhead(
        batch,
        _send_members(conn, umem),
        _send_existing_spend(
            conn, umem, int(t.min()), int(t.max()), min(windows), max(windows), BulkSession()
        ),
        _send_next_ids(conn, {"purchases": n, "transfers": n, "postings": 2 * n, "point_lots": n}),
    )


def post_set_based(
    conn: Connection,
    ctx: Context,
    batch: OrderBatch,
    session: BulkSession | None = None,
    request_hashes: Sequence[str] | None = None,
    *,
    ahead: ReadAhead | None = None,
    savepoint: bool = True,
    actors: Sequence[Actor] | None = None,
) -> Posted | None:
    """Post `batch` set-based inside the caller's transaction, or write nothing and return None.

    None means the batch holds something only the live routine handles (see the module docstring):
    an invalid line, an unknown store or member, an inactive member, a currency that is not the
    programme's, a member's orders out of time order, or an order already posted. `request_hashes`
    (one per order) are kept for POS replays. `actors` (one per order: POS sales) get an audit row per
    order, written with the batch's other rows; without them the caller audits the batch (an import
    records one row per batch).

    `ahead`: the batch's reads, sent before (`read_ahead`). Without a `savepoint` an order that
    already exists is not detected here: its `IntegrityError` is raised, here or when the caller's
    pipeline or transaction ends, and the caller rolls the whole transaction back.
    """
    if ahead is not None and ahead.batch is not batch:
        raise ValueError("the reads sent ahead are another batch's")
    session = session or BulkSession()
    session.validate(conn)
    amounts: IntArray = batch.quantity * batch.unit_price_minor - batch.discount_minor
    if not _valid(batch, amounts):  # an empty batch included
        return None
    from loyalty.services import purchases as live

    cache = live._Cache(conn, ctx)
    stores: dict[int, StoreInfo] = {}
    try:
        for sid in np.unique(batch.store_id).tolist():
            stores[sid] = cache.store(sid)
    except NotFound:  # unknown store: the live routine raises the proper error
        return None
    if batch.currency is not None and any(i.programme.currency != batch.currency for i in stores.values()):
        return None  # not the programme's currency: the live routine refuses it (CURRENCY_MISMATCH)
    anonymous, umem = _members_of(batch)
    known = session.members
    missing = [m for m in umem.tolist() if m not in known]
    if ahead is not None:
        known.update(ahead.members())
    elif missing or conn.dialect.name == "postgresql":
        fetched = _members(
            conn, umem if conn.dialect.name == "postgresql" else np.array(missing, dtype=np.int64)
        )
        known.update(fetched)
    info = {m: known[m] for m in umem.tolist() if m in known}
    if len(info) != len(umem) or any(v[0] != "active" for v in info.values()):
        session.reset()
        return None
    g = np.searchsorted(umem, batch.member_id)  # an anonymous order's is meaningless: never read
    # The members' orders by member, then in posting order (the anonymous ones are nobody's).
    if anonymous is None:
        by_member = np.lexsort((np.arange(len(batch)), g))
    else:
        theirs = np.nonzero(~anonymous)[0]
        by_member = theirs[np.lexsort((theirs, g[theirs]))]
    # Per member, orders must come in time order (the import sorts them so); else post one by one.
    gs, ts = g[by_member], batch.occurred_us[by_member]
    if ((gs[1:] == gs[:-1]) & (ts[1:] < ts[:-1])).any():
        return None
    guard = conn.begin_nested() if savepoint else None
    try:
        posted = _post_set_based(
            conn,
            ctx,
            cache,
            session,
            batch,
            amounts,
            stores,
            umem,
            g,
            by_member,
            info,
            request_hashes,
            ahead,
            anonymous,
            actors,
        )
    except IntegrityError:
        session.reset()
        if guard is None:
            raise
        guard.rollback()  # an order already exists: replay or mismatch, exactly as live
        return None
    except BaseException:
        session.reset()
        raise
    if guard is not None:
        guard.commit()
    return posted


def _post_set_based(
    conn: Connection,
    ctx: Context,
    cache: Any,
    session: BulkSession,
    batch: OrderBatch,
    amounts: IntArray,
    stores: dict[int, StoreInfo],
    umem: IntArray,
    g: IntArray,
    by_member: IntArray,
    info: dict[int, MemberState],
    request_hashes: Sequence[str] | None = None,
    ahead: ReadAhead | None = None,
    anonymous: npt.NDArray[np.bool_] | None = None,
    actors: Sequence[Actor] | None = None,
) -> Posted:
    """The routine of `post_set_based`. Whatever depends on a member is computed over their orders
    (`by_member`); `anonymous` orders (None: there are none) only get their rows and lines written."""
    pg = conn.dialect.name == "postgresql"
    n = len(batch)
    counts = _lines_per_order(batch)
    starts = batch.offsets[:-1]
    now = ctx.now()
    now_text = _one_ts(now, pg)

    # -- per-store programme parameters, per order -------------------------------------------------
    store_ids = sorted(stores)
    s_idx = np.searchsorted(np.array(store_ids, dtype=np.int64), batch.store_id)
    progs = [stores[s].programme for s in store_ids]
    ppu = np.array([p.points_per_unit for p in progs], dtype=np.int64)[s_idx]
    window_us = np.array([p.tier_window_days for p in progs], dtype=np.int64)[s_idx] * US_PER_DAY
    ret_days = np.array([p.return_window_days for p in progs], dtype=np.int64)[s_idx]
    exp_days = np.array([p.expiry_days for p in progs], dtype=np.int64)[s_idx]
    liability = np.array([stores[s].liability_account_id for s in store_ids], dtype=np.int64)[s_idx]
    merchant = np.array([stores[s].merchant_id for s in store_ids], dtype=np.int64)[s_idx]
    line_store = np.repeat(s_idx, counts)
    excluded = np.zeros(len(amounts), dtype=bool)
    for k, prog in enumerate(progs):
        if prog.excluded_categories:
            hit = pc.fill_null(
                pc.is_in(batch.category, value_set=pa.array(sorted(prog.excluded_categories), pa.string())),
                False,
            ).to_numpy(zero_copy_only=False)
            excluded |= hit & (line_store == k)

    # -- members' starting state ---------------------------------------------------------------------
    tier_defs = cache.tier_defs
    tier_ids = np.array([t.id for t in tier_defs], dtype=np.int64)
    tier_pos = {int(t.id): i for i, t in enumerate(tier_defs)}
    mult = np.array([cache.tiers[t.id].multiplier_pct for t in tier_defs], dtype=np.int64)
    m_tier = np.array([tier_pos[info[int(m)][1]] for m in umem], dtype=np.int64)
    m_acc = np.array([info[int(m)][2] for m in umem], dtype=np.int64)
    m_bal = np.array([info[int(m)][3] for m in umem], dtype=np.int64)
    m_debt = np.array([info[int(m)][4] for m in umem], dtype=np.int64)
    top = len(tier_defs) - 1

    # -- qualifying spend at each order, in posting order -------------------------------------------
    totals = np.add.reduceat(amounts, starts)
    t = batch.occurred_us
    g_m = g[by_member]  # each member order's member, in `by_member` order
    batch_spend = np.bincount(g_m, weights=totals[by_member], minlength=len(umem)).astype(np.int64)
    thresholds = np.array([td.threshold_minor for td in tier_defs] + [0], dtype=np.int64)
    may_climb = m_tier < top
    floor = int(t.min()) - int(window_us.max())
    upper = session.bounds(conn, floor)
    if upper is not None:
        bound = np.array([upper.get(m, 0) for m in umem.tolist()], dtype=np.int64) + batch_spend
        may_climb &= bound >= thresholds[np.minimum(m_tier + 1, top)]
    climbing = np.zeros(n, dtype=bool)
    climbing[by_member] = may_climb[g_m]
    spend = np.zeros(n, dtype=np.int64)
    if climbing.any():
        if ahead is not None:  # every member's spend was read: keep those who may climb
            e_mid, e_t, e_v = ahead.spend()
            keep = np.isin(e_mid, umem[may_climb])
            e_mid, e_t, e_v = e_mid[keep], e_t[keep], e_v[keep]
        else:
            e_mid, e_t, e_v = _send_existing_spend(
                conn,
                umem[may_climb],
                int(t.min()),
                int(t.max()),
                int(window_us.min()),
                int(window_us.max()),
                session,
            )()
        # Only the orders of members who may climb: each member's spend depends on their own only.
        mine = np.nonzero(climbing)[0]
        c_g, c_t = g[mine], t[mine]
        e_g = np.searchsorted(umem, e_mid)
        ev_g = np.concatenate([e_g, c_g])
        ev_t = np.concatenate([e_t, c_t])
        ev_v = np.concatenate([e_v, totals[mine]])
        ev_kind = np.concatenate([np.zeros(len(e_g), np.int64), np.ones(len(mine), np.int64)])
        ev_seq = np.concatenate([np.zeros(len(e_g), np.int64), mine])
        order = np.lexsort((ev_seq, ev_kind, ev_t, ev_g))
        cum = np.cumsum(ev_v[order])
        uniq_t = np.unique(ev_t)
        width = len(uniq_t) + 1
        key = ev_g[order] * width + np.searchsorted(uniq_t, ev_t[order])
        pos = np.empty(len(order), dtype=np.int64)
        pos[order] = np.arange(len(order))
        pos_orders = pos[len(e_g) :]
        lo_rank = np.searchsorted(uniq_t, c_t - window_us[mine], side="right")
        first = np.searchsorted(key, c_g * width + lo_rank, side="left")
        spend[mine] = cum[pos_orders] - np.where(first > 0, cum[np.maximum(first - 1, 0)], 0)
    # Members who cannot climb keep their tier (their spend is never read, so never used).
    target = np.where(climbing[by_member], tier_index_for_spend(tier_defs, spend)[by_member], m_tier[g_m])
    before_s, after_s = upgrade_path(g_m, m_tier[g_m], target)
    # An anonymous order has no tier: index 0 here, never read (it earns nothing, moves nobody).
    before = np.zeros(n, dtype=np.int64)
    after = np.zeros(n, dtype=np.int64)
    before[by_member] = before_s
    after[by_member] = after_s

    # -- earning -----------------------------------------------------------------------------------
    line_mult = np.repeat(mult[before], counts)
    pts_line = line_points(amounts, excluded, np.repeat(ppu, counts), line_mult)
    if anonymous is not None:
        pts_line = pts_line * np.repeat(~anonymous, counts)
    elig_line = line_eligible(amounts, excluded)
    points = np.add.reduceat(pts_line, starts)
    eligible = np.add.reduceat(elig_line, starts)
    label_key = s_idx * len(tier_defs) + before
    labels: dict[int, str] = {}
    for k in np.unique(label_key).tolist():
        p = progs[k // len(tier_defs)]
        td = tier_defs[k % len(tier_defs)]
        labels[k] = rule_label(
            p.points_per_unit, td.code, int(mult[k % len(tier_defs)]), p.excluded_categories
        )
    rules = [labels[k] for k in label_key.tolist()]
    if anonymous is not None:
        for i in np.nonzero(anonymous)[0].tolist():
            rules[i] = ANONYMOUS_RULE
    available, expires = lot_times(t, ret_days, exp_days)

    # -- debt first: per member, in posting order ---------------------------------------------------
    p_sorted = points[by_member]
    g_sorted = g_m
    cum_p = np.cumsum(p_sorted)
    seg_start = np.ones(len(by_member), dtype=bool)
    seg_start[1:] = g_sorted[1:] != g_sorted[:-1]
    base = np.maximum.accumulate(np.where(seg_start, cum_p - p_sorted, 0))
    before_p = cum_p - p_sorted - base
    paid_sorted = debt_paid(p_sorted, m_debt[g_sorted] - before_p)
    paid = np.zeros(n, dtype=np.int64)
    paid[by_member] = paid_sorted

    # -- ids and rows -------------------------------------------------------------------------------
    earning = np.nonzero(points > 0)[0]
    k = len(earning)
    wanted = {"purchases": n, "transfers": k, "postings": 2 * k, "point_lots": k}
    ids = ahead.ids() if ahead is not None else next_ids_for(conn, wanted)
    pids, tids, post_ids, lot_ids = (ids[table][:count] for table, count in wanted.items())
    # A few POS sales (the API's batches) on PostgreSQL: every write below goes in one statement.
    writes = unnest.Writes() if pg and n <= _FEW_ORDERS else None
    occ_text = _sql_ts(t, pg)
    oids = batch.order_id.to_pylist()
    currency = [batch.currency or stores[s].programme.currency for s in store_ids]
    mids: list[int | None] = batch.member_id.tolist()
    if anonymous is not None:
        mids = [None if m == ANONYMOUS else m for m in mids]
    sids = batch.store_id.tolist()
    # Imported orders keep no request hash: a POS replay is compared by content (purchases._post_one).
    fixed: dict[str, int | str | None] = {
        "refunded_minor": 0, "points_reversed": 0, "redeemed_points": 0, "created_at": now_text,
    }  # fmt: skip
    varying: list[Any] = [
        pids.tolist(), sids, mids, oids, occ_text, totals.tolist(), eligible.tolist(), points.tolist(),
        rules,
    ]  # fmt: skip
    names = [
        "id", "store_id", "member_id", "order_id", "occurred_at", "total_minor", "eligible_minor",
        "points_earned", "rule",
    ]  # fmt: skip
    if request_hashes is None:
        fixed["request_hash"] = None
    else:
        names.append("request_hash")
        varying.append(list(request_hashes))
    if len(set(currency)) == 1:
        fixed["currency"] = currency[0]
    else:
        names.append("currency")
        varying.append([currency[i] for i in s_idx.tolist()])
    if batch.channel is not None:  # else every order is a store sale: the column's default
        names.append("channel")
        varying.append(batch.channel.to_pylist())
    # The tier each order left its member in, and the one it upgraded them to, as live.
    codes = [td.code for td in tier_defs]
    tier_after: list[str | None] = [codes[i] for i in after.tolist()]
    upgraded: list[str | None] = [
        code if b != a else None
        for code, b, a in zip(tier_after, before.tolist(), after.tolist(), strict=True)
    ]
    if anonymous is not None:
        for i in np.nonzero(anonymous)[0].tolist():
            tier_after[i] = upgraded[i] = None
    names += ["tier_code", "upgraded_to"]
    varying += [tier_after, upgraded]
    write_rows(conn, "purchases", names, zip(*varying, strict=True), fixed, into=writes)
    nl = len(amounts)
    line_no = np.arange(nl, dtype=np.int64) - np.repeat(starts, counts) + 1
    write_rows(
        conn,
        "purchase_lines",
        (
            "purchase_id", "line_no", "sku", "category", "quantity", "unit_price_minor", "discount_minor",
            "amount_minor", "points",
        ),
        zip(
            np.repeat(pids, counts).tolist(), line_no.tolist(), batch.sku.to_pylist(),
            batch.category.to_pylist(), batch.quantity.tolist(), batch.unit_price_minor.tolist(),
            batch.discount_minor.tolist(), amounts.tolist(), pts_line.tolist(),
            strict=True,
        ),
        {"returned_quantity": 0},
        into=writes,
    )  # fmt: skip
    if k:
        acc = m_acc[g[earning]]
        liab = liability[earning]
        amt = points[earning]
        if pg:
            e_oids = [oids[i] for i in earning.tolist()]
            e_rules = [rules[i] for i in earning.tolist()]
            write_rows(
                conn,
                "transfers",
                (
                    "id", "debit_account_id", "credit_account_id", "amount", "member_id", "purchase_id",
                    "rule", "store_id", "order_id",
                ),
                zip(
                    tids.tolist(), liab.tolist(), acc.tolist(), amt.tolist(),
                    batch.member_id[earning].tolist(), pids[earning].tolist(), e_rules,
                    batch.store_id[earning].tolist(), e_oids,
                    strict=True,
                ),
                {"kind": "earn", "created_at": now_text},
                into=writes,
            )  # fmt: skip
            p_tid = np.repeat(tids, 2)
            p_acc = np.column_stack([liab, acc]).ravel()
            p_amt = np.column_stack([-amt, amt]).ravel()
            write_rows(
                conn,
                "postings",
                ("id", "transfer_id", "account_id", "amount"),
                zip(post_ids.tolist(), p_tid.tolist(), p_acc.tolist(), p_amt.tolist(), strict=True),
                {"created_at": now_text},
                into=writes,
            )
        else:
            _derive_transfers(conn, pids, tids, post_ids, stores)
        e_paid = paid[earning]
        write_rows(
            conn,
            "point_lots",
            (
                "id", "account_id", "member_id", "merchant_id", "transfer_id", "purchase_id", "amount",
                "debt_paid", "remaining", "available_at", "expires_at",
            ),
            zip(
                lot_ids.tolist(), acc.tolist(), batch.member_id[earning].tolist(),
                merchant[earning].tolist(), tids.tolist(), pids[earning].tolist(), amt.tolist(),
                e_paid.tolist(), (amt - e_paid).tolist(),
                _sql_ts(available[earning], pg), _sql_ts(expires[earning], pg),
                strict=True,
            ),
            {"created_at": now_text},
            into=writes,
        )  # fmt: skip
        # Accounts: balance and debt as the last credit of each member leaves them.
        gained = np.bincount(g_m, weights=p_sorted, minlength=len(umem)).astype(np.int64)
        debt_paid_m = np.bincount(g_m, weights=paid_sorted, minlength=len(umem)).astype(np.int64)
        moved = np.nonzero(gained > 0)[0]
        update_rows(
            conn,
            "accounts",
            ("balance", "debt"),
            "id",
            list(
                zip(
                    (m_bal[moved] + gained[moved]).tolist(),
                    (m_debt[moved] - debt_paid_m[moved]).tolist(),
                    m_acc[moved].tolist(),
                    strict=True,
                )
            ),
            into=writes,
        )
    # -- tier upgrades, in posting order --------------------------------------------------------------
    up = np.nonzero(after > before)[0]
    if len(up):
        write_rows(
            conn,
            "tier_history",
            ("member_id", "from_tier_id", "to_tier_id", "qualifying_minor"),
            zip(
                batch.member_id[up].tolist(), tier_ids[before[up]].tolist(), tier_ids[after[up]].tolist(),
                spend[up].tolist(),
                strict=True,
            ),
            {"reason": "upgrade", "at": now_text},
            into=writes,
        )  # fmt: skip
        final = np.full(len(umem), -1, dtype=np.int64)
        np.maximum.at(final, g[up], after[up])  # tiers only rise within a batch: the last is the highest
        changed = np.nonzero(final >= 0)[0]
        update_rows(
            conn,
            "members",
            ("tier_id", "tier_grace_until"),
            "id",
            list(
                zip(
                    tier_ids[final[changed]].tolist(),
                    [None] * len(changed),
                    umem[changed].tolist(),
                    strict=True,
                )
            ),
            into=writes,
        )
    if actors is not None:  # one audit row per order, with the batch's other rows
        audited = [
            audit.row(
                actor,
                audit.SALE_ACTION,
                "purchase",
                pid,
                None,
                audit.sale_after(sid, oid, mid, total, pts, channel),
                at=now,
            )
            for actor, pid, sid, oid, mid, total, pts, channel in zip(
                actors, pids.tolist(), sids, oids, mids, totals.tolist(), points.tolist(), batch.channels(),
                strict=True,
            )
        ]  # fmt: skip
        if writes is not None:
            writes.insert("audit_log", audit.columns(audited))
        else:
            audit.record_many(conn, audited)
    if writes is not None:
        writes.send(conn)
    # -- what the next batch of this run may take as known --------------------------------------------
    if session.key is not None:
        session.last_purchase_id = int(pids[-1])
        session.record(batch.member_id[by_member], t[by_member], totals[by_member])
        bal_end = m_bal + np.bincount(g_m, weights=p_sorted, minlength=len(umem)).astype(np.int64)
        debt_end = m_debt - np.bincount(g_m, weights=paid_sorted, minlength=len(umem)).astype(np.int64)
        tier_end = np.full(len(umem), -1, dtype=np.int64)
        np.maximum.at(tier_end, g_m, after_s)
        for j, m in enumerate(umem.tolist()):
            session.members[m] = (
                "active",
                int(tier_ids[tier_end[j]]),
                int(m_acc[j]),
                int(bal_end[j]),
                int(debt_end[j]),
            )
        if session.upper is not None:
            for m, v in zip(umem.tolist(), batch_spend.tolist(), strict=True):
                session.upper[m] = session.upper.get(m, 0) + v
    return Posted(
        pids, totals, points, rules, available, expires,
        [codes[i] for i in before.tolist()], [codes[i] for i in after.tolist()],
    )  # fmt: skip
