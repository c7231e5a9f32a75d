"""Each table of the analyst's page as a CSV or xlsx file, written by the exports' writers, masked by
the exports' rules and recorded in the audit log as an export is.

The tables: `segments` (the eight RFM groups), `clv` and `p_alive` (the distributions), `holdout` and
`tracking` (the calibration/holdout check) and `members` (every member's scores: the segments export
itself, personal data masked unless the role may see it). Money is in the currency's major units as
exact decimals, with a `currency` column, as in the exports; column names are stable codes, the
groups' names and actions in both languages, so a spreadsheet or a script reads them alike.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from loyalty.domain.errors import InvalidInput
from loyalty.exports.service import ExportUnavailable
from loyalty.services.member_analytics.figures import Overview, bucket_label, overview

if TYPE_CHECKING:
    from loyalty.bootstrap import Context
    from loyalty.domain.actors import Actor

__all__ = ["FORMATS", "TABLES", "Download", "ExportUnavailable", "check", "download"]

TABLES = ("segments", "clv", "p_alive", "holdout", "tracking", "members")
FORMATS = ("csv", "xlsx")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
#: the file names' stems
STEMS = {
    "segments": "rfm-groups",
    "clv": "clv-distribution",
    "p_alive": "p-alive-distribution",
    "holdout": "holdout-check",
    "tracking": "holdout-tracking",
    "members": "member-scores",
}


@dataclass(frozen=True)
class Download:
    filename: str
    media_type: str
    content: bytes
    rows: int


def _major(values: list[float | None], currency: str) -> pa.Array:
    from loyalty.analytics.currency import to_major

    return to_major([float("nan") if v is None else float(v) for v in values], currency)


def segments_table(o: Overview) -> pa.Table:
    g = o.groups
    return pa.table(
        {
            "rfm_code": [x.rfm_code for x in g],
            "segment": [x.segment.code for x in g],
            "segment_zh": [x.segment.zh for x in g],
            "segment_en": [x.segment.en for x in g],
            "members": pa.array([x.members for x in g], pa.int64()),
            "share": pa.array([round(x.share, 6) for x in g], pa.float64()),
            "spend": _major([x.spend_minor for x in g], o.currency),
            "spend_per_member": _major([x.spend_per_member_minor for x in g], o.currency),
            "clv": _major([x.clv_minor for x in g], o.currency),
            "clv_per_member": _major([x.clv_per_member_minor for x in g], o.currency),
            "p_alive_mean": pa.array([x.mean_p_alive for x in g], pa.float64()),
            "currency": [o.currency] * len(g),
            "action_zh": [x.segment.action_zh for x in g],
            "action_en": [x.segment.action_en for x in g],
        }
    )


def clv_table(o: Overview) -> pa.Table:
    return pa.table(
        {
            "clv_from": _major([b.lo for b in o.clv], o.currency),
            "clv_below": _major([b.hi for b in o.clv], o.currency),
            "members": pa.array([b.members for b in o.clv], pa.int64()),
            "currency": [o.currency] * len(o.clv),
        }
    )


def p_alive_table(o: Overview) -> pa.Table:
    return pa.table(
        {
            "p_alive_from": pa.array([b.lo for b in o.p_alive], pa.float64()),
            "p_alive_below": pa.array([b.hi for b in o.p_alive], pa.float64()),
            "members": pa.array([b.members for b in o.p_alive], pa.int64()),
        }
    )


def holdout_table(o: Overview) -> pa.Table:
    rows = o.refresh.holdout if o.refresh is not None else []
    return pa.table(
        {
            "repeat_purchases_in_calibration": [bucket_label(int(r["bucket"])) for r in rows],
            "members": pa.array([int(r["customers"]) for r in rows], pa.int64()),
            "actual_mean_in_holdout": pa.array([r["actual"] for r in rows], pa.float64()),
            "predicted_mean_in_holdout": pa.array([r["predicted"] for r in rows], pa.float64()),
        }
    )


def tracking_table(o: Overview) -> pa.Table:
    rows = o.refresh.tracking if o.refresh is not None else []
    return pa.table(
        {
            "week": pa.array([int(r["week"]) for r in rows], pa.int64()),
            "actual_cumulative": pa.array([r["actual"] for r in rows], pa.float64()),
            "predicted_cumulative": pa.array([r["predicted"] for r in rows], pa.float64()),
            "holdout": pa.array([bool(r["holdout"]) for r in rows], pa.bool_()),
        }
    )


_BUILDERS: dict[str, Any] = {
    "segments": segments_table,
    "clv": clv_table,
    "p_alive": p_alive_table,
    "holdout": holdout_table,
    "tracking": tracking_table,
}


def check(table: str, fmt: str) -> None:
    """Refuse an unknown table or format, naming the field."""
    if table not in TABLES:
        raise InvalidInput.field(
            "table",
            "unknown table {table}: expected one of {tables}",
            values={"table": table, "tables": ", ".join(TABLES)},
        )
    if fmt not in FORMATS:
        raise InvalidInput.field("format", "unknown format {format}: use csv or xlsx", values={"format": fmt})


def download(ctx: Context, table: str, fmt: str, *, actor: Actor) -> Download:
    """`table` as a file in `fmt`, masked for `actor.role`, and one audit row saying who took it.

    Raises `ExportUnavailable` (the exports' own) when analytics never ran here.
    """
    check(table, fmt)
    with tempfile.TemporaryDirectory(prefix="loyalty-download-") as tmp:
        if table == "members":
            return _members(ctx, fmt, actor, Path(tmp))
        figures = overview(ctx)
        if figures.never_ran:
            raise ExportUnavailable(
                "EXPORT_UNAVAILABLE", "no member scores yet: run `loyalty analytics refresh` first"
            )
        day = figures.scored_at.date().isoformat() if figures.scored_at else ctx.now().date().isoformat()
        name = f"{STEMS[table]}-{day}.{fmt}"
        return _written(ctx, _BUILDERS[table](figures), Path(tmp) / name, fmt, actor, table)


def _written(ctx: Context, data: pa.Table, path: Path, fmt: str, actor: Actor, table: str) -> Download:
    from loyalty.exports.masking import mask_table, may_see_pii
    from loyalty.exports.writers import write_table
    from loyalty.services import audit

    masked = mask_table(data, actor.role)
    write_table(masked, path, fmt)
    content = path.read_bytes()
    with ctx.engine.begin() as conn:
        after = {
            "table": table,
            "rows": masked.num_rows,
            "format": fmt,
            "pii": "clear" if may_see_pii(actor.role) else "masked",
        }
        audit.record(conn, actor, "export.analytics", "export", path.name, None, after, at=ctx.now())
    return Download(path.name, MEDIA_TYPES[fmt], content, masked.num_rows)


def _members(ctx: Context, fmt: str, actor: Actor, tmp: Path) -> Download:
    """The segments export itself (its masking and its audit row), read back from a scratch file."""
    from loyalty.exports.service import export

    name = f"{STEMS['members']}-{ctx.now().date().isoformat()}.{fmt}"
    done = export(ctx, "segments", tmp / name, fmt=fmt, role=actor.role, actor_id=actor.id)
    assert done.path is not None
    return Download(name, MEDIA_TYPES[fmt], done.path.read_bytes(), done.rows)
