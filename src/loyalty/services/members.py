"""Member registry: register, look up, update, deactivate and merge.

Phones are stored in E.164 after `phonenumbers` normalisation (default region from settings, CN), so
'138 0013 8000', '+86 138-0013-8000' and '13800138000' are one member.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

import phonenumbers
from sqlalchemy import Connection, Select, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from loyalty.analytics.segments import BINARY_SEGMENTS
from loyalty.bootstrap import Context
from loyalty.db.analytics_tables import member_scores
from loyalty.db.core_tables import (
    accounts,
    members,
    point_lots,
    purchases,
    stores,
    tier_history,
    tiers,
)
from loyalty.db.feedback_tables import feedback
from loyalty.db.ledger_writer import post_transfer
from loyalty.domain import cards
from loyalty.domain.actors import SYSTEM, Actor
from loyalty.domain.birthdays import check_birthday
from loyalty.domain.cards import is_qr_payload, new_card_number, new_member_code
from loyalty.domain.errors import Conflict, InvalidInput, NotFound, field_error
from loyalty.domain.staff import check_staff_code, recorded_staff
from loyalty.domain.tiers import TierDef, tier_for_spend
from loyalty.i18n import marker
from loyalty.services import audit
from loyalty.services.accounts import lock_member_accounts, set_account
from loyalty.services.catalogue import default_programme
from loyalty.services.common import read
from loyalty.services.earning_rules.events import award, profile_complete
from loyalty.services.schemas import MemberIn, MemberOut, MemberScores, MemberUpdate
from loyalty.services.tier_window import qualifying_spend

N_ = marker("errors")
# Which reference found no member; the phone, card or code itself stays out of the message (PII).
_NO_MEMBER_WITH = {
    "member_id": N_("member {member_id} does not exist"),
    "phone": N_("no member with this phone number"),
    "card_no": N_("no member with this card number"),
    "member_code": N_("no member with this member code"),
}

_MEMBER_COLS = [
    c for c in members.c if c.name not in ("tier_locked_until", "tier_lock_reason", "tier_grace_until")
]


def duplicate_phone(phone: str) -> Conflict:
    """DUPLICATE_PHONE naming the field `phone`: one answer whether a registration or a change of
    phone (or a concurrent one that won the race) finds the number taken."""
    entry = field_error("phone", "a member with phone {phone} already exists", {"phone": phone})
    return Conflict(
        "DUPLICATE_PHONE", "a member with phone {phone} already exists", {"phone": phone, "errors": [entry]}
    )


def normalise_phone(raw: str, region: str = "CN") -> str:
    """E.164 form of `raw`, or `InvalidInput(PHONE_INVALID)`."""
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput.field(
            "phone", "cannot parse phone number {phone!r}", "PHONE_INVALID", {"phone": raw}
        ) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput.field(
            "phone", "{phone!r} is not a valid phone number", "PHONE_INVALID", {"phone": raw}
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


# The scores a member resource shows, read with it by one outer join on `member_scores`' primary key.
_SCORE_COLS = [
    member_scores.c[name].label(f"score_{name}")
    for name in (
        "rfm_code",
        "segment",
        "recency_days",
        "frequency",
        "monetary_minor",
        "p_alive",
        "expected_purchases",
        "clv_minor",
        "model",
        "computed_at",
    )
]


def member_query() -> Select[Any]:
    """Members with their tier's code and services and latest analytics scores (None columns when never
    scored)."""
    tier_cols = (tiers.c.code.label("tier_code"), tiers.c.services.label("tier_services"))
    return select(*_MEMBER_COLS, *tier_cols, *_SCORE_COLS).select_from(
        members.join(tiers, tiers.c.id == members.c.tier_id).outerjoin(
            member_scores, member_scores.c.member_id == members.c.id
        )
    )


def member_from_row(row: Any) -> MemberOut:
    """A `member_query` row as the service's member."""
    data = row._asdict()
    scored = {k.removeprefix("score_"): data.pop(k) for k in [k for k in data if k.startswith("score_")]}
    data["tags"] = list(data["tags"] or [])
    data["tier_services"] = list(data["tier_services"] or [])
    data["scores"] = _scores(scored)
    return MemberOut.model_validate(data)


