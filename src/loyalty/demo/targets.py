"""The demo chain's store targets for the month under way, so the console's tracking page has a plan
to follow: its stores grouped in regions (华东, 华北, …, where a store has none yet), and this month's
net sales target set a little above last month's, broken down by each store's share of the same month
last year (else of the trailing 12 months), through `services.targets`."""

from __future__ import annotations

from loyalty.bootstrap import Context
from loyalty.demo.rewards import DEMO_ACTOR

#: a demo store's region, by the city its code starts with
REGIONS = {"SH": "华东", "HZ": "华东", "BJ": "华北", "CD": "西南", "GZ": "华南", "SZ": "华南", "UR": "西北"}
#: this month's targets against last month's figures, pro rata to the days
GROWTH = 1.08
#: money targets are shared in multiples of ¥100 and set to the ¥1,000
STEP, ROUND = 10_000, 100_000


def plan_the_month(ctx: Context) -> dict[str, int]:
    """Regions for the stores without one, and this month's sales plan (unless set); how many stores
    were placed and plans set."""
    from loyalty.domain.errors import NotFound
    from loyalty.domain.targets import Month
    from loyalty.services import kpis, merchants, targets
    from loyalty.services.merchants import StoreChanges

    made = {"regions": 0, "plans": 0}
    for store in merchants.list_stores(ctx):
        region = REGIONS.get(store.code[:2])
        if store.region is None and region is not None:
            merchants.update_store(ctx, store.id, StoreChanges(region=region), actor=DEMO_ACTOR)
            made["regions"] += 1
    month = Month.parse(targets.this_month(ctx))
    last = month.shift(-1)
    report = kpis.chain_kpis(ctx, period="month", start=last.first, end=last.last, sleeping=0)
    scale = GROWTH * month.days / last.days
    total = int(report.summary.net_sales_minor * scale // ROUND) * ROUND
    try:
        targets.current_plan(ctx, str(month), "sales")
    except NotFound:
        if total > 0:
            targets.set_plan(ctx, str(month), "sales", total, DEMO_ACTOR, method="auto", step=STEP,
                             note="演示：上月净销售额 × 108%，按各店去年同月占比分解")  # fmt: skip
            made["plans"] += 1
    return made
