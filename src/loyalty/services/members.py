"""Member registry: register, look up, update, deactivate and merge.

Phones are stored in E.164 after `phonenumbers` normalisation (default region from settings, CN), so
'138 0013 8000', '+86 138-0013-8000' and '13800138000' are one member.
"""

from __future__ import annotations

from typing import Any

import phonenumbers
from sqlalchemy import Connection, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from loyalty.bootstrap import Context
from loyalty.db.core_tables import (
    accounts,
    members,
    point_lots,
    purchases,
    stores,
    tier_history,
    tiers,
)
from loyalty.domain.actors import SYSTEM, Actor
from loyalty.domain.cards import luhn_valid, new_card_number, new_member_code
from loyalty.domain.errors import Conflict, InvalidInput, NotFound
from loyalty.domain.tiers import TierDef, tier_for_spend
from loyalty.services import audit
from loyalty.services.common import (
    default_programme,
    lock_member_accounts,
    post_transfer,
    qualifying_spend,
    read,
    set_account,
)
from loyalty.services.schemas import MemberIn, MemberOut, MemberUpdate

_MEMBER_COLS = [
    c for c in members.c if c.name not in ("tier_locked_until", "tier_lock_reason", "tier_grace_until")
]


def normalise_phone(raw: str, region: str = "CN") -> str:
    """E.164 form of `raw`, or `InvalidInput(PHONE_INVALID)`."""
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput.field("phone", f"cannot parse phone number {raw!r}", "PHONE_INVALID") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput.field("phone", f"{raw!r} is not a valid phone number", "PHONE_INVALID")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _out(conn: Connection, member_id: int) -> MemberOut:
    row = conn.execute(
        select(*_MEMBER_COLS, tiers.c.code.label("tier_code"))
        .join(tiers, tiers.c.id == members.c.tier_id)
        .where(members.c.id == member_id)
    ).first()
    if row is None:
        raise NotFound("MEMBER_NOT_FOUND", f"member {member_id} does not exist", {"member_id": member_id})
    data = row._asdict()
    data["tags"] = list(data["tags"] or [])
    return MemberOut.model_validate(data)


def _lowest_tier_id(conn: Connection) -> int:
    tid = conn.execute(select(tiers.c.id).order_by(tiers.c.rank).limit(1)).scalar()
    if tid is None:
        raise NotFound("TIER_NOT_FOUND", "no tiers configured; run seed.ensure_programme")
    return int(tid)


def register_member(ctx: Context, data: MemberIn, *, actor: Actor | None = None) -> MemberOut:
    """Register a member at the lowest tier with a fresh card number, member code and ledger account."""
    phone = normalise_phone(data.phone, ctx.settings.phone_region)
    if not data.name.strip():
        raise InvalidInput.field("name", "name must not be empty", "NAME_REQUIRED")
    now = ctx.now()
    try:
        with ctx.engine.begin() as conn:
            if conn.execute(select(members.c.id).where(members.c.phone == phone)).first():
                raise Conflict(
                    "DUPLICATE_PHONE", f"a member with phone {phone} already exists", {"phone": phone}
                )
            if data.registration_store_id is not None and (
                conn.execute(select(stores.c.id).where(stores.c.id == data.registration_store_id)).first()
                is None
            ):
                raise NotFound("STORE_NOT_FOUND", f"store {data.registration_store_id} does not exist")
            values = data.model_dump()
            values.update(
                phone=phone,
                card_no=new_card_number(),
                member_code=new_member_code(),
                status="active",
                tier_id=_lowest_tier_id(conn),
                created_at=now,
                updated_at=now,
            )
            mid = int(conn.execute(insert(members).values(**values).returning(members.c.id)).scalar_one())
            conn.execute(
                insert(accounts).values(kind="member", member_id=mid, balance=0, debt=0, created_at=now)
            )
            conn.execute(
                insert(tier_history).values(
                    member_id=mid, from_tier_id=None, to_tier_id=values["tier_id"], reason="register", at=now
                )
            )
            out = _out(conn, mid)
            if actor is not None:
                audit.record(conn, actor, "member.register", "member", mid, None, out.model_dump(), at=now)
    except IntegrityError as exc:  # a concurrent registration with the same phone won the race
        raise Conflict(
            "DUPLICATE_PHONE", f"a member with phone {phone} already exists", {"phone": phone}
        ) from exc
    return out


