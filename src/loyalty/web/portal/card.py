"""What a signed-in member sees: their card with its QR code, points and the expiry schedule, tier
and progress, the points history with reasons, their purchases, and their profile with marketing
consent (the one thing they change here).

Every page reads the member from the session (`page.member_id`); no route names a member.
"""

from __future__ import annotations

import base64
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from loyalty.api.qr import card_payload, qr_svg
from loyalty.api.security import mask_email, mask_phone
from loyalty.domain.actors import Actor
from loyalty.i18n import translator
from loyalty.services import members as members_service
from loyalty.services import merchants, purchase_history
from loyalty.services import points as points_service
from loyalty.services import tiers as tiers_service
from loyalty.services.schemas import MemberUpdate
from loyalty.web.console.views import MOVEMENT_NAMES, Expiring, MemberView, Movement
from loyalty.web.pages import Page
from loyalty.web.portal.access import MemberForm, MemberPage, PortalRoute
from loyalty.web.portal.feedback import rating_states

_ = translator("web")

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

HISTORY_SHOWN = 50
RECEIPTS_SHOWN = 20


def _member_id(page: Page) -> int:
    assert page.member_id is not None  # member_page sets it or sends to the sign-in page
    return page.member_id


def _view(page: Page, *, history: bool) -> MemberView:
    ctx = page.ctx
    member_id = _member_id(page)
    member = members_service.get_member(ctx, member_id)
    view = MemberView(
        member=member,
        phone=mask_phone(member.phone),
        email=mask_email(member.email),
        pii_masked=True,
        currency=ctx.settings.currency,
        zone=ctx.settings.timezone,
        registered_at=None,
        tiers={t.code: t for t in tiers_service.list_tiers(ctx)},
    )
    view.balance = points_service.balance(ctx, member_id)
    today = ctx.now().astimezone(ZoneInfo(view.balance.timezone)).date()
    view.expiring = [Expiring(x.date, x.points) for x in view.balance.expiry_schedule if x.date >= today]
    view.tier = tiers_service.member_tier(ctx, member_id)
    if history:
        stores = {s.id: s for s in merchants.list_stores(ctx)}
        entries = points_service.statement(ctx, member_id, limit=100_000)[-HISTORY_SHOWN:]
        view.statement = [
            Movement(
                e,
                stores.get(e.store_id) if e.store_id is not None else None,
                stores[e.store_id].timezone if e.store_id in stores else ctx.settings.timezone,
                True,
            )
            for e in reversed(entries)
        ]
        view.receipts = purchase_history.member_purchases(ctx, member_id, limit=RECEIPTS_SHOWN).items
    return view


def _qr(member_code: str) -> str:
    """The card's QR code as a data: URI (the CSP allows data: images; nothing goes in a URL)."""
    return "data:image/svg+xml;base64," + base64.b64encode(qr_svg(card_payload(member_code))).decode()


@router.get("")
async def card(page: MemberPage) -> Response:
    """The member's card: QR code, points, what expires when, tier and progress."""
    view = await run_in_threadpool(_view, page, history=False)
    return page.html("portal/card.html", {"view": view, "qr": _qr(view.member.member_code)})


@router.get("/history")
async def history(page: MemberPage) -> Response:
    """The points history with the reason of each movement, and the member's purchases with their
    ratings (or the form to rate them)."""
    view = await run_in_threadpool(_view, page, history=True)
    ratings = await run_in_threadpool(
        rating_states, page.ctx, _member_id(page), view.receipts or [], page.ctx.now()
    )
    values = {"view": view, "movement_names": MOVEMENT_NAMES, "ratings": ratings}
    return page.html("portal/history.html", values)


@router.get("/profile")
async def profile(page: MemberPage) -> Response:
    """The member's profile (contact details masked as on every screen) and marketing consent."""
    view = await run_in_threadpool(_view, page, history=False)
    return page.html("portal/profile.html", {"view": view})


@router.post("/profile")
async def set_consent(page: MemberPage, form: MemberForm) -> Response:
    """Give or withdraw marketing consent (audited as the member's own change)."""
    consent = form.get("marketing_consent") == "yes"
    member_id = _member_id(page)
    actor = Actor(kind="member", id=str(member_id), role="member")
    await run_in_threadpool(
        members_service.update_member,
        page.ctx,
        member_id,
        MemberUpdate(marketing_consent=consent),
        actor=actor,
    )
    message = _("You will receive offers.") if consent else _("You will not receive offers.")
    return page.redirect("/m/profile", flash=message)
