"""Exports of members, segments, statements and purchase history (CSV / xlsx / Parquet).

Queries are set-based SQL through SQLAlchemy on reflected tables, fetched in one go into Arrow, then
masked by role and written. Each export writes one audit-log row (who, what, how many rows, where) so a
privacy officer can answer "who took the member list out, and when".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, MetaData, Select, Table, case, inspect, select

from loyalty.domain.errors import Conflict
from loyalty.exports.masking import mask_table, may_see_pii
from loyalty.exports.writers import format_for, write_table

EXPORTS = ("members", "segments", "statements", "purchases")


class ExportUnavailable(Conflict, RuntimeError):
    """The data for this export does not exist in this database (e.g. analytics never ran)."""


@dataclass(frozen=True)
class ExportResult:
    what: str
    path: Path | None
    rows: int
    masked: bool
    skipped_reason: str | None = None


def _tables(conn: Connection, *names: str) -> dict[str, Table]:
    md = MetaData()
    md.reflect(conn, only=list(names))
    return {n: md.tables[n] for n in names}


def _fetch(conn: Connection, query: Select[Any]) -> pa.Table:
    result = conn.execute(query)
    names = list(result.keys())
    rows = result.fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = []
    for col in columns:
        values = list(col)
        if any(isinstance(v, datetime) for v in values):
            values = [v.isoformat() if isinstance(v, datetime) else v for v in values]
        arrays.append(pa.array(values))
    return pa.table(arrays, names=names) if names else pa.table({})


def _cols(table: Table, *names: str) -> list[Any]:
    return [table.c[n] for n in names if n in table.c]


def members_query(conn: Connection) -> Select[Any]:
    t = _tables(conn, "members", "tiers", "stores")
    m, tiers, stores = t["members"], t["tiers"], t["stores"]
    cols = _cols(m, "id", "card_no", "member_code", "phone", "name", "email", "birthday", "gender", "status")
    cols += [tiers.c.code.label("tier"), stores.c.code.label("registration_store")]
    cols += _cols(m, "marketing_consent", "created_at")
    q = select(*cols).select_from(
        m.outerjoin(tiers, tiers.c.id == m.c.tier_id).outerjoin(
            stores, stores.c.id == m.c.registration_store_id
        )
    )
    return q.order_by(m.c.id)


def purchases_query(conn: Connection, since: datetime | None = None) -> Select[Any]:
    t = _tables(conn, "purchases", "members", "stores")
    p, m, s = t["purchases"], t["members"], t["stores"]
    cols = [p.c.id, s.c.code.label("store"), p.c.order_id, p.c.occurred_at, m.c.card_no, m.c.phone, m.c.name]
    cols += _cols(p, "total_minor", "currency", "points_earned", "channel")  # anonymous sales: no card
    q = select(*cols).select_from(p.join(s, s.c.id == p.c.store_id).outerjoin(m, m.c.id == p.c.member_id))
    if since is not None:
        q = q.where(p.c.occurred_at >= since)
    return q.order_by(p.c.occurred_at, p.c.id)


def segments_query(conn: Connection) -> Select[Any]:
    """Each member's latest scores from `loyalty analytics refresh` (`member_scores`), with the
    segment's zh-CN and English names and recommended action, money still in minor units."""
    from loyalty.analytics.segments import BINARY_SEGMENTS

    present = set(inspect(conn).get_table_names())
    if "member_scores" not in present:
        raise ExportUnavailable(
            "EXPORT_UNAVAILABLE", "no member scores yet: run `loyalty analytics refresh` first"
        )
    t = _tables(conn, "member_scores", "members")
    s, m = t["member_scores"], t["members"]
    if conn.execute(select(s.c.member_id).limit(1)).first() is None:
        raise ExportUnavailable(
            "EXPORT_UNAVAILABLE", "no member scores yet: run `loyalty analytics refresh` first"
        )

    def named(field: str) -> Any:
        # one CASE over the eight codes, in the query: no Python loop per member
        return case({code: getattr(seg, field) for code, seg in BINARY_SEGMENTS.items()}, value=s.c.rfm_code)

    return (
        select(
            m.c.id.label("member_id"),
            m.c.card_no,
            m.c.phone,
            m.c.name,
            s.c.rfm_code,
            s.c.segment,
            named("zh").label("segment_zh"),
            named("en").label("segment_en"),
            named("action_zh").label("action_zh"),
            named("action_en").label("action_en"),
            s.c.recency_days,
            s.c.frequency,
            s.c.monetary_minor,
            s.c.p_alive,
            s.c.expected_purchases,
            s.c.clv_minor,
            s.c.model,
            s.c.computed_at.label("scored_at"),
        )
        .select_from(s.join(m, m.c.id == s.c.member_id))
        .order_by(m.c.id)
    )