def get_member(ctx: Context, member_id: int) -> MemberOut:
    with read(ctx) as conn:
        return _out(conn, member_id)


def resolve_member_id(
    conn: Connection,
    *,
    member_id: int | None = None,
    phone: str | None = None,
    card_no: str | None = None,
    member_code: str | None = None,
    region: str = "CN",
) -> int:
    """Id of the member identified by exactly one key; raises MEMBER_NOT_FOUND or InvalidInput."""
    given = [
        k
        for k, v in (
            ("member_id", member_id),
            ("phone", phone),
            ("card_no", card_no),
            ("member_code", member_code),
        )
        if v is not None
    ]
    if len(given) != 1:
        raise InvalidInput.field(
            "member",
            "identify the member by exactly one of member_id, phone, card_no, member_code",
            "MEMBER_REF_INVALID",
        )
    if member_id is not None:
        cond = members.c.id == member_id
    elif phone is not None:
        cond = members.c.phone == normalise_phone(phone, region)
    elif card_no is not None:
        if not luhn_valid(card_no):
            raise InvalidInput.field("card_no", "card number check digit is wrong", "CARD_NO_INVALID")
        cond = members.c.card_no == card_no
    else:
        cond = members.c.member_code == member_code
    mid = conn.execute(select(members.c.id).where(cond)).scalar()
    if mid is None:
        raise NotFound(
            "MEMBER_NOT_FOUND",
            f"no member with {given[0]}",
            {given[0]: str(member_id or phone or card_no or member_code)},
        )
    return int(mid)


def find_member(
    ctx: Context,
    *,
    member_id: int | None = None,
    phone: str | None = None,
    card_no: str | None = None,
    member_code: str | None = None,
) -> MemberOut:
    """Look a member up by id, phone (any format), card number or QR member code."""
    with read(ctx) as conn:
        mid = resolve_member_id(
            conn,
            member_id=member_id,
            phone=phone,
            card_no=card_no,
            member_code=member_code,
            region=ctx.settings.phone_region,
        )
        return _out(conn, mid)


def search_members(
    ctx: Context, query: str | None = None, *, status: str | None = None, limit: int = 50, offset: int = 0
) -> list[MemberOut]:
    """Members whose name, phone or card number contains `query`, newest first."""
    stmt = select(members.c.id).order_by(members.c.id.desc()).limit(limit).offset(offset)
    if query:
        like = f"%{query}%"
        stmt = stmt.where(
            or_(members.c.name.like(like), members.c.phone.like(like), members.c.card_no.like(like))
        )
    if status:
        stmt = stmt.where(members.c.status == status)
    with read(ctx) as conn:
        return [_out(conn, int(mid)) for mid in conn.execute(stmt).scalars()]


def update_member(
    ctx: Context, member_id: int, changes: MemberUpdate, *, actor: Actor | None = None
) -> MemberOut:
    """Change contact and profile fields; the phone is re-normalised and must stay unique."""
    values: dict[str, Any] = changes.model_dump(exclude_none=True)
    if "phone" in values:
        values["phone"] = normalise_phone(values["phone"], ctx.settings.phone_region)
    now = ctx.now()
    try:
        with ctx.engine.begin() as conn:
            before = _out(conn, member_id)
            if (
                "phone" in values
                and values["phone"] != before.phone
                and conn.execute(select(members.c.id).where(members.c.phone == values["phone"])).first()
            ):
                raise Conflict("DUPLICATE_PHONE", f"a member with phone {values['phone']} already exists")
            if values:
                conn.execute(
                    update(members).where(members.c.id == member_id).values(**values, updated_at=now)
                )
            after = _out(conn, member_id)
            audit.record(
                conn,
                actor or SYSTEM,
                "member.update",
                "member",
                member_id,
                before.model_dump(),
                after.model_dump(),
                at=now,
            )
    except IntegrityError as exc:
        raise Conflict("DUPLICATE_PHONE", "a member with that phone already exists") from exc
    return after


