"""What the console's member pages show, gathered from the services in one place.

Each piece is read only when the user's role may see it (the API's permissions), contact data is
masked as the API masks it (`loyalty.api.views.sees_pii`), and a store's staff see the member's
receipts from their own stores only, as `GET /api/v1/members/{id}/purchases` shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from loyalty.api.security import mask_email, mask_phone
from loyalty.api.views import sees_pii
from loyalty.domain import tier_services
from loyalty.i18n import marker
from loyalty.services import members as members_service
from loyalty.services import merchants, purchase_history
from loyalty.services import points as points_service
from loyalty.services import tiers as tiers_service
from loyalty.services.schemas import (
    Balance,
    MemberOut,
    MemberTier,
    StatementEntry,
    StoreOut,
    TierChange,
    TierOut,
)
from loyalty.web.pages import Page

N_ = marker("web")

#: how far ahead the card lists expiring points
EXPIRY_HORIZON_DAYS = 90
RECEIPTS_SHOWN = 10
STATEMENT_SHOWN = 20

#: a points movement's kind as the statement names it
MOVEMENT_NAMES = {
    "earn": N_("Earned"),
    "redeem": N_("Redeemed"),
    "expire": N_("Expired"),
    "adjust": N_("Adjusted"),
    "bonus": N_("Bonus"),
    "return": N_("Returned"),
    "merge": N_("Merged"),
    "reward_refund": N_("Reward cancelled"),
}

#: why a member's tier changed
TIER_REASONS = {
    "register": N_("Registered"),
    "upgrade": N_("Upgraded"),
    "downgrade": N_("Downgraded"),
    "grace": N_("Grace period"),
    "merge": N_("Merged"),
    "manual_lock": N_("Set by staff"),
}


@dataclass
class Expiring:
    date: date
    points: int


@dataclass
class Movement:
    """A statement line; `visible` False hides the receipt number of another store's sale from a
    store's staff (they see the points, as the API shows them, not the other store's receipts)."""

    entry: StatementEntry
    store: StoreOut | None
    zone: str
    visible: bool


@dataclass
class MemberView:
    """A member as one console page shows them."""

    member: MemberOut
    phone: str | None
    email: str | None
    pii_masked: bool
    currency: str
    zone: str
    registered_at: StoreOut | None
    balance: Balance | None = None
    expiring: list[Expiring] = field(default_factory=list)
    tier: MemberTier | None = None
    tiers: dict[str, TierOut] = field(default_factory=dict)
    tier_history: list[TierChange] = field(default_factory=list)
    receipts: list[Any] | None = None
    statement: list[Movement] | None = None
    #: the member this one was merged into (a merged record's page points there)
    survivor: MemberOut | None = None

    @property
    def erased(self) -> bool:
        return self.member.erased_at is not None

    @property
    def closed(self) -> bool:
        """Merged away or erased: nothing more happens on this record (no sales, no merge)."""
        return self.erased or self.member.status == "merged"

    @property
    def tier_name(self) -> str:
        found = self.tiers.get(self.member.tier_code)
        return found.name if found else self.member.tier_code

    @property
    def tier_services(self) -> list[tuple[str, str]]:
        """What the member's tier gives besides points, as (code, label in the page's language)."""
        return [(code, tier_services.label(code)) for code in self.member.tier_services]

    def tier_name_of(self, code: str | None) -> str:
        if code is None:
            return ""
        found = self.tiers.get(code)
        return found.name if found else code

    @property
    def progress(self) -> float | None:
        """How far the qualifying spend is towards the next tier (0–1), None at the top."""
        if self.tier is None or self.tier.next_tier is None or self.tier.next_tier.threshold_minor <= 0:
            return None
        return min(self.tier.qualifying_minor / self.tier.next_tier.threshold_minor, 1.0)


def store_map(page: Page) -> dict[int, StoreOut]:
    return {s.id: s for s in merchants.list_stores(page.ctx)}


def my_stores(page: Page) -> list[StoreOut]:
    """The stores the user acts for (every store for chain-wide roles)."""
    return [s for s in merchants.list_stores(page.ctx) if page.staff.covers_store(s.id)]


def masked(page: Page, member: MemberOut) -> tuple[str | None, str | None, bool]:
    """(phone, email, masked?) as the user may see them (none left once erased)."""
    if member.erased_at is not None:
        return None, None, False
    show = sees_pii(page.staff, member.registration_store_id)
    if show:
        return member.phone, member.email, False
    return mask_phone(member.phone), mask_email(member.email), True


def member_view(page: Page, member_id: int, *, full: bool) -> MemberView:
    """The member's card (`full=False`: the till's view) or the whole 360° page."""
    ctx = page.ctx
    member = members_service.get_member(ctx, member_id)
    stores = store_map(page)
    phone, email, hidden = masked(page, member)
    view = MemberView(
        member=member,
        phone=phone,
        email=email,
        pii_masked=hidden,
        currency=ctx.settings.currency,
        zone=ctx.settings.timezone,
        registered_at=stores.get(member.registration_store_id or -1),
        tiers={t.code: t for t in tiers_service.list_tiers(ctx)},
    )
    if member.status == "merged" and member.merged_into_id is not None:
        view.survivor = members_service.get_member(ctx, member.merged_into_id)
    if page.can("points:read"):
        view.balance = points_service.balance(ctx, member_id)
        horizon = ctx.now().astimezone(ZoneInfo(view.balance.timezone)).date()
        view.expiring = [
            Expiring(x.date, x.points)
            for x in view.balance.expiry_schedule
            if (x.date - horizon).days <= EXPIRY_HORIZON_DAYS
        ]
    if page.can("tiers:read"):
        view.tier = tiers_service.member_tier(ctx, member_id)
    if not full:
        return view
    if page.can("tiers:read"):
        view.tier_history = list(reversed(tiers_service.tier_history(ctx, member_id)))
    if page.can("purchases:read"):
        scope = page.staff.store_ids
        view.receipts = purchase_history.member_purchases(
            ctx, member_id, store_ids=sorted(scope) if scope is not None else None, limit=RECEIPTS_SHOWN
        ).items
    if page.can("points:read"):
        entries = points_service.statement(ctx, member_id, limit=100_000)[-STATEMENT_SHOWN:]
        view.statement = [
            Movement(
                e,
                stores.get(e.store_id) if e.store_id is not None else None,
                stores[e.store_id].timezone if e.store_id in stores else ctx.settings.timezone,
                e.store_id is None or page.staff.covers_store(e.store_id),
            )
            for e in reversed(entries)
        ]
    return view
