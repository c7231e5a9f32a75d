"""The member's data package: everything the programme keeps about one person, in one document.

What a member asking for their data (PIPL art. 45, GDPR art. 15/20) is owed: their profile and
contact data, their consents and when they gave or withdrew them, the points statement with each
movement's reason, their purchases (lines and returns) and the receipts they claimed, their tier and
its history, the analytics scores the programme keeps about them (profiling), and the duplicate
records merged into theirs. It is read by the services that show each part elsewhere, so the
package says what the console and the API say.

The format is named and versioned (`FORMAT`); money is in integer minor units of `currency`, times
are aware ISO 8601 in UTC. An erased member's package shows what is left: no contact data.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from loyalty.bootstrap import Context
from loyalty.db.core_tables import audit_log, members, stores
from loyalty.domain.actors import SYSTEM, Actor
from loyalty.services import audit, purchase_history
from loyalty.services import members as members_service
from loyalty.services import points as points_service
from loyalty.services import tiers as tiers_service
from loyalty.services.common import read
from loyalty.services.purchase_history import PurchaseRecord
from loyalty.services.schemas import (
    Balance,
    MemberOut,
    MemberScores,
    MemberTier,
    StatementEntry,
    TierChange,
)

#: the package's format and version: a reader checks it before trusting the fields
FORMAT = "loyalty.member-data/1"
#: the audit log's action for an export
ACTION = "member.data_export"
#: the audit actions whose `after` snapshot records the member's marketing consent
_CONSENT_ACTIONS = ("member.register", "member.update")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StoreRef(_Model):
    id: int
    code: str
    name: str


class Profile(_Model):
    """The member's record; contact fields are None once erased."""

    id: int
    card_no: str
    member_code: str
    phone: str | None
    name: str | None
    email: str | None
    birthday: date | None
    gender: str | None
    tags: list[str]
    registration_store: StoreRef | None
    status: str
    tier_code: str
    merged_into_id: int | None
    created_at: datetime
    updated_at: datetime
    erased_at: datetime | None


class ConsentChange(_Model):
    """The consent as a change left it, and who made the change (`staff`, `member`, `system`…)."""

    at: datetime
    marketing_consent: bool
    by: str


class Consents(_Model):
    marketing_consent: bool
    history: list[ConsentChange]


class Points(_Model):
    balance: Balance
    #: every movement, oldest first, each with its rule and reason
    statement: list[StatementEntry]


class Claim(_Model):
    """A sale made without a card that the member claimed afterwards with its receipt."""

    purchase_id: int
    store_code: str
    order_id: str
    occurred_at: datetime
    claimed_at: datetime
    total_minor: int
    points_earned: int


class Tier(_Model):
    current: MemberTier
    #: every change, oldest first
    history: list[TierChange]


class MergedRecord(_Model):
    """A duplicate record of the same person that was merged into this member."""

    id: int
    card_no: str
    phone: str | None
    name: str | None
    email: str | None
    created_at: datetime
    #: its last change: the merge, as a merged record is not changed afterwards
    updated_at: datetime


class DataPackage(_Model):
    """One member's data package (`FORMAT`)."""

    format: str
    generated_at: datetime
    currency: str
    member: Profile
    consents: Consents
    points: Points
    #: every receipt, newest first, with lines and returns
    purchases: list[PurchaseRecord]
    claims: list[Claim]
    tier: Tier
    scores: MemberScores | None
    merged_records: list[MergedRecord]

    def counts(self) -> dict[str, int]:
        """How much the package holds, per part: what the audit log keeps of an export."""
        return {
            "purchases": len(self.purchases),
            "statement_entries": len(self.points.statement),
            "tier_changes": len(self.tier.history),
            "claims": len(self.claims),
            "merged_records": len(self.merged_records),
        }


