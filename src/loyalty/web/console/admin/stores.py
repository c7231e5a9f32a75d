"""Stores and merchants (`stores:write`, admins): list, open a store, change its code, name, city,
time zone, region or merchant; add and rename merchants.

The forms call `services.merchants` (the API's `POST/PATCH /stores`, `/merchants`), so a store
changed here is checked, audited and all-or-nothing exactly as through the API.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from loyalty.domain.errors import DomainError
from loyalty.i18n import translator
from loyalty.services import merchants as merchants_service
from loyalty.services.schemas import MerchantIn, StoreIn
from loyalty.web.console import forms
from loyalty.web.console.admin.common import given
from loyalty.web.pages import ConsoleRoute, Page, StaffForm, StaffPage

_ = translator("web")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

STORES_PATH = "/console/admin/stores"
MERCHANTS_PATH = "/console/admin/merchants"
STORE_FIELDS = ("code", "name", "city", "timezone", "merchant_id", "region")
#: offered beside the time-zone field (any IANA zone may be typed)
COMMON_ZONES = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Macau",
    "Asia/Taipei",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Asia/Bangkok",
    "Asia/Kuala_Lumpur",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Australia/Sydney",
    "UTC",
)


@router.get("/admin/stores")
def stores_list(page: StaffPage) -> Response:
    """The chain's stores and merchants, each with a link to change it."""
    page.require("stores:write")
    merchants = merchants_service.list_merchants(page.ctx)
    names = {m.id: m.name for m in merchants}
    stores = merchants_service.list_stores(page.ctx)
    return page.html(
        "console/admin/stores.html",
        {
            "stores": stores,
            "merchants": merchants,
            "merchant_names": names,
            "may_keys": page.can("apikeys:manage"),
        },
    )


# --- stores ---------------------------------------------------------------------------------------


def _store_form(
    page: Page,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    *,
    store_id: int | None = None,
    status: int = 200,
) -> Response:
    merchants = merchants_service.list_merchants(page.ctx)
    return page.html(
        "console/admin/store_form.html",
        {
            "given": values,
            "errors": errors or {},
            "store_id": store_id,
            "merchants": [(m.id, f"{m.code} · {m.name}") for m in merchants],
            "zones": COMMON_ZONES,
        },
        status=status,
    )


def _read_store(page: Page, form: Any) -> tuple[dict[str, Any], dict[str, str], int | None]:
    """The store form as typed, its shape errors, and the merchant chosen."""
    values = given(form, *STORE_FIELDS)
    errors: dict[str, str] = {}
    merchant_id = None
    try:
        merchant_id = int(values["merchant_id"])
    except ValueError:
        errors["merchant_id"] = _("Choose a merchant.")
    for name in ("code", "name", "city", "timezone", "region"):  # each field on its own: every error at once
        try:
            merchants_service.check_store_fields(**{name: values[name]})
        except DomainError as exc:
            errors.update(forms.field_errors(exc, page.locale, set(STORE_FIELDS)))
    return values, errors, merchant_id


@router.get("/admin/stores/new")
def new_store(page: StaffPage) -> Response:
    """The form to open a store (the first merchant and the server's time zone preselected)."""
    page.require("stores:write")
    merchants = merchants_service.list_merchants(page.ctx)
    values = {"timezone": page.ctx.settings.timezone, "merchant_id": merchants[0].id if merchants else ""}
    return _store_form(page, values)


@router.post("/admin/stores")
def create_store(page: StaffPage, form: StaffForm) -> Response:
    """Open the store; each field checked and named, nothing written on an error."""
    page.require("stores:write")
    values, errors, merchant_id = _read_store(page, form)
    if errors or merchant_id is None:
        return _store_form(page, values, errors, status=422)
    data = StoreIn(
        merchant_id=merchant_id,
        code=values["code"],
        name=values["name"],
        city=values["city"] or None,
        timezone=values["timezone"],
        region=values["region"] or None,
    )
    try:
        store = merchants_service.create_store(page.ctx, data, actor=page.staff.to_actor())
    except DomainError as exc:
        errors = forms.field_errors(exc, page.locale, set(STORE_FIELDS))
        if exc.code == "DUPLICATE_STORE":
            errors = {"code": errors.pop("form", exc.localized(page.locale))}
        return _store_form(page, values, errors, status=422)
    return page.redirect(
        f"{STORES_PATH}/{store.id}", flash=_("Store {code} {name} opened.", code=store.code, name=store.name)
    )


