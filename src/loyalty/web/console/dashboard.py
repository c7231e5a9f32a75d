"""The store manager's dashboard (`/console/dashboard`): a store's (or the chain's) members, sign-ups,
active rate, sales and member sales share, points issued and redeemed, with charts over time, the
figures by staff (who rang the sales, who signed the members up), and the sleeping members to call
back, each linking to their 360° page.

What to show is chosen with a GET form (the store among the user's own, the period and the dates; no
personal data, so the URL may carry it): a store manager sees their store by default and only their
stores, chain-wide roles the whole chain. The figures come from `services.kpis`, as the API's.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from loyalty.domain.errors import InvalidInput, NotFound
from loyalty.i18n import marker, translator
from loyalty.services import kpis
from loyalty.services.schemas import StoreOut
from loyalty.web.console import forms, views
from loyalty.web.console.dashboard_view import dashboard_view
from loyalty.web.pages import ConsoleRoute, Denied, Page, StaffPage

_ = translator("web")
N_ = marker("web")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

#: the store picker's value for the whole chain, and the prefix of a region's
CHAIN = "chain"
REGION = "region:"
PERIOD_NAMES = {"day": N_("By day"), "week": N_("By week"), "month": N_("By month")}


@router.get("/dashboard")
def dashboard(
    page: StaffPage,
    store: Annotated[str | None, Query(max_length=80)] = None,
    period: Annotated[str, Query(max_length=10)] = "day",
    from_: Annotated[str | None, Query(alias="from", max_length=20)] = None,
    to: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The figures of the chosen store (or the chain) over the chosen days."""
    page.require("kpis:read")
    mine = views.my_stores(page)
    chain_wide = page.staff.store_ids is None
    region = store[len(REGION) :] if store and store.startswith(REGION) and chain_wide else None
    chosen = None if region else _scope(page, store, mine, chain_wide)
    given = {
        "store": REGION + region if region else CHAIN if chosen is None else str(chosen.id),
        "period": period,
        "from": from_ or "",
        "to": to or "",
    }
    errors: dict[str, str] = {}
    if period not in kpis.PERIODS:
        errors["period"] = _("Choose by day, week or month.")
    start = _date(from_, "from", errors)
    end = _date(to, "to", errors)
    values: dict[str, Any] = {
        "stores": mine,
        "regions": sorted({s.region for s in mine if s.region}) if chain_wide else [],
        "region": region,
        "chain_wide": chain_wide,
        "chosen": chosen,
        "given": given,
        "errors": errors,
        "periods": PERIOD_NAMES,
        "report": None,
        "view": None,
    }
    if errors:
        return page.html("console/dashboard.html", values, status=422)
    # who sold and signed up over the same business days, at the same stores, computed beside it
    stores = (
        [chosen.id] if chosen is not None else [s.id for s in mine if s.region == region] if region else None
    )
    try:
        report, by_staff = kpis.report_and_staff(
            page.ctx,
            store_id=None if chosen is None else chosen.id,
            region=region,
            staff_stores=stores,
            period=period,
            start=start,
            end=end,
        )
    except InvalidInput as exc:
        values["errors"] = forms.field_errors(exc, page.locale, {"period", "from", "to"})
        return page.html("console/dashboard.html", values, status=422)
    values["report"] = report
    values["view"] = dashboard_view(report, page.staff, page.locale, by_staff)
    return page.html("console/dashboard.html", values)


def _scope(page: Page, store: str | None, mine: list[StoreOut], chain_wide: bool) -> StoreOut | None:
    """The store whose figures to show (None: the chain's): the one asked for among the user's, else
    the user's first store (store staff) or the chain (chain-wide roles)."""
    if not store:
        if chain_wide:
            return None
        if not mine:
            raise Denied  # store staff without a store: no figures to show
        return mine[0]
    if store == CHAIN:
        if not chain_wide:
            raise Denied
        return None
    if not store.isdigit():
        raise Denied
    page.require_store(int(store))
    found = next((s for s in mine if s.id == int(store)), None)
    if found is None:
        raise NotFound("STORE_NOT_FOUND", "store {store_id} does not exist", {"store_id": int(store)})
    return found


def _date(text: str | None, name: str, errors: dict[str, str]) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[name] = _("Enter a date such as 2026-03-31.")
        return None
