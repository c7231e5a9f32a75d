"""An offer in a sentence a member or a marketer reads ("Spend ¥100, ¥20 off"), in the page's
language: what the coupon gives, then where it applies. Shared by the portal's coupons and the
console's pages that list offers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from loyalty.bootstrap import Context
from loyalty.domain.programme.offers import OfferSpec
from loyalty.i18n import current_locale, translator
from loyalty.i18n.formats import money

_ = translator("web")


def offer_words(spec: OfferSpec, currency: str) -> str:
    """What `spec` gives and on what, e.g. "Spend ¥300, ¥80 off · coffee, tea"."""
    locale = current_locale()

    def cash(minor: int) -> str:
        return money(minor, currency, locale)

    if spec.kind == "percent_off":
        what = _("{percent}% off", percent=spec.percent)
    elif spec.kind == "amount_off":
        what = _("{amount} off", amount=cash(spec.amount_minor))
    elif spec.kind == "ladder" and spec.repeat:
        over, off = spec.steps[0]
        what = _("{off} off every {over} spent", off=cash(off), over=cash(over))
    elif spec.kind == "ladder":
        what = _("; ").join(
            _("Spend {over}, {off} off", over=cash(over), off=cash(off)) for over, off in spec.steps
        )
    elif spec.kind == "buy_x_get_y":
        what = _("Buy {buy}, get {get} free", buy=spec.buy, get=spec.get)
    else:
        what = _("A free {item}", item=_(" or ").join(sorted(spec.when.skus)) or _("gift"))
    parts = [what]
    if spec.max_discount_minor:
        parts.append(_("at most {amount}", amount=cash(spec.max_discount_minor)))
    if spec.when.categories:
        parts.append(_("on {categories}", categories=_(", ").join(sorted(spec.when.categories))))
    if spec.when.min_spend_minor and spec.kind != "ladder":
        parts.append(_("from {amount} spent", amount=cash(spec.when.min_spend_minor)))
    return " · ".join(parts)


@dataclass(frozen=True)
class CouponView:
    """A coupon of a member's wallet as a page shows it."""

    code: str
    name: str
    gives: str
    usable_from: datetime
    expires_at: datetime | None
    waiting: bool  # not usable yet (a next-order coupon waits out the return window)


def coupon_views(ctx: Context, member_id: int) -> list[CouponView]:
    """The member's coupons usable now or later, soonest expiry first, each in words."""
    from loyalty.services.offers.coupons import wallet

    now = ctx.now()
    currency = ctx.settings.currency
    return [
        CouponView(
            c.code,
            c.offer_name,
            offer_words(c.spec, currency),
            c.usable_from,
            c.expires_at,
            c.usable_from > now,
        )
        for c in wallet(ctx, member_id, at=now)
    ]
