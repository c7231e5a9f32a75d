"""KPIs of a store or of the whole chain, computed from the product's own tables in set-based SQL.

Members and their growth, sign-ups, active members and rate, repurchase rate, member sales share,
average ticket, points issued, redeemed and expired and the redemption rate, coupons used and their
discount, members' satisfaction with their purchases (`satisfaction`: ratings, average, CSAT,
response rate), per business day, week or month in the store's time zone, for a store, a region or the
chain (`report`); the sleeping high-value members to call back (`sleeping`); and each staff code's
sales, sign-ups, coupons and redemptions (`staff`); the dashboard's report and staff figures side by
side (`dashboard`). Read by the API (`/api/v1/kpis`), the CLI
(`loyalty kpis`) and the console's dashboard; issue #26's targets and league tables build on the same
figures.
"""

from __future__ import annotations

from loyalty.services.kpis.dashboard import report_and_staff
from loyalty.services.kpis.periods import MAX_BUCKETS, PERIODS, Period
from loyalty.services.kpis.report import (
    DEFAULT_ACTIVE_DAYS,
    DEFAULT_SLEEPING,
    MAX_ACTIVE_DAYS,
    MAX_SLEEPING,
    chain_kpis,
    store_kpis,
)
from loyalty.services.kpis.schemas import (
    Bucket,
    Figures,
    KpiReport,
    Satisfaction,
    Sleeping,
    SleepingMember,
    StaffFigures,
    StaffReport,
    StoreRef,
    Summary,
)
from loyalty.services.kpis.staff import staff_kpis

__all__ = [
    "DEFAULT_ACTIVE_DAYS",
    "DEFAULT_SLEEPING",
    "MAX_ACTIVE_DAYS",
    "MAX_BUCKETS",
    "MAX_SLEEPING",
    "PERIODS",
    "Bucket",
    "Figures",
    "KpiReport",
    "Period",
    "Satisfaction",
    "Sleeping",
    "SleepingMember",
    "StaffFigures",
    "StaffReport",
    "StoreRef",
    "Summary",
    "chain_kpis",
    "report_and_staff",
    "staff_kpis",
    "store_kpis",
]
