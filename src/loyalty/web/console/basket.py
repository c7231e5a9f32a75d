"""The basket-rules browser (`/console/analytics/basket`): which products (or categories) sell together.

A GET form picks the store (or the chain), SKUs or categories, the business days and the thresholds
(minimum support, confidence and lift, an item's name); no personal data, so the URL may carry it
and a page can be bookmarked or shared. The rules come from `services.basket_rules`, as the API's
`GET /api/v1/analytics/basket-rules`: mined on request within the same bounds, whose refusals (too
many purchase lines, a support that would explode) are shown in words beside the form. The table is
sorted by any measure through its column headers.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from starlette.responses import Response

from loyalty.domain.errors import InvalidInput
from loyalty.i18n import formats, marker, translator
from loyalty.services import basket_rules
from loyalty.services.schemas import StoreOut
from loyalty.web.console import forms, views
from loyalty.web.pages import ConsoleRoute, Denied, Page, StaffPage

_ = translator("web")
N_ = marker("web")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PATH = "/console/analytics/basket"
CHAIN = "chain"
#: rules one page lists (the count of all that pass is shown above the table)
SHOWN = 200
ITEM_NAMES = {"sku": N_("Products (SKU)"), "category": N_("Categories")}
SORT_NAMES = {
    "lift": N_("Lift"),
    "confidence": N_("Confidence"),
    "support": N_("Support"),
    "leverage": N_("Leverage"),
    "conviction": N_("Conviction"),
}
DEFAULTS = {"min_support": "0.01", "min_confidence": "0.5", "sort": "lift", "item": "sku"}
FIELDS = {"store", "item", "from", "to", "min_support", "min_confidence", "min_lift", "contains", "sort"}
Text = Annotated[str | None, Query(max_length=100)]


@router.get("/analytics/basket")
def basket_page(
    page: StaffPage,
    store: Annotated[str | None, Query(max_length=20)] = None,
    item: Annotated[str | None, Query(max_length=20)] = None,
    from_: Annotated[str | None, Query(alias="from", max_length=20)] = None,
    to: Annotated[str | None, Query(max_length=20)] = None,
    min_support: Annotated[str | None, Query(max_length=20)] = None,
    min_confidence: Annotated[str | None, Query(max_length=20)] = None,
    min_lift: Annotated[str | None, Query(max_length=20)] = None,
    contains: Text = None,
    sort: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The rules of the chosen scope at the chosen thresholds, best first by the chosen measure."""
    page.require("analytics:read")
    mine = views.my_stores(page)
    given = {
        "store": store or CHAIN,
        "item": item or DEFAULTS["item"],
        "from": from_ or "",
        "to": to or "",
        "min_support": min_support or DEFAULTS["min_support"],
        "min_confidence": min_confidence or DEFAULTS["min_confidence"],
        "min_lift": min_lift or "",
        "contains": contains or "",
        "sort": sort if sort in basket_rules.SORTS else DEFAULTS["sort"],
    }
    errors: dict[str, str] = {}
    chosen = _store(page, given["store"], mine)
    if given["item"] not in basket_rules.ITEM_COLUMNS:
        errors["item"] = _("Choose products or categories.")
    start = _date(given["from"], "from", errors)
    end = _date(given["to"], "to", errors)
    support = _share(given["min_support"], "min_support", errors, above_zero=True)
    confidence = _share(given["min_confidence"], "min_confidence", errors)
    lift = _lift(given["min_lift"], errors)
    values: dict[str, Any] = {
        "stores": mine,
        "chain_wide": page.staff.store_ids is None,
        "chosen": chosen,
        "given": given,
        "errors": errors,
        "items": ITEM_NAMES,
        "sorts": SORT_NAMES,
        "result": None,
        "rows": [],
        "sort_links": {},
    }
    if errors:
        return page.html("console/basket.html", values, status=422)
    scope = basket_rules.BasketScope(
        store_id=chosen.id if chosen else None, start=start, end=end, item=given["item"]
    )
    thresholds = basket_rules.Thresholds(
        min_support=float(support or 0),
        min_confidence=float(confidence or 0),
        min_lift=lift,
        contains=given["contains"] or None,
        sort=given["sort"],
        limit=SHOWN,
    )
    try:
        result = basket_rules.basket_rules(page.ctx, scope, thresholds)
    except InvalidInput as exc:
        values["errors"] = forms.field_errors(exc, page.locale, FIELDS)
        return page.html("console/basket.html", values, status=422)
    values["result"] = result
    values["rows"] = [_row(r, page.locale) for r in result.rules]
    values["sort_links"] = {
        key: PATH + "?" + urlencode({**{k: v for k, v in given.items() if v}, "sort": key})
        for key in basket_rules.SORTS
    }
    return page.html("console/basket.html", values)


def _row(rule: basket_rules.RuleRow, locale: str) -> dict[str, Any]:
    """One rule as the table shows it: shares as percentages, ratios to two decimals."""
    return {
        "antecedent": rule.antecedent,
        "consequent": rule.consequent,
        "baskets": formats.number(rule.count, locale),
        "support": formats.percent(rule.support, locale, 2),
        "confidence": formats.percent(rule.confidence, locale, 1),
        "lift": formats.number(rule.lift, locale, 2),
        "leverage": formats.number(rule.leverage, locale, 4),
        "conviction": "∞" if rule.conviction is None else formats.number(rule.conviction, locale, 2),
    }


def _store(page: Page, value: str, mine: list[StoreOut]) -> StoreOut | None:
    """The store asked for among the user's (None: the chain, for chain-wide roles)."""
    if value == CHAIN:
        if page.staff.store_ids is not None:
            raise Denied
        return None
    if not value.isdigit():
        raise Denied
    page.require_store(int(value))
    found = next((s for s in mine if s.id == int(value)), None)
    if found is None:
        raise Denied
    return found


def _date(text: str, name: str, errors: dict[str, str]) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[name] = _("Enter a date such as 2026-03-31.")
        return None


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _share(text: str, name: str, errors: dict[str, str], *, above_zero: bool = False) -> float | None:
    """A share typed as 0.01 or as 1%."""
    cleaned = text.strip()
    value = _number(cleaned.removesuffix("%"))
    if value is not None and cleaned.endswith("%"):
        value /= 100
    if value is None or not (0 < value <= 1 if above_zero else 0 <= value <= 1):
        errors[name] = (
            _("Enter a share above 0 and at most 1, such as 0.01 or 1%.")
            if above_zero
            else _("Enter a share from 0 to 1, such as 0.5 or 50%.")
        )
        return None
    return value


def _lift(text: str, errors: dict[str, str]) -> float | None:
    if not text:
        return None
    value = _number(text)
    if value is None or value < 0:
        errors["min_lift"] = _("Enter a lift of 0 or more, such as 1.5.")
        return None
    return value
