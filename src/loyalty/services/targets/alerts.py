"""When a store is behind its target: the chain's two rules, their thresholds, and the alerts they raise.

A store is behind when its progress trails the time elapsed in its zone by more than `behind_points`
percentage points (the figures as shown, to the hundredth of a point), or when its forecast to the
month's end falls below `forecast_pct` % of its target. Only months under way or over are judged, and
only stores with a target above zero. The thresholds are one row (`target_settings`), absent until
the chain changes its defaults; a change is audited in its transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from sqlalchemy import Connection, insert, select, update

from loyalty.bootstrap import Context
from loyalty.db.target_tables import target_settings
from loyalty.domain.actors import Actor
from loyalty.services import audit
from loyalty.services.common import read
from loyalty.services.targets.inputs import check_int
from loyalty.services.targets.schemas import Alert, AlertRules, MonthState, Standing, StoreRef

if TYPE_CHECKING:
    from loyalty.services.targets.schemas import Metric

DEFAULT_BEHIND_POINTS = 10
DEFAULT_FORECAST_PCT = 90


def rules_in(conn: Connection) -> AlertRules:
    """The thresholds in force, read on `conn` (the defaults until the chain changes them)."""
    row = conn.execute(select(target_settings).where(target_settings.c.id == 1)).first()
    if row is None:
        return AlertRules(behind_points=DEFAULT_BEHIND_POINTS, forecast_pct=DEFAULT_FORECAST_PCT)
    return AlertRules(
        behind_points=row.behind_points,
        forecast_pct=row.forecast_pct,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def alert_rules(ctx: Context) -> AlertRules:
    with read(ctx) as conn:
        return rules_in(conn)


def set_alert_rules(
    ctx: Context, actor: Actor, *, behind_points: int | None = None, forecast_pct: int | None = None
) -> AlertRules:
    """Change the thresholds given (`behind_points` 0–100, `forecast_pct` 0–200; TARGET_INVALID names a
    bad one), audited with the rules before and after."""
    if behind_points is not None:
        check_int("behind_points", behind_points, 0, 100)
    if forecast_pct is not None:
        check_int("forecast_pct", forecast_pct, 0, 200)
    now = ctx.now()
    with ctx.engine.begin() as conn:
        before = rules_in(conn)
        values = {
            "behind_points": before.behind_points if behind_points is None else behind_points,
            "forecast_pct": before.forecast_pct if forecast_pct is None else forecast_pct,
            "updated_at": now,
            "updated_by": f"{actor.kind}:{actor.id}",
        }
        if before.updated_at is None:
            conn.execute(insert(target_settings).values(id=1, **values))
        else:
            conn.execute(update(target_settings).where(target_settings.c.id == 1).values(**values))
        shown = ("behind_points", "forecast_pct")
        audit.record(
            conn,
            actor,
            "targets.alert_rules",
            "target_settings",
            1,
            before.model_dump(include=set(shown)),
            {k: values[k] for k in shown},
            at=now,
        )
        return rules_in(conn)


def raised(store: StoreRef, state: MonthState, standing: Standing, rules: AlertRules) -> list[Alert]:
    """The alerts `store`'s `standing` breaks under `rules` (none for a month still to come)."""
    target, progress = standing.target, standing.progress
    if state == "future" or not target or progress is None or standing.ahead_points is None:
        return []
    common = {
        "store": store,
        "metric": standing.metric,
        "target": target,
        "actual": standing.actual,
        "progress": progress,
        "elapsed": standing.elapsed,
        "forecast": standing.forecast,
        "forecast_ratio": standing.forecast_ratio,
    }
    out = []
    if standing.ahead_points < -rules.behind_points:
        out.append(Alert(kind="behind", threshold=rules.behind_points, **common))
    if standing.forecast is not None and standing.forecast * 100 < rules.forecast_pct * target:
        out.append(Alert(kind="forecast", threshold=rules.forecast_pct, **common))
    return out


def month_alerts(
    ctx: Context,
    month: str,
    *,
    store_ids: Collection[int] | None = None,
    region: str | None = None,
    metrics: Collection[Metric] | None = None,
) -> list[Alert]:
    """The alerts of `month` so far: those of `month_progress` (same arguments)."""
    from loyalty.services.targets.progress import month_progress

    return month_progress(ctx, month, store_ids=store_ids, region=region, metrics=metrics).alerts