def deactivate_member(
    ctx: Context, member_id: int, *, reason: str | None = None, actor: Actor | None = None
) -> MemberOut:
    """Mark a member inactive: no more earning or spending; history and balance are kept."""
    now = ctx.now()
    with ctx.engine.begin() as conn:
        before = _out(conn, member_id)
        if before.status == "merged":
            raise Conflict("MEMBER_MERGED", f"member {member_id} was merged into {before.merged_into_id}")
        conn.execute(
            update(members).where(members.c.id == member_id).values(status="inactive", updated_at=now)
        )
        after = _out(conn, member_id)
        audit.record(
            conn,
            actor or SYSTEM,
            "member.deactivate",
            "member",
            member_id,
            before.model_dump(),
            {**after.model_dump(), "reason": reason},
            at=now,
        )
    return after


def merge_members(
    ctx: Context, survivor_id: int, merged_id: int, *, actor: Actor | None = None, reason: str | None = None
) -> MemberOut:
    """Move everything of `merged_id` to `survivor_id`: points (lots, debt) via a 'merge' transfer,
    purchases (so the tier window counts them), tier history; the survivor keeps the higher tier.

    The merged member stays as a row with status 'merged' and `merged_into_id`, so old cards and
    references still resolve and nothing is lost.
    """
    if survivor_id == merged_id:
        raise InvalidInput.field("merged_id", "cannot merge a member into itself", "MERGE_SAME_MEMBER")
    now = ctx.now()
    with ctx.engine.begin() as conn:
        s_before = _out(conn, survivor_id)
        m_before = _out(conn, merged_id)
        for m in (s_before, m_before):
            if m.status == "merged":
                raise Conflict("MEMBER_MERGED", f"member {m.id} was already merged into {m.merged_into_id}")
        accs = lock_member_accounts(conn, [survivor_id, merged_id])
        s_acc, m_acc = accs[survivor_id], accs[merged_id]
        if m_acc.balance != 0:
            debit, credit = (m_acc.id, s_acc.id) if m_acc.balance > 0 else (s_acc.id, m_acc.id)
            post_transfer(
                conn,
                kind="merge",
                debit_account_id=debit,
                credit_account_id=credit,
                amount=abs(m_acc.balance),
                at=now,
                rule="merge",
                member_id=survivor_id,
                reason=f"merge of member {merged_id}",
                operator=actor.id if actor else None,
            )
        s_acc.balance += m_acc.balance
        s_acc.debt += m_acc.debt
        m_acc.balance = 0
        m_acc.debt = 0
        set_account(conn, m_acc)
        set_account(conn, s_acc)
        conn.execute(
            update(point_lots)
            .where(point_lots.c.member_id == merged_id)
            .values(member_id=survivor_id, account_id=s_acc.id)
        )
        conn.execute(
            update(purchases).where(purchases.c.member_id == merged_id).values(member_id=survivor_id)
        )
        conn.execute(
            update(tier_history).where(tier_history.c.member_id == merged_id).values(member_id=survivor_id)
        )
        # The survivor keeps the higher of the two tiers, or more if the combined window qualifies.
        defs = [TierDef(r.id, r.code, r.rank, r.threshold_minor) for r in conn.execute(select(tiers))]
        ranks = {d.id: d.rank for d in defs}
        window = qualifying_spend(conn, survivor_id, now, default_programme(conn).tier_window_days)
        best = max(
            [s_before.tier_id, m_before.tier_id, tier_for_spend(defs, window).id], key=lambda t: ranks[t]
        )
        if ranks[best] > ranks[s_before.tier_id]:
            conn.execute(update(members).where(members.c.id == survivor_id).values(tier_id=best))
            conn.execute(
                insert(tier_history).values(
                    member_id=survivor_id,
                    from_tier_id=s_before.tier_id,
                    to_tier_id=best,
                    reason="merge",
                    qualifying_minor=window,
                    at=now,
                )
            )
        conn.execute(
            update(members)
            .where(members.c.id == merged_id)
            .values(status="merged", merged_into_id=survivor_id, updated_at=now)
        )
        conn.execute(update(members).where(members.c.id == survivor_id).values(updated_at=now))
        after = _out(conn, survivor_id)
        audit.record(
            conn,
            actor or SYSTEM,
            "member.merge",
            "member",
            survivor_id,
            {"survivor": s_before.model_dump(), "merged": m_before.model_dump(), "reason": reason},
            after.model_dump(),
            at=now,
        )
    return after


def count_members(ctx: Context) -> int:
    with read(ctx) as conn:
        return int(conn.execute(select(func.count()).select_from(members)).scalar_one())
