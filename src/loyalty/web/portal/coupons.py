"""The member's coupons (`/m/coupons`): each code as printed, what it gives, from when it can be
used and until when, soonest expiry first. A member shows the code at the till (or types it in an
online order); the till applies it (`services.offers.checkout`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from loyalty.services.offers.coupons import wallet
from loyalty.web.offer_words import offer_words
from loyalty.web.pages import Page
from loyalty.web.portal.access import MemberPage, PortalRoute

router = APIRouter(route_class=PortalRoute, include_in_schema=False)


@dataclass(frozen=True)
class CouponView:
    code: str
    name: str
    gives: str
    usable_from: datetime
    expires_at: datetime | None
    waiting: bool  # not usable yet (a next-order coupon waits out the return window)


def _coupons(page: Page) -> list[CouponView]:
    assert page.member_id is not None  # member_page sets it or sends to the sign-in page
    now = page.ctx.now()
    currency = page.ctx.settings.currency
    return [
        CouponView(
            c.code,
            c.offer_name,
            offer_words(c.spec, currency),
            c.usable_from,
            c.expires_at,
            c.usable_from > now,
        )
        for c in wallet(page.ctx, page.member_id, at=now)
    ]


@router.get("/coupons")
async def coupons(page: MemberPage) -> Response:
    """The member's coupons, usable now or later."""
    shown = await run_in_threadpool(_coupons, page)
    return page.html("portal/coupons.html", {"coupons": shown, "zone": page.ctx.settings.timezone})