def _scores(row: dict[str, Any]) -> MemberScores | None:
    if row["rfm_code"] is None:
        return None
    group = BINARY_SEGMENTS.get(row["rfm_code"])
    scored_at = row.pop("computed_at")
    if scored_at.tzinfo is None:  # SQLite hands back the UTC instant the refresh wrote, without a zone
        scored_at = scored_at.replace(tzinfo=UTC)
    return MemberScores(
        **row,
        segment_zh=group.zh if group else None,
        segment_en=group.en if group else None,
        scored_at=scored_at,
    )


def _out(conn: Connection, member_id: int) -> MemberOut:
    row = conn.execute(member_query().where(members.c.id == member_id)).first()
    if row is None:
        raise NotFound("MEMBER_NOT_FOUND", "member {member_id} does not exist", {"member_id": member_id})
    return member_from_row(row)


def members_by_ids(conn: Connection, member_ids: Sequence[int]) -> list[MemberOut]:
    """The members with these ids, in the order given (ids that name no member are left out)."""
    if not member_ids:
        return []
    rows = conn.execute(member_query().where(members.c.id.in_(list(member_ids)))).all()
    found = {int(r.id): member_from_row(r) for r in rows}
    return [found[i] for i in member_ids if i in found]


def _audited(member: MemberOut) -> dict[str, Any]:
    """A member as the audit log records it: the registry's fields, not the analytics scores."""
    return member.model_dump(exclude={"scores", "tier_services"})


def _lowest_tier_id(conn: Connection) -> int:
    tid = conn.execute(select(tiers.c.id).order_by(tiers.c.rank).limit(1)).scalar()
    if tid is None:
        raise NotFound("TIER_NOT_FOUND", "no tiers configured; run `loyalty programme init`")
    return int(tid)


