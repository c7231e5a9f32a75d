"""The basket-rules browser (`/console/analytics/basket`): which products (or categories) sell together.

By default the page reads the stored rules (`services.basket_rules.stored_rules`): the rules the
basket-rules job mined for the chain and each store over the last 90 days, filtered by store, level
(SKUs or categories), an item's name and a minimum lift, sorted by any measure through the column
headers, 50 a page; it says when the set was computed, over which days and at which thresholds. A
refresh button starts the job (jobs:run's sibling, analytics:refresh) and the page follows its progress.

A custom scope (any business days, thresholds, SKUs or categories) may still be mined on request, as
the API's `GET /api/v1/analytics/basket-rules`, within the same bounds, whose refusals (too many
purchase lines, a support that would explode) are shown in words beside the form: a request naming
any of `from`, `to`, `min_support`, `min_confidence` or `item` is such a question (a bookmarked
query of the earlier page keeps working). No personal data either way, so the URL may carry it.
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
from loyalty.services import jobs as jobs_service
from loyalty.services.schemas import StoreOut
from loyalty.web.console import forms, views
from loyalty.web.console.jobs import latest_shown, start_job
from loyalty.web.pages import ConsoleRoute, Denied, Page, StaffForm, StaffPage

_ = translator("web")
N_ = marker("web")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PATH = "/console/analytics/basket"
CHAIN = "chain"
#: rules one mined answer lists (the count of all that pass is shown above the table)
SHOWN = 200
#: stored rules a page lists
PER_PAGE = 50
MAX_PAGE = 10_000
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
Short = Annotated[str | None, Query(max_length=20)]


@router.get("/analytics/basket")
def basket_page(
    page: StaffPage,
    store: Short = None,
    level: Short = None,
    item: Short = None,
    from_: Annotated[str | None, Query(alias="from", max_length=20)] = None,
    to: Short = None,
    min_support: Short = None,
    min_confidence: Short = None,
    min_lift: Short = None,
    contains: Text = None,
    sort: Short = None,
    page_: Annotated[str | None, Query(alias="page", max_length=10)] = None,
) -> Response:
    """The stored rules of the chosen scope (or, for a custom question, the rules mined now)."""
    page.require("analytics:read")
    mine = views.my_stores(page)
    chosen_store = _store(page, store or (CHAIN if page.staff.store_ids is None else ""), mine)
    common: dict[str, Any] = {
        "stores": mine,
        "chain_wide": page.staff.store_ids is None,
        "chosen": chosen_store,
        "items": ITEM_NAMES,
        "sorts": SORT_NAMES,
        "zone": page.ctx.settings.timezone,
    }
    custom = any(v is not None for v in (item, from_, to, min_support, min_confidence))
    if custom:
        return _mined(
            page, common, store, item, from_, to, min_support, min_confidence, min_lift, contains, sort
        )
    return _stored(page, common, level, min_lift, contains, sort, page_)


@router.post("/analytics/basket/refresh")
def refresh(page: StaffPage, form: StaffForm) -> Response:
    """Mine the chain and every store again (the basket-rules job); the page follows its progress."""
    return start_job(page, jobs_service.BASKET_RULES, PATH)


# --- the stored rules ---------------------------------------------------------------------------------


def _stored(
    page: Page,
    common: dict[str, Any],
    level: str | None,
    min_lift: str | None,
    contains: str | None,
    sort: str | None,
    page_: str | None,
) -> Response:
    chosen: StoreOut | None = common["chosen"]
    given = {
        "store": CHAIN if chosen is None else str(chosen.id),
        "level": level or "sku",
        "contains": contains or "",
        "min_lift": min_lift or "",
        "sort": sort if sort in basket_rules.SORTS else DEFAULTS["sort"],
    }
    errors: dict[str, str] = {}
    if given["level"] not in basket_rules.ITEM_COLUMNS:
        errors["level"] = _("Choose products or categories.")
    lift = _lift(given["min_lift"], errors)
    number = 1
    if page_:
        number = int(page_) if page_.isdigit() else 0
        if not 1 <= number <= MAX_PAGE:
            errors["form"] = _("There is no such page of rules: start from the first.")
    values: dict[str, Any] = {
        **common,
        "custom": False,
        "given": given,
        "errors": errors,
        "job": latest_shown(page, jobs_service.BASKET_RULES),
        "stored": None,
        "rows": [],
        "sort_links": {},
        "pages": {},
        "custom_given": {
            "store": given["store"],
            "item": DEFAULTS["item"],
            "from": "",
            "to": "",
            "min_support": DEFAULTS["min_support"],
            "min_confidence": DEFAULTS["min_confidence"],
            "min_lift": "",
            "contains": "",
            "sort": DEFAULTS["sort"],
        },
    }
    if errors:
        return page.html("console/basket.html", values, status=422)
    try:
        found = basket_rules.stored_rules(
            page.ctx,
            store_id=chosen.id if chosen else None,
            level=given["level"],
            contains=given["contains"] or None,
            min_lift=lift,
            sort=given["sort"],
            offset=(number - 1) * PER_PAGE,
            limit=PER_PAGE,
        )
    except InvalidInput as exc:
        values["errors"] = forms.field_errors(exc, page.locale, {"level", "contains", "min_lift", "sort"})
        return page.html("console/basket.html", values, status=422)
    values["stored"] = found
    values["info"] = _set_view(found.rule_set, page.locale) if found.rule_set else None
    values["rows"] = [_row(r, page.locale) for r in found.rules]
    kept = {k: v for k, v in given.items() if v and not (k == "sort" and v == DEFAULTS["sort"])}
    values["sort_links"] = {key: PATH + "?" + urlencode({**kept, "sort": key}) for key in basket_rules.SORTS}
    values["pages"] = _pages(kept, number, found.total, page.locale)
    return page.html("console/basket.html", values)


def _set_view(s: basket_rules.RuleSet, locale: str) -> dict[str, Any]:
    """A set's provenance as the page writes it."""
    return {
        "computed_at": s.computed_at,
        "start": formats.day(s.period_start, locale),
        "end": formats.day(s.period_end, locale),
        "baskets": formats.number(s.baskets, locale),
        "distinct_items": formats.number(s.items, locale),
        "itemsets": formats.number(s.itemsets, locale),
        "min_support": formats.percent(s.min_support, locale, 2),
        "min_count": formats.number(s.min_count, locale),
        "min_confidence": formats.percent(s.min_confidence, locale, 0),
        "min_length": s.min_length,
        "max_length": s.max_length,
        "found": formats.number(s.rules_found, locale),
        "kept": formats.number(s.rules_stored, locale),
        "cut": s.rules_stored < s.rules_found,
        "baskets_raw": s.baskets,
        "too_few": s.baskets < s.min_count,
    }


