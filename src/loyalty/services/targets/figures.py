"""A store's figures for the targets' metrics, read through the KPIs' own queries (`services.kpis`).

Targets count what the KPI report counts, so a store's progress and its dashboard agree: `sales` are
net sales (receipts at the store on its business days, less the refunds it paid that day),
`member_sales` the same for members' receipts, `new_members` the active members who signed up there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import date

from sqlalchemy import Connection

from loyalty.services.kpis.members import sign_ups
from loyalty.services.kpis.periods import Calendar
from loyalty.services.kpis.sales import bucket_receipts, daily_refunds
from loyalty.services.kpis.scope import make_scope
from loyalty.services.targets.inputs import Site
from loyalty.services.targets.schemas import MONEY_METRICS, Metric


def store_figures(
    conn: Connection, site: Site, first: date, last: date, metrics: Collection[Metric], period: str = "day"
) -> dict[Metric, dict[date, int]]:
    """Each metric's figures at `site` over its business days [first, last]: per day (`period` "day"),
    or, with "month" (`first` a month's first day), receipts per month and refunds and sign-ups per day,
    for a caller that only adds them up."""
    out: dict[Metric, dict[date, int]] = {m: defaultdict(int) for m in metrics}
    if first > last:
        return out
    scope = make_scope(
        [site.kpi], site.kpi, Calendar(period, first, last), site.ref.timezone, conn.dialect.name
    )
    if MONEY_METRICS & set(metrics):
        sales, member_sales = out.get("sales", defaultdict(int)), out.get("member_sales", defaultdict(int))
        for day, r in bucket_receipts(conn, scope).items():
            sales[day] += r.sales_minor
            member_sales[day] += r.member_sales_minor
        for day, back in daily_refunds(conn, scope).items():
            sales[day] -= back.refunds_minor
            member_sales[day] -= back.member_refunds_minor
    if "new_members" in metrics:
        _, joined = sign_ups(conn, scope)
        out["new_members"].update(joined)
    return out


def store_total(conn: Connection, site: Site, first: date, last: date, metric: Metric) -> int:
    """`metric` at `site` over the whole months [first, last] of its business days."""
    return sum(store_figures(conn, site, first, last, (metric,), "month")[metric].values())