def register_member(ctx: Context, data: MemberIn, *, actor: Actor | None = None) -> MemberOut:
    """Register a member at the lowest tier with a fresh card number, member code and ledger account."""
    phone = normalise_phone(data.phone, ctx.settings.phone_region)
    if not data.name.strip():
        raise InvalidInput.field("name", "name must not be empty", "NAME_REQUIRED")
    now = ctx.now()
    check_birthday(data.birthday, now.astimezone(ctx.settings.tz).date())
    registered_by = recorded_staff(data.registered_by, actor)
    check_staff_code("registered_by", registered_by)
    try:
        with ctx.engine.begin() as conn:
            if conn.execute(select(members.c.id).where(members.c.phone == phone)).first():
                raise duplicate_phone(phone)
            if data.registration_store_id is not None and (
                conn.execute(select(stores.c.id).where(stores.c.id == data.registration_store_id)).first()
                is None
            ):
                raise NotFound(
                    "STORE_NOT_FOUND",
                    "store {store_id} does not exist",
                    {"store_id": data.registration_store_id},
                )
            values = data.model_dump()
            values.update(
                registered_by=registered_by,
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
            award(conn, ctx, mid, "registration", data.registration_store_id, now)
            if profile_complete(data):
                award(conn, ctx, mid, "profile_completed", data.registration_store_id, now)
            out = _out(conn, mid)
            audit.record(conn, actor or SYSTEM, "member.register", "member", mid, None, _audited(out), at=now)
    except IntegrityError as exc:  # a concurrent registration with the same phone won the race
        raise duplicate_phone(phone) from exc
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
    else:
        column, value = _stored_key(phone, card_no, member_code, region)
        cond = members.c[column] == value
    mid = conn.execute(select(members.c.id).where(cond)).scalar()
    if mid is None:
        raise NotFound(
            "MEMBER_NOT_FOUND",
            _NO_MEMBER_WITH[given[0]],
            {given[0]: str(member_id or phone or card_no or member_code)},
        )
    return int(mid)


def _stored_key(
    phone: str | None, card_no: str | None, member_code: str | None, region: str
) -> tuple[str, str]:
    """The column and stored value of the one key given (InvalidInput where it is not valid)."""
    if phone is not None:
        return "phone", normalise_phone(phone, region)
    if card_no is not None and is_qr_payload(card_no):  # the member's QR scanned into the card field
        return "member_code", cards.member_code(card_no)
    if card_no is not None:
        return "card_no", cards.card_number(card_no)
    assert member_code is not None
    return "member_code", cards.member_code(member_code)


def member_ids_by_key(
    conn: Connection, keys: Sequence[tuple[str | None, str | None]], region: str = "CN"
) -> list[int | None]:
    """The id of the member each (phone, card number) names, one of the two given, as
    `resolve_member_id` finds them, in one statement: None where the key is not valid or names
    nobody (`resolve_member_id` then says why)."""
    stored: list[tuple[str, str] | None] = []
    for phone, card_no in keys:
        try:
            stored.append(_stored_key(phone, card_no, None, region))
        except InvalidInput:
            stored.append(None)
    wanted: dict[str, set[str]] = {}
    for key in stored:
        if key is not None:
            wanted.setdefault(key[0], set()).add(key[1])
    if not wanted:
        return [None] * len(keys)
    columns = sorted(wanted)
    rows = conn.execute(
        select(members.c.id, *(members.c[c] for c in columns)).where(
            or_(*(members.c[c].in_(sorted(wanted[c])) for c in columns))
        )
    ).all()
    found = {(column, row[i + 1]): int(row[0]) for row in rows for i, column in enumerate(columns)}
    return [None if key is None else found.get(key) for key in stored]


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


def erased(member_id: int, field: str = "member_id") -> Conflict:
    """MEMBER_ERASED: the member's personal data was erased (`services.privacy`); nothing may put
    some back on the anonymised record, merge it or erase it again."""
    entry = field_error(field, "member {member_id} was erased", {"member_id": member_id})
    return Conflict(
        "MEMBER_ERASED", "member {member_id} was erased", {"member_id": member_id, "errors": [entry]}
    )


def update_member(
    ctx: Context, member_id: int, changes: MemberUpdate, *, actor: Actor | None = None
) -> MemberOut:
    """Change contact and profile fields; the phone is re-normalised and must stay unique. An erased
    member's record is not filled in again (MEMBER_ERASED)."""
    values: dict[str, Any] = changes.model_dump(exclude_none=True)
    if "phone" in values:
        values["phone"] = normalise_phone(values["phone"], ctx.settings.phone_region)
    now = ctx.now()
    check_birthday(values.get("birthday"), now.astimezone(ctx.settings.tz).date())
    try:
        with ctx.engine.begin() as conn:
            before = _out(conn, member_id)
            if before.erased_at is not None:
                raise erased(member_id)
            if (
                "phone" in values
                and values["phone"] != before.phone
                and conn.execute(select(members.c.id).where(members.c.phone == values["phone"])).first()
            ):
                raise duplicate_phone(values["phone"])
            if values:
                conn.execute(
                    update(members).where(members.c.id == member_id).values(**values, updated_at=now)
                )
            after = _out(conn, member_id)
            if not profile_complete(before) and profile_complete(after):
                award(conn, ctx, member_id, "profile_completed", after.registration_store_id, now)
            audit.record(
                conn,
                actor or SYSTEM,
                "member.update",
                "member",
                member_id,
                _audited(before),
                _audited(after),
                at=now,
            )
    except IntegrityError as exc:  # a concurrent change or registration took the phone first
        if "phone" not in values:
            raise
        raise duplicate_phone(values["phone"]) from exc
    return after


def deactivate_member(
    ctx: Context, member_id: int, *, reason: str | None = None, actor: Actor | None = None
) -> MemberOut:
    """Mark a member inactive: no more earning or spending; history and balance are kept."""
    now = ctx.now()
    with ctx.engine.begin() as conn:
        before = _out(conn, member_id)
        if before.status == "merged":
            raise Conflict(
                "MEMBER_MERGED",
                "member {member_id} was merged into {merged_into_id}",
                {"member_id": member_id, "merged_into_id": before.merged_into_id},
            )
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
            _audited(before),
            {**_audited(after), "reason": reason},
            at=now,
        )
    return after


def check_merge(ctx: Context, *, duplicate_id: int, survivor_id: int) -> tuple[MemberOut, MemberOut]:
    """(survivor, duplicate) when `merge_members` with these would go ahead; else its refusal,
    without writing anything. For a screen that shows both members before the merge is confirmed
    (the merge itself checks again: either may change in between)."""
    _refuse_same(duplicate_id, survivor_id)
    with read(ctx) as conn:
        survivor, duplicate = _out(conn, survivor_id), _out(conn, duplicate_id)
    _refuse_merge(survivor, duplicate)
    return survivor, duplicate


def _refuse_same(duplicate_id: int, survivor_id: int) -> None:
    if survivor_id == duplicate_id:
        raise InvalidInput.field("duplicate_id", "cannot merge a member into itself", "MERGE_SAME_MEMBER")