@router.get("/admin/stores/{store_id}")
def store_page(store_id: int, page: StaffPage) -> Response:
    """One store's fields to change."""
    page.require("stores:write")
    store = merchants_service.get_store(page.ctx, store_id)
    values = {**store.model_dump(), "city": store.city or "", "region": store.region or ""}
    return _store_form(page, values, store_id=store_id)


@router.post("/admin/stores/{store_id}")
def update_store(store_id: int, page: StaffPage, form: StaffForm) -> Response:
    """Save the store's fields (all or nothing, audited with the values before)."""
    page.require("stores:write")
    merchants_service.get_store(page.ctx, store_id)  # a missing store is a 404 page, not a form error
    values, errors, merchant_id = _read_store(page, form)
    if errors or merchant_id is None:
        return _store_form(page, values, errors, store_id=store_id, status=422)
    changes = merchants_service.StoreChanges(
        code=values["code"],
        name=values["name"],
        city=values["city"] or None,
        timezone=values["timezone"],
        merchant_id=merchant_id,
        region=values["region"] or None,
    )
    try:
        store = merchants_service.update_store(page.ctx, store_id, changes, actor=page.staff.to_actor())
    except DomainError as exc:
        errors = forms.field_errors(exc, page.locale, set(STORE_FIELDS))
        return _store_form(page, values, errors, store_id=store_id, status=422)
    return page.redirect(STORES_PATH, flash=_("Store {code} {name} saved.", code=store.code, name=store.name))


# --- merchants ------------------------------------------------------------------------------------


def _merchant_form(
    page: Page,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    *,
    merchant: Any = None,
    status: int = 200,
) -> Response:
    return page.html(
        "console/admin/merchant_form.html",
        {
            "given": values,
            "errors": errors or {},
            "merchant": merchant,
            "currency": page.ctx.settings.currency,
        },
        status=status,
    )


@router.get("/admin/merchants/new")
def new_merchant(page: StaffPage) -> Response:
    """The form to add a merchant (a brand whose stores join the programme)."""
    page.require("stores:write")
    return _merchant_form(page, {})


@router.post("/admin/merchants")
def create_merchant(page: StaffPage, form: StaffForm) -> Response:
    """Add the merchant, in the programme's currency, with its ledger accounts."""
    page.require("stores:write")
    values = given(form, "code", "name")
    errors: dict[str, str] = {}
    if not merchants_service.STORE_CODE.match(values["code"]):
        errors["code"] = _("Use 1 to 32 letters, digits, _ or -.")
    if not 1 <= len(values["name"]) <= 100:
        errors["name"] = _("Use 1 to 100 characters.")
    if errors:
        return _merchant_form(page, values, errors, status=422)
    data = MerchantIn(code=values["code"], name=values["name"], currency=page.ctx.settings.currency)
    try:
        merchant = merchants_service.create_merchant(page.ctx, data, actor=page.staff.to_actor())
    except DomainError as exc:
        errors = forms.field_errors(exc, page.locale, {"code", "name"})
        if exc.code == "DUPLICATE_MERCHANT":
            errors = {"code": errors.pop("form", exc.localized(page.locale))}
        return _merchant_form(page, values, errors, status=422)
    return page.redirect(STORES_PATH, flash=_("Merchant {name} added.", name=merchant.name))


@router.get("/admin/merchants/{merchant_id}")
def merchant_page(merchant_id: int, page: StaffPage) -> Response:
    """A merchant's name to change (its code and currency stay)."""
    page.require("stores:write")
    merchant = merchants_service.get_merchant(page.ctx, merchant_id)
    return _merchant_form(page, {"name": merchant.name}, merchant=merchant)


@router.post("/admin/merchants/{merchant_id}")
def rename_merchant(merchant_id: int, page: StaffPage, form: StaffForm) -> Response:
    """Rename the merchant (audited)."""
    page.require("stores:write")
    merchant = merchants_service.get_merchant(page.ctx, merchant_id)
    values = given(form, "name")
    try:
        changed = merchants_service.update_merchant(
            page.ctx,
            merchant_id,
            merchants_service.MerchantChanges(name=values["name"]),
            actor=page.staff.to_actor(),
        )
    except DomainError as exc:
        errors = forms.field_errors(exc, page.locale, {"name"})
        return _merchant_form(page, values, errors, merchant=merchant, status=422)
    return page.redirect(STORES_PATH, flash=_("Merchant {name} saved.", name=changed.name))
