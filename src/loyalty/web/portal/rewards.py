"""The member's rewards (`/m/rewards`): the catalogue at the price for their tier, with what they may
still order (a reward for tiers they are not in shown locked, with the tiers it is for), and their
orders; ordering spends their points at the store they registered at
(`services.rewards.redeem`, audited as the member's own order)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from loyalty.domain.actors import Actor
from loyalty.domain.errors import DomainError
from loyalty.i18n import marker, translator
from loyalty.services import members as members_service
from loyalty.services import points as points_service
from loyalty.services.rewards import orders, redeem
from loyalty.web.pages import Page
from loyalty.web.portal.access import MemberForm, MemberPage, PortalRoute

_ = translator("web")
N_ = marker("web")
STATUS_NAMES = {
    "reserved": N_("Reserved"),
    "shipped": N_("Shipped"),
    "collected": N_("Collected"),
    "fulfilled": N_("Fulfilled"),
    "cancelled": N_("Cancelled"),
}

router = APIRouter(route_class=PortalRoute, include_in_schema=False)


def _values(page: Page) -> dict[str, object]:
    assert page.member_id is not None  # member_page sets it or sends to the sign-in page
    ctx = page.ctx
    now = ctx.now()
    return {
        "items": [
            i for i in orders.member_catalogue(ctx, page.member_id, at=now) if i.reward.available_at(now)
        ],
        "orders": orders.member_orders(ctx, page.member_id, limit=20),
        "available": points_service.balance(ctx, page.member_id).available,
        "zone": ctx.settings.timezone,
        "statuses": STATUS_NAMES,
    }


@router.get("/rewards")
async def rewards(page: MemberPage) -> Response:
    """What the member may buy with their points, and their orders."""
    return page.html("portal/rewards.html", await run_in_threadpool(_values, page))


@router.post("/rewards/{code}/order")
async def order(code: str, page: MemberPage, form: MemberForm) -> Response:
    """Order reward `code` with the member's points, to collect at their store."""
    assert page.member_id is not None
    member_id = page.member_id

    def place() -> str:
        member = members_service.get_member(page.ctx, member_id)
        if member.registration_store_id is None:
            return _("Ask at a store to order this reward.")
        try:
            made = redeem.redeem(
                page.ctx,
                member_id,
                code,
                store_id=member.registration_store_id,
                actor=Actor(kind="member", id=str(member_id), role="member"),
            )
        except DomainError as exc:
            return exc.localized(page.locale)
        return _("Ordered: {name} for {points} points.", name=made.reward_name, points=made.points)

    message = await run_in_threadpool(place)
    return page.redirect("/m/rewards", flash=message)
