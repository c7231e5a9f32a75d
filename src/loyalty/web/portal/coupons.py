"""The member's coupons (`/m/coupons`): each code as printed, what it gives, from when it can be
used and until when, soonest expiry first. A member shows the code at the till (or types it in an
online order); the till applies it (`services.offers.checkout`)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from loyalty.web.offer_words import coupon_views
from loyalty.web.portal.access import MemberPage, PortalRoute

router = APIRouter(route_class=PortalRoute, include_in_schema=False)


@router.get("/coupons")
async def coupons(page: MemberPage) -> Response:
    """The member's coupons, usable now or later."""
    assert page.member_id is not None  # member_page sets it or sends to the sign-in page
    shown = await run_in_threadpool(coupon_views, page.ctx, page.member_id)
    return page.html("portal/coupons.html", {"coupons": shown, "zone": page.ctx.settings.timezone})