def _pages(kept: dict[str, str], number: int, total: int, locale: str) -> dict[str, Any]:
    last = max(1, math.ceil(total / PER_PAGE))

    def link(n: int) -> str:
        return PATH + "?" + urlencode({**kept, **({"page": str(n)} if n > 1 else {})})

    first_shown = (number - 1) * PER_PAGE + 1
    return {
        "first": formats.number(min(first_shown, total), locale),
        "last": formats.number(min(number * PER_PAGE, total), locale),
        "total": formats.number(total, locale),
        "number": number,
        "count": last,
        "previous": link(number - 1) if number > 1 else None,
        "next": link(number + 1) if number < last else None,
    }


# --- a custom scope, mined now --------------------------------------------------------------------------


def _mined(
    page: Page,
    common: dict[str, Any],
    store: str | None,
    item: str | None,
    from_: str | None,
    to: str | None,
    min_support: str | None,
    min_confidence: str | None,
    min_lift: str | None,
    contains: str | None,
    sort: str | None,
) -> Response:
    """The rules of the chosen scope at the chosen thresholds, best first by the chosen measure."""
    chosen: StoreOut | None = common["chosen"]
    given = {
        "store": CHAIN if chosen is None else str(chosen.id),
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
    if given["item"] not in basket_rules.ITEM_COLUMNS:
        errors["item"] = _("Choose products or categories.")
    start = _date(given["from"], "from", errors)
    end = _date(given["to"], "to", errors)
    support = _share(given["min_support"], "min_support", errors, above_zero=True)
    confidence = _share(given["min_confidence"], "min_confidence", errors)
    lift = _lift(given["min_lift"], errors)
    values: dict[str, Any] = {
        **common,
        "custom": True,
        "given": given,
        "custom_given": given,
        "errors": errors,
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
    """The store asked for among the user's (None: the chain, for chain-wide roles; a store user
    without a choice gets their first store)."""
    if not value:
        if not mine:
            raise Denied
        return mine[0]
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