def segments_table(conn: Connection) -> pa.Table:
    """The segments export: :func:`segments_query` with spend and CLV as exact decimals in the
    database's currency (``monetary``, ``clv``, then a ``currency`` column), as analysts read them."""
    from loyalty.analytics.currency import database_currency, to_major
    from loyalty.analytics.errors import AnalyticsError

    table = _fetch(conn, segments_query(conn))
    try:
        currency = database_currency(conn)
    except AnalyticsError as exc:
        raise ExportUnavailable(
            "EXPORT_UNAVAILABLE",
            "member scores cannot be shown in one currency: {reason}",
            {"reason": exc.message},
        ) from exc
    for minor, major in (("monetary_minor", "monetary"), ("clv_minor", "clv")):
        i = table.column_names.index(minor)
        values = pc.cast(table.column(minor), pa.float64()).to_numpy(zero_copy_only=False)  # null: NaN
        table = table.set_column(i, major, to_major(values, currency))
    i = table.column_names.index("clv") + 1
    return table.add_column(i, "currency", pa.array([currency] * table.num_rows, pa.string()))


def statements_query(conn: Connection, since: datetime | None = None) -> Select[Any]:
    """Every points movement per member (the ledger's member-side postings), oldest first."""
    t = _tables(conn, "transfers", "postings", "accounts", "members")
    tr, po, ac, m = t["transfers"], t["postings"], t["accounts"], t["members"]
    q = (
        select(
            m.c.card_no,
            m.c.phone,
            m.c.name,
            tr.c.id.label("transfer_id"),
            tr.c.kind,
            po.c.amount.label("points"),
            tr.c.rule,
            tr.c.order_id,
            tr.c.created_at,
        )
        .select_from(po.join(ac, ac.c.id == po.c.account_id).join(tr, tr.c.id == po.c.transfer_id))
        .join(m, m.c.id == ac.c.member_id)
        .where(ac.c.kind == "member")
    )
    if since is not None:
        q = q.where(tr.c.created_at >= since)
    return q.order_by(m.c.id, tr.c.id)


def export(
    ctx: Any,
    what: str,
    out: str | Path,
    *,
    fmt: str | None = None,
    role: str | None = None,
    actor_id: str = "cli",
    since: datetime | None = None,
) -> ExportResult:
    """Run one export, mask by `role`, write it, and record it in the audit log (one transaction)."""
    from loyalty.domain.actors import Actor
    from loyalty.services import audit

    if what not in EXPORTS:
        raise ValueError(f"unknown export {what!r}; expected one of {', '.join(EXPORTS)}")
    path = Path(out)
    with ctx.engine.begin() as conn:
        if what == "members":
            raw = _fetch(conn, members_query(conn))
        elif what == "purchases":
            raw = _fetch(conn, purchases_query(conn, since))
        elif what == "statements":
            raw = _fetch(conn, statements_query(conn, since))
        else:
            raw = segments_table(conn)
        table = mask_table(raw, role)
        written = write_table(table, path, fmt)
        actor = Actor(kind="staff", id=actor_id, role=role)
        audit.record(
            conn,
            actor,
            f"export.{what}",
            "export",
            path.name,
            None,
            {
                "rows": table.num_rows,
                "format": format_for(path, fmt),
                "pii": "clear" if may_see_pii(role) else "masked",
                "path": str(written),
            },
            at=ctx.now(),
        )
    return ExportResult(what, written, table.num_rows, not may_see_pii(role))