def _refuse_merge(survivor: MemberOut, duplicate: MemberOut) -> None:
    """A merge's refusals, each naming the field of the member at fault (see `merge_members`)."""
    for m, field in ((survivor, "survivor_id"), (duplicate, "duplicate_id")):
        if m.status == "merged":
            entry = field_error(
                field,
                "member {member_id} was already merged into {merged_into_id}",
                {"member_id": m.id, "merged_into_id": m.merged_into_id},
            )
            raise Conflict(
                "MEMBER_MERGED",
                "member {member_id} was already merged into {merged_into_id}",
                {"member_id": m.id, "merged_into_id": m.merged_into_id, "errors": [entry]},
            )
        if m.erased_at is not None:
            raise erased(m.id, field)
    if survivor.status != "active":
        values = {"member_id": survivor.id, "member_status": survivor.status}
        entry = field_error("survivor_id", "member {member_id} is not active ({member_status})", values)
        raise Conflict(
            "MEMBER_INACTIVE",
            "member {member_id} is not active ({member_status})",
            {**values, "errors": [entry]},
        )


def merge_members(
    ctx: Context,
    *,
    duplicate_id: int,
    survivor_id: int,
    actor: Actor | None = None,
    reason: str | None = None,
) -> MemberOut:
    """Merge the duplicate member `duplicate_id` into `survivor_id`: points (lots, debt) move via a
    'merge' transfer, purchases (so the tier window counts them) and tier history follow; the survivor
    keeps the higher tier.

    Keyword-only, in every entry point's vocabulary (API `duplicate_id`/`survivor_id`, CLI
    `--duplicate`/`--survivor`): two bare ids in the wrong order would merge the wrong way round.
    The duplicate stays as a row with status 'merged' and `merged_into_id` naming the survivor, so old
    cards and references still resolve and nothing is lost.

    Refused, naming the field of the member at fault: a member merged already (MEMBER_MERGED), an
    erased one (MEMBER_ERASED), and a survivor that is not active (MEMBER_INACTIVE: it would receive
    points and purchases it cannot use); a deactivated duplicate may be merged away.
    """
    _refuse_same(duplicate_id, survivor_id)
    now = ctx.now()
    with ctx.engine.begin() as conn:
        s_before = _out(conn, survivor_id)
        d_before = _out(conn, duplicate_id)
        _refuse_merge(s_before, d_before)
        accs = lock_member_accounts(conn, [survivor_id, duplicate_id])
        s_acc, d_acc = accs[survivor_id], accs[duplicate_id]
        if d_acc.balance != 0:
            debit, credit = (d_acc.id, s_acc.id) if d_acc.balance > 0 else (s_acc.id, d_acc.id)
            post_transfer(
                conn,
                kind="merge",
                debit_account_id=debit,
                credit_account_id=credit,
                amount=abs(d_acc.balance),
                at=now,
                rule="merge",
                member_id=survivor_id,
                reason=f"merge of member {duplicate_id}",
                operator=actor.id if actor else None,
            )
        s_acc.balance += d_acc.balance
        s_acc.debt += d_acc.debt
        d_acc.balance = 0
        d_acc.debt = 0
        set_account(conn, d_acc)
        set_account(conn, s_acc)
        conn.execute(
            update(point_lots)
            .where(point_lots.c.member_id == duplicate_id)
            .values(member_id=survivor_id, account_id=s_acc.id)
        )
        conn.execute(
            update(purchases).where(purchases.c.member_id == duplicate_id).values(member_id=survivor_id)
        )
        # their ratings follow the purchases they rate (`services.feedback`)
        conn.execute(
            update(feedback).where(feedback.c.member_id == duplicate_id).values(member_id=survivor_id)
        )
        conn.execute(
            update(tier_history).where(tier_history.c.member_id == duplicate_id).values(member_id=survivor_id)
        )
        # The survivor keeps the higher of the two tiers, or more if the combined window qualifies.
        defs = [TierDef(r.id, r.code, r.rank, r.threshold_minor) for r in conn.execute(select(tiers))]
        ranks = {d.id: d.rank for d in defs}
        window = qualifying_spend(conn, survivor_id, now, default_programme(conn).tier_window_days)
        best = max(
            [s_before.tier_id, d_before.tier_id, tier_for_spend(defs, window).id], key=lambda t: ranks[t]
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
            .where(members.c.id == duplicate_id)
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
            {"survivor": _audited(s_before), "duplicate": _audited(d_before), "reason": reason},
            _audited(after),
            at=now,
        )
    return after


def count_members(ctx: Context) -> int:
    with read(ctx) as conn:
        return int(conn.execute(select(func.count()).select_from(members)).scalar_one())
