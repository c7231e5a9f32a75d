"""The anomaly scan: read a period's activity, run the rules and the statistics, write the flags.

A scan is idempotent: it writes at most one open flag per subject and kind. A finding whose subject
already has an open flag of its kind updates that flag (its period widened to cover both, its score,
reason and figures those of this scan) instead of adding one; a finding for days a reviewer already
decided on (an approved or rejected flag of the same subject and kind that covers them) is left
alone, so a false alarm once rejected is not raised again by the next scan of the same days. The
flags are written in one transaction with the scan's audit row; a scan that fails writes nothing.
Long scans run as the `anomaly_scan` job (`services.jobs`), which follows the stages below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from loyalty.db.anomaly_tables import anomaly_flags
from loyalty.domain.actors import Actor
from loyalty.domain.errors import InvalidInput
from loyalty.services import audit

if TYPE_CHECKING:
    from loyalty.analytics.anomalies import Finding
    from loyalty.bootstrap import Context

#: the stages of a scan, in order, as its `progress` callback names them
STAGES = ("load", "detect", "flags")
#: the days a scan covers when no period is given (ending today)
DEFAULT_DAYS = 30
#: the longest period one scan may cover
MAX_DAYS = 366
#: who a scan started without a person is recorded as
SCANNER = Actor(kind="system", id="anomaly_scan", role="system")

StageProgress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class ScanResult:
    """What a scan did: the period, how many members it looked at, and the flags it wrote."""

    start: date
    end: date
    members: int
    findings: int
    new: int
    updated: int
    already_reviewed: int
    by_kind: dict[str, int] = field(default_factory=dict)
    #: methods that found nothing to work on, and why ("too_few_members")
    skipped: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["start"], out["end"] = self.start.isoformat(), self.end.isoformat()
        return out


def period(ctx: Context, start: date | None, end: date | None) -> tuple[date, date]:
    """The period to scan: as given, or the `DEFAULT_DAYS` ending today (in the chain's zone);
    ANOMALY_SCAN_INVALID naming the field when it ends before it starts, reaches past today (there is
    nothing to scan there yet) or spans over `MAX_DAYS`."""
    today = ctx.now().astimezone(ctx.settings.tz).date()
    if end is not None and end > today:
        raise InvalidInput.field("end", "a scan cannot reach past today", "ANOMALY_SCAN_INVALID")
    end = end or today
    if start is None:
        if (end - date.min).days < DEFAULT_DAYS:
            raise InvalidInput.field(
                "end", "the period must not end before it starts", "ANOMALY_SCAN_INVALID"
            )
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise InvalidInput.field("start", "the period must not end before it starts", "ANOMALY_SCAN_INVALID")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInput.field(
            "start", "a scan covers at most {max} days", "ANOMALY_SCAN_INVALID", {"max": MAX_DAYS}
        )
    return start, end


def scan(
    ctx: Context,
    start: date | None = None,
    end: date | None = None,
    *,
    actor: Actor = SCANNER,
    progress: StageProgress | None = None,
) -> ScanResult:
    """Scan business days `start`…`end` (default: the last 30 days) and write the flags (see the module)."""
    from loyalty.analytics.anomalies import detect
    from loyalty.services.anomalies.activity import load_activity
    from loyalty.services.anomalies.rules import get_rules

    start, end = period(ctx, start, end)
    told = progress or (lambda _done, _total, _step: None)
    told(0, len(STAGES), "load")
    rules = get_rules(ctx)
    activity = load_activity(ctx, start, end)
    told(1, len(STAGES), "detect")
    detected = detect(activity, rules)
    told(2, len(STAGES), "flags")
    now = ctx.now()
    with ctx.engine.begin() as conn:
        counts = _write(conn, detected.findings, now)
        by_kind: dict[str, int] = {}
        for f in detected.findings:
            by_kind[f.kind] = by_kind.get(f.kind, 0) + 1
        result = ScanResult(
            start=start,
            end=end,
            members=detected.members,
            findings=len(detected.findings),
            new=counts["new"],
            updated=counts["updated"],
            already_reviewed=counts["already_reviewed"],
            by_kind=by_kind,
            skipped=detected.skipped,
        )
        audit.record(
            conn,
            actor,
            "anomalies.scan",
            "anomaly_scan",
            f"{start.isoformat()}..{end.isoformat()}",
            None,
            result.as_dict(),
            at=now,
        )
    told(len(STAGES), len(STAGES), "done")
    return result


def _existing(conn: Connection, subjects: list[str]) -> dict[tuple[str, str], list[Any]]:
    out: dict[tuple[str, str], list[Any]] = {}
    for i in range(0, len(subjects), 500):
        rows = conn.execute(
            select(
                anomaly_flags.c.id,
                anomaly_flags.c.subject,
                anomaly_flags.c.kind,
                anomaly_flags.c.status,
                anomaly_flags.c.period_start,
                anomaly_flags.c.period_end,
            ).where(anomaly_flags.c.subject.in_(subjects[i : i + 500]))
        )
        for r in rows:
            out.setdefault((str(r.subject), str(r.kind)), []).append(r)
    return out


def _write(conn: Connection, findings: list[Finding], now: datetime) -> dict[str, int]:
    counts = {"new": 0, "updated": 0, "already_reviewed": 0}
    known = _existing(conn, sorted({f.subject for f in findings}))
    rows = []
    for f in findings:
        flags = known.get((f.subject, f.kind), [])
        open_ = next((r for r in flags if r.status == "open"), None)
        if open_ is not None:
            conn.execute(
                update(anomaly_flags)
                .where(anomaly_flags.c.id == open_.id, anomaly_flags.c.status == "open")
                .values(
                    period_start=min(open_.period_start, f.period_start),
                    period_end=max(open_.period_end, f.period_end),
                    score=f.score,
                    reason_code=f.reason_code,
                    params=f.params,
                    updated_at=now,
                )
            )
            counts["updated"] += 1
            continue
        if any(r.period_start <= f.period_start and f.period_end <= r.period_end for r in flags):
            counts["already_reviewed"] += 1
            continue
        rows.append(
            {
                "subject_kind": f.subject_kind,
                "subject": f.subject,
                "member_id": f.member_id,
                "operator": f.operator,
                "kind": f.kind,
                "period_start": f.period_start,
                "period_end": f.period_end,
                "score": f.score,
                "reason_code": f.reason_code,
                "params": f.params,
                "status": "open",
                "created_at": now,
                "updated_at": now,
                "suspended": False,
            }
        )
    if rows:
        conn.execute(insert(anomaly_flags), rows)
        counts["new"] = len(rows)
    return counts
