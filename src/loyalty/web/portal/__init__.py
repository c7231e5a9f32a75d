"""The member portal (`/m`): a member signs in with phone and a one-time code and sees their card
with its QR code, points and their expiry, tier and progress, history and purchases, and sets their
marketing consent, and rates their recent purchases. It shares `loyalty.web.session`, `csrf`, `i18n`
and `pages` with the staff console, with cookies of its own (see docs/adr/0004-web-console.md)."""

from __future__ import annotations

from fastapi import APIRouter

from loyalty.web.portal import card, coupons, feedback, rewards, signin
from loyalty.web.portal.access import PREFIX, PortalRoute

router = APIRouter(route_class=PortalRoute, include_in_schema=False)
for _part in (signin, card, coupons, rewards, feedback):
    router.include_router(_part.router, prefix=PREFIX)
