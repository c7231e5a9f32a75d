"""The till's actions on a member's card: post a sale with its lines, pay with points, take a return.

Each form is read here (amounts as decimals in the programme's currency, the store among the user's
own) and handed to the service that does the work in one transaction; the result comes back as a
one-shot message on the member's card. A form submitted twice repeats nothing: its receipt number or
request key was fixed when the form was rendered, and the services are idempotent on them.
"""

from __future__ import annotations

import re

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.responses import Response

from loyalty.api.errors import ApiError
from loyalty.api.ratelimit import Lookups
from loyalty.domain.errors import DomainError
from loyalty.i18n import translator
from loyalty.i18n.formats import money
from loyalty.services import points as points_service
from loyalty.services import purchases as purchases_service
from loyalty.services.earning_rules import quote as quote_service
from loyalty.services.offers.checkout import MAX_CODES
from loyalty.services.schemas import PurchaseIn, PurchaseLineIn, ReturnIn
from loyalty.web.console import forms
from loyalty.web.console.members import limited, member_path, render_member
from loyalty.web.pages import ConsoleRoute, Page, StaffForm, StaffPage

_ = translator("web")
_COUPON = re.compile(r"^[A-Za-z0-9 -]{1,40}$")
#: items the cashier is offered beside the cart (from the stored basket rules)
SUGGESTIONS = 3

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _given(form: FormData) -> dict[str, str]:
    return {str(k): v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


def _refused(page: Page, member_id: int, form: FormData, errors: dict[str, str], which: str) -> Response:
    """The member's page again with what was typed and the errors beside it (nothing was written)."""
    return render_member(
        page, member_id, errors={f"{which}.{k}": v for k, v in errors.items()}, given=_given(form), status=422
    )


def _sale_lines(form: FormData, currency: str, errors: dict[str, str]) -> list[PurchaseLineIn]:
    """The sale form's lines (empty rows left out), each bad field named in `errors`."""
    lines: list[PurchaseLineIn] = []
    for i in range(forms.SALE_LINES):
        sku, category, qty, price, discount, brand = (
            _text(form, f"{name}_{i}") for name in ("sku", "category", "qty", "price", "discount", "brand")
        )
        if not (sku or price):
            continue
        if not forms.CODE.match(sku):
            errors[f"sku_{i}"] = _("Enter the item code (letters, digits and - _ . : /).")
        for name, text in (("category", category), ("brand", brand)):
            if len(text) > 64:
                errors[f"{name}_{i}"] = _("At most {n} characters.", n=64)
        quantity = forms.whole(qty or "1", f"qty_{i}", errors, high=10_000)
        unit = forms.amount(price, currency, f"price_{i}", errors)
        off = forms.amount(discount, currency, f"discount_{i}", errors, required=False) or 0
        if quantity is not None and unit is not None and off > quantity * unit:
            errors[f"discount_{i}"] = _("The discount is more than the line's amount.")
        if quantity is not None and unit is not None and f"sku_{i}" not in errors:
            lines.append(
                PurchaseLineIn(
                    sku=sku,
                    category=category or None,
                    quantity=quantity,
                    unit_price_minor=unit,
                    discount_minor=off,
                    brand=brand or None,
                )
            )
    if not lines and not errors:
        errors["sku_0"] = _("Enter at least one line.")
    return lines


def _coupon_codes(form: FormData, errors: dict[str, str]) -> list[str]:
    """The sale form's coupon codes: one per line or separated by commas (a code may hold spaces)."""
    codes = [c.strip() for c in re.split(r"[,，\n]", _text(form, "coupons")) if c.strip()]
    if len(codes) > MAX_CODES:
        errors["coupons"] = _("At most {n} coupon codes.", n=MAX_CODES)
    elif any(not _COUPON.match(c) for c in codes):
        errors["coupons"] = _("A coupon code has letters, digits, spaces and dashes only.")
    return codes


@router.post("/members/{member_id}/sales")
def post_sale(member_id: int, page: StaffPage, form: StaffForm) -> Response:
    """Post a sale for the member at the user's store; the points it earns are shown on the card."""
    page.require("purchases:write")
    currency = page.ctx.settings.currency
    errors: dict[str, str] = {}
    store_id = forms.store_choice(page, _text(form, "store_id"), errors)
    order_id = _text(form, "order_id")
    if not forms.CODE.match(order_id):
        errors["order_id"] = _("Use letters, digits and - _ . : / only (at most 64).")
    lines = _sale_lines(form, currency, errors)
    codes = _coupon_codes(form, errors)
    if errors or store_id is None:
        return _refused(page, member_id, form, errors, "sale")
    page.require_store(store_id)
    sale = PurchaseIn(
        store_id=store_id,
        order_id=order_id,
        occurred_at=page.ctx.now(),
        member_id=member_id,
        currency=currency,
        lines=lines,
        coupon_codes=codes,
        apply_promotions=True,  # the console's till prices with the programme
    )
    try:
        if codes:  # a code no coupon answers to is a lookup's answer
            with Lookups.of(page.request, page.staff).guard():
                result = purchases_service.post_purchase(page.ctx, sale, actor=page.staff.to_actor())
        else:
            result = purchases_service.post_purchase(page.ctx, sale, actor=page.staff.to_actor())
    except ApiError as exc:
        return _refused(page, member_id, form, {"coupons": limited(exc)}, "sale")
    except DomainError as exc:
        if exc.code == "ORDER_ID_REUSED":  # a second submit of the form (its time differs), or a typo
            already = _("Receipt {order_id} was already posted; nothing was added.", order_id=order_id)
            return _refused(page, member_id, form, {"order_id": already}, "sale")
        if exc.code == "COUPON_NOT_USABLE":
            return _refused(page, member_id, form, {"coupons": exc.localized(page.locale)}, "sale")
        return _refused(page, member_id, form, forms.field_errors(exc, page.locale, {"coupons"}), "sale")
    if result.replayed:
        message = _("Receipt {order_id} was already posted; nothing was added.", order_id=order_id)
    elif result.coupons:
        message = _(
            "Sale {order_id} posted: {total} after {discount} off by coupons and promotions, "
            "{points} points earned.",
            order_id=order_id,
            total=money(result.total_minor, currency, page.locale),
            discount=money(sum(c.discount_minor for c in result.coupons), currency, page.locale),
            points=result.points_earned,
        )
    else:
        message = _(
            "Sale {order_id} posted: {total}, {points} points earned.",
            order_id=order_id,
            total=money(result.total_minor, currency, page.locale),
            points=result.points_earned,
        )
    return page.redirect(member_path(member_id), flash=message)


@router.post("/members/{member_id}/redeem")
def redeem(member_id: int, page: StaffPage, form: StaffForm) -> Response:
    """Pay with the member's points at the user's store."""
    page.require("points:redeem")
    currency = page.ctx.settings.currency
    errors: dict[str, str] = {}
    store_id = forms.store_choice(page, _text(form, "store_id"), errors)
    points = forms.whole(_text(form, "points"), "points", errors)
    order_id = _text(form, "order_id") or None
    if order_id is not None and not forms.CODE.match(order_id):
        errors["order_id"] = _("Use letters, digits and - _ . : / only (at most 64).")
    key = _text(form, "key")
    if not forms.CODE.match(key):
        errors["form"] = _("This form is incomplete; reload the page.")
    if errors or store_id is None or points is None:
        return _refused(page, member_id, form, errors, "redeem")
    page.require_store(store_id)
    try:
        result = points_service.redeem(
            page.ctx,
            member_id,
            points,
            store_id=store_id,
            order_id=order_id,
            idempotency_key=f"{page.staff.scope_key}:console:{key}",
            actor=page.staff.to_actor(),
        )
    except DomainError as exc:
        return _refused(page, member_id, form, forms.field_errors(exc, page.locale, {"points"}), "redeem")
    message = _(
        "{points} points redeemed for {value}; {balance} points left.",
        points=result.points,
        value=money(result.value_minor, currency, page.locale),
        balance=result.balance_after,
    )
    return page.redirect(member_path(member_id), flash=message)


@router.post("/members/{member_id}/returns")
def post_return(member_id: int, page: StaffPage, form: StaffForm) -> Response:
    """Take back a receipt of the member's, whole or for a refund amount; its points are reversed."""
    page.require("purchases:write")
    currency = page.ctx.settings.currency
    errors: dict[str, str] = {}
    store_id = forms.store_choice(page, _text(form, "store_id"), errors)
    order_id = _text(form, "order_id")
    if not forms.CODE.match(order_id):
        errors["order_id"] = _("Enter the receipt number.")
    refund = forms.amount(_text(form, "refund"), currency, "refund", errors, required=False)
    return_id = _text(form, "return_id")
    if not forms.CODE.match(return_id):
        errors["form"] = _("This form is incomplete; reload the page.")
    if errors or store_id is None:
        return _refused(page, member_id, form, errors, "return")
    page.require_store(store_id)
    try:
        with Lookups.of(page.request, page.staff).guard():  # tells whether a receipt exists
            sale = purchases_service.get_purchase(page.ctx, store_id=store_id, order_id=order_id)
        if sale.member_id != member_id:
            return _refused(
                page, member_id, form, {"order_id": _("This receipt is not this member's.")}, "return"
            )
        data = ReturnIn(
            store_id=store_id,
            return_id=return_id,
            order_id=order_id,
            occurred_at=page.ctx.now(),
            refund_minor=refund if refund is not None else sale.total_minor,
        )
        result = purchases_service.post_return(page.ctx, data, actor=page.staff.to_actor())
    except ApiError as exc:
        return _refused(page, member_id, form, {"form": limited(exc)}, "return")
    except DomainError as exc:
        return _refused(
            page, member_id, form, forms.field_errors(exc, page.locale, {"order_id", "refund"}), "return"
        )
    if result.replayed:
        message = _("This return was already posted; nothing changed.")
    else:
        message = _(
            "Return posted: {refund} refunded, {points} points taken back.",
            refund=money(result.refund_minor, currency, page.locale),
            points=result.points_reversed,
        )
    return page.redirect(member_path(member_id), flash=message)


@router.post("/members/{member_id}/sales/quote")
def quote_sale(member_id: int, page: StaffPage, form: StaffForm) -> Response:
    """The sale form's cart quoted before it is posted (an htmx fragment): the points each line would
    earn and the rules that give them, the points the member could pay with, and what to offer beside
    the cart (the stored basket rules). Nothing is written."""
    page.require("purchases:write")
    currency = page.ctx.settings.currency
    errors: dict[str, str] = {}
    store_id = forms.store_choice(page, _text(form, "store_id"), errors)
    lines = _sale_lines(form, currency, errors)
    codes = _coupon_codes(form, errors)
    if not errors and store_id is not None:
        page.require_store(store_id)
        cart = quote_service.QuoteIn(
            store_id=store_id,
            member_id=member_id,
            lines=lines,
            coupon_codes=codes,
            apply_promotions=True,
            suggestions=SUGGESTIONS,
        )
        try:
            quoted = quote_service.quote(page.ctx, cart)
        except DomainError as exc:
            errors = {"form": exc.localized(page.locale)}
        else:
            return page.html("console/sale_quote.html", {"quote": quoted, "errors": []})
    shown = [(_where(field), message) for field, message in errors.items()]
    return page.html("console/sale_quote.html", {"quote": None, "errors": shown}, status=422)


def _where(field: str) -> str:
    """A sale form's field as the cashier sees it: "line 2" for `price_1`; the form itself: ""."""
    name, _sep, row = field.rpartition("_")
    if name and row.isdigit():
        return _("Line {n}", n=int(row) + 1)
    return ""