def export_member_data(ctx: Context, member_id: int, *, actor: Actor | None = None) -> DataPackage:
    """Member `member_id`'s data package (MEMBER_NOT_FOUND when there is none); audited."""
    member = members_service.get_member(ctx, member_id)
    package = DataPackage(
        format=FORMAT,
        generated_at=ctx.now(),
        currency=ctx.settings.currency,
        member=_profile(ctx, member),
        consents=_consents(ctx, member),
        points=Points(
            balance=points_service.balance(ctx, member_id),
            statement=points_service.statement(ctx, member_id, limit=10_000_000),
        ),
        purchases=(receipts := _purchases(ctx, member_id)),
        claims=[_claim(r) for r in receipts if r.claimed_at is not None],
        tier=Tier(
            current=tiers_service.member_tier(ctx, member_id),
            history=tiers_service.tier_history(ctx, member_id),
        ),
        scores=member.scores,
        merged_records=_merged(ctx, member_id),
    )
    with ctx.engine.begin() as conn:
        audit.record(
            conn,
            actor or SYSTEM,
            ACTION,
            "member",
            member_id,
            None,
            {"format": FORMAT, **package.counts()},
            at=package.generated_at,
        )
    return package


def _profile(ctx: Context, member: MemberOut) -> Profile:
    gone = member.erased_at is not None
    store = None
    if member.registration_store_id is not None:
        with read(ctx) as conn:
            row = conn.execute(
                select(stores.c.id, stores.c.code, stores.c.name).where(
                    stores.c.id == member.registration_store_id
                )
            ).first()
        store = StoreRef(id=row.id, code=row.code, name=row.name) if row is not None else None
    return Profile(
        id=member.id,
        card_no=member.card_no,
        member_code=member.member_code,
        phone=None if gone else member.phone,
        name=None if gone else member.name,
        email=member.email,
        birthday=member.birthday,
        gender=member.gender,
        tags=list(member.tags),
        registration_store=store,
        status=member.status,
        tier_code=member.tier_code,
        merged_into_id=member.merged_into_id,
        created_at=member.created_at,
        updated_at=member.updated_at,
        erased_at=member.erased_at,
    )


def _consents(ctx: Context, member: MemberOut) -> Consents:
    """The consent now, and each change of it the audit log recorded (registration first)."""
    with read(ctx) as conn:
        rows = conn.execute(
            select(audit_log.c.at, audit_log.c.actor_kind, audit_log.c.after)
            .where(
                audit_log.c.entity == "member",
                audit_log.c.entity_id == str(member.id),
                audit_log.c.action.in_(_CONSENT_ACTIONS),
            )
            .order_by(audit_log.c.at, audit_log.c.id)
        ).all()
    return Consents(marketing_consent=member.marketing_consent, history=list(_changes(rows)))


def _changes(rows: Iterable[Any]) -> Iterable[ConsentChange]:
    last: bool | None = None
    for row in rows:
        after = row.after if isinstance(row.after, dict) else {}
        given = after.get("marketing_consent")
        if isinstance(given, bool) and given is not last:
            last = given
            yield ConsentChange(at=row.at, marketing_consent=given, by=row.actor_kind)


def _purchases(ctx: Context, member_id: int) -> list[PurchaseRecord]:
    """Every receipt, page by page (newest first), with its lines and returns."""
    found: list[PurchaseRecord] = []
    cursor: str | None = None
    while True:
        page = purchase_history.member_purchases(
            ctx, member_id, cursor=cursor, limit=purchase_history.MAX_LIMIT, lines=True
        )
        found += page.items
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def _claim(record: PurchaseRecord) -> Claim:
    assert record.claimed_at is not None
    return Claim(
        purchase_id=record.id,
        store_code=record.store_code,
        order_id=record.order_id,
        occurred_at=record.occurred_at,
        claimed_at=record.claimed_at,
        total_minor=record.total_minor,
        points_earned=record.points_earned,
    )


def _merged(ctx: Context, member_id: int) -> list[MergedRecord]:
    """The records merged into this member, directly or through one another, in merge order."""
    found: list[MergedRecord] = []
    frontier = [member_id]
    with read(ctx) as conn:
        while frontier:
            rows = conn.execute(
                select(
                    members.c.id,
                    members.c.card_no,
                    members.c.phone,
                    members.c.name,
                    members.c.email,
                    members.c.created_at,
                    members.c.updated_at,
                    members.c.erased_at,
                )
                .where(members.c.merged_into_id.in_(frontier))
                .order_by(members.c.updated_at, members.c.id)
            ).all()
            frontier = [int(r.id) for r in rows]
            found += [
                MergedRecord(
                    id=r.id,
                    card_no=r.card_no,
                    phone=None if r.erased_at is not None else r.phone,
                    name=None if r.erased_at is not None else r.name,
                    email=r.email,
                    created_at=r.created_at,
                    updated_at=r.updated_at,
                )
                for r in rows
            ]
    return found
