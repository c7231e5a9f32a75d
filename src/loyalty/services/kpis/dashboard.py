"""The dashboard's two reports at once: the KPI report of a store, a region or the chain, and the KPIs
by staff over the same business days.

Both are read-only sums over the same receipts; computed one after the other the page waited for
their total. Here the staff figures run on a worker thread with a connection of their own while the
report runs on the caller's, so the page waits for the longer of the two (each database releases the
interpreter while it executes). The range is worked out once, first, so both cover exactly the same
days and a bad `period`, `from` or `to` is refused before anything runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from loyalty.bootstrap import Context
from loyalty.services.catalogue import store_of
from loyalty.services.kpis.periods import calendar, today_in
from loyalty.services.kpis.report import chain_kpis, store_kpis
from loyalty.services.kpis.schemas import KpiReport, StaffReport
from loyalty.services.kpis.staff import staff_kpis

#: threads computing staff figures beside a report (a few pages at a time; more wait their turn)
_STAFF_WORKERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kpis-staff")


def report_and_staff(
    ctx: Context,
    *,
    store_id: int | None = None,
    region: str | None = None,
    staff_stores: Sequence[int] | None = None,
    period: str = "day",
    start: date | None = None,
    end: date | None = None,
) -> tuple[KpiReport, StaffReport]:
    """The report of `store_id` (None: the chain, or `region`'s stores) over [start, end] by `period`,
    and the KPIs by staff at `staff_stores` (None: every store) over the report's days. The errors are
    the report's (STORE_NOT_FOUND, REGION_NOT_FOUND, KPI_QUERY_INVALID naming the field)."""
    zone = store_of(ctx, store_id).timezone if store_id is not None else ctx.settings.timezone
    cal = calendar(period, start, end, today_in(zone, ctx.now()))
    stores = None if staff_stores is None else list(staff_stores)
    by_staff = _STAFF_WORKERS.submit(staff_kpis, ctx, stores, start=cal.first, end=cal.last)
    try:
        if store_id is not None:
            report = store_kpis(ctx, store_id, period=period, start=cal.first, end=cal.last)
        else:
            report = chain_kpis(ctx, region=region, period=period, start=cal.first, end=cal.last)
    except BaseException:
        by_staff.cancel()  # not started: dropped; running: it only reads, and its answer is unused
        raise
    return report, by_staff.result()
