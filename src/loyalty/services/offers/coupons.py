"""Coupons: codes issued for an offer, held in wallets or shared, used once (or up to their limit) and
given back when the sale they discounted is fully returned.

A code is 16 symbols of a 32-letter alphabet without 0/O and 1/I (80 bits from `secrets`), printed in
groups of four (`7KQM-2XPD-…`); what a person types is read back without separators and in upper
case. Every code that cannot be used — unknown, used up, expired, not yet active, voided, another
member's, for an offer not valid at this store or time, or over a limit — gets the same answer,
COUPON_NOT_USABLE, so the answer tells nothing about which codes exist.

Using a code (`use_coupon`) runs in the caller's transaction (the checkout's) and moves its counters
by conditional updates — the coupon's `uses < max_uses`, the offer's `uses < max_uses` and its
budget — so 50 checkouts racing for a code limited to 10 uses give exactly 10 uses; the uses per
member are counted under the member's account lock, which every checkout of that member holds.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ARRAY,
    Connection,
    String,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from loyalty.bootstrap import Context
from loyalty.db import unnest
from loyalty.db.core_tables import members
from loyalty.db.offer_tables import coupon_uses, coupons, offers
from loyalty.db.prepared import Prepared
from loyalty.domain.actors import SYSTEM, Actor
from loyalty.domain.errors import Conflict, InvalidInput
from loyalty.domain.programme.offers import OfferSpec, parse_offer
from loyalty.services import audit, idempotency
from loyalty.services.offers.book import offer_by_code
from loyalty.services.request_hashes import request_hash

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 16  # 16 × 5 bits = 80 bits
MAX_ISSUE = 100_000
#: the most uses one shared code may have
MAX_CODE_USES = 1_000_000


def new_code() -> str:
    """A fresh code: 80 random bits as 16 symbols of `ALPHABET`."""
    bits = secrets.randbits(5 * CODE_LENGTH)
    return "".join(ALPHABET[(bits >> (5 * i)) & 31] for i in range(CODE_LENGTH))


def printed(code: str) -> str:
    """A code as printed and shown: groups of four."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def typed(text: str) -> str:
    """What a person typed or scanned, as stored: upper case, without spaces or dashes."""
    return "".join(ch for ch in text.upper() if ch not in " -\t")


def not_usable() -> Conflict:
    return Conflict("COUPON_NOT_USABLE", "this coupon cannot be used")


@dataclass(frozen=True)
class Issued:
    offer_code: str
    codes: list[str]  # as printed
    usable_from: datetime
    expires_at: datetime | None


def issue_coupons(
    ctx: Context,
    offer_code: str,
    *,
    member_ids: list[int] | None = None,
    count: int | None = None,
    max_uses: int = 1,
    actor: Actor | None = None,
    record: idempotency.Record | None = None,
) -> Issued:
    """Issue one code per member of `member_ids` (their wallets), or `count` shared codes usable
    `max_uses` times each by anyone. Refused naming the field for members that are not active ones,
    and for a promotion (it applies without a coupon: a code of it would be a second discount).

    `record` (an Idempotency-Key's, from the API) stores the answer with the codes in their one
    transaction: a retry is answered those codes, and a crash leaves neither, so a retried issue never
    mints a second batch."""
    if (member_ids is None) == (count is None):
        raise InvalidInput.field(
            "member_ids", "issue to members or a count of shared codes", "COUPON_ISSUE_INVALID"
        )
    n = len(member_ids) if member_ids is not None else int(count or 0)
    if not 1 <= n <= MAX_ISSUE:
        raise InvalidInput.field(
            "count", "issue between 1 and {most} codes at a time", "COUPON_ISSUE_INVALID", {"most": MAX_ISSUE}
        )
    if max_uses < 1:
        raise InvalidInput.field("max_uses", "a code is usable at least once", "COUPON_ISSUE_INVALID")
    if max_uses > MAX_CODE_USES:
        raise InvalidInput.field(
            "max_uses", "must be at most {most}", "COUPON_ISSUE_INVALID", {"most": MAX_CODE_USES}
        )
    with ctx.engine.begin() as conn:
        if offer_by_code(conn, offer_code).spec.automatic:
            raise Conflict(
                "OFFER_AUTOMATIC",
                "offer {code} is a promotion: it applies without coupons",
                {"code": offer_code},
            )
        if member_ids is not None:
            _check_members(conn, member_ids)
        now = ctx.now()
        issued = issue_in(
            conn, offer_code, now, member_ids=member_ids, count=n, max_uses=max_uses, actor=actor
        )
        if record is not None:
            record.save(conn, issued, now)
        return issued


def _check_members(conn: Connection, member_ids: list[int]) -> None:
    """Refuse, naming `member_ids`, a member that does not exist or is not active (merged, closed)."""
    wanted = set(member_ids)
    active: set[int] = set()
    ordered = sorted(wanted)
    for i in range(0, len(ordered), 5_000):  # within every backend's bound on a statement's parameters
        chunk = ordered[i : i + 5_000]
        active |= set(
            conn.execute(
                select(members.c.id).where(members.c.id.in_(chunk), members.c.status == "active")
            ).scalars()
        )
    missing = sorted(wanted - active)
    if missing:
        raise InvalidInput.field(
            "member_ids",
            "no active member has the id {member_id}",
            "COUPON_ISSUE_INVALID",
            {"member_id": missing[0]},
        )


def issue_shared_once(
    ctx: Context, offer_code: str, *, count: int, max_uses: int, actor: Actor, scope: str, key: str
) -> list[str]:
    """`count` shared codes of `offer_code` issued under the caller's own key (a console form's): the
    same request again, even at the same moment, is answered the first one's codes, never a second
    batch; the key again with other figures raises `idempotency.KeyReused`."""
    rhash = request_hash(
        {"route": "offers.issue_shared", "offer": offer_code, "count": count, "uses": max_uses}
    )
    issued = _issued_before(ctx, scope, key, rhash)
    if issued is not None:
        return issued
    record = idempotency.Record(scope, key, rhash, render=lambda made: (201, {"codes": list(made.codes)}))
    try:
        return list(
            issue_coupons(ctx, offer_code, count=count, max_uses=max_uses, actor=actor, record=record).codes
        )
    except IntegrityError:  # the same request, sent twice at once: the first one's codes
        issued = _issued_before(ctx, scope, key, rhash)
        if issued is None:
            raise
        return issued


def _issued_before(ctx: Context, scope: str, key: str, rhash: str) -> list[str] | None:
    with ctx.engine.connect() as conn:
        found = idempotency.find(conn, scope, key, rhash)
    return None if found is None else [str(c) for c in found.response["codes"]]


def issue_in(
    conn: Connection,
    offer_code: str,
    now: datetime,
    *,
    member_ids: list[int] | None,
    count: int,
    max_uses: int = 1,
    actor: Actor | None = None,
) -> Issued:
    """`issue_coupons` in the caller's transaction (a reward order issues its coupon with the order):
    `count` codes, one per member of `member_ids` when given; audited as `coupon.issue`."""
    offer = offer_by_code(conn, offer_code)
    if offer.valid_to is not None and offer.valid_to <= now:
        raise Conflict("OFFER_ENDED", "offer {code} has ended", {"code": offer_code})
    usable_from = max(now, offer.valid_from) + timedelta(days=offer.limits.activation_days)
    expires = None if offer.limits.validity_days is None else now + timedelta(days=offer.limits.validity_days)
    if offer.valid_to is not None:
        expires = offer.valid_to if expires is None else min(expires, offer.valid_to)
    codes = list({new_code() for _ in range(count)})
    while len(codes) < count:  # 80 bits: a repeat is astronomically rare, but never issued twice
        codes = list(set(codes) | {new_code()})
    owners = member_ids if member_ids is not None else [None] * count
    conn.execute(
        insert(coupons),
        [
            {
                "offer_id": offer.id,
                "code": code,
                "member_id": owner,
                "max_uses": 1 if owner is not None else max_uses,
                "uses": 0,
                "issued_at": now,
                "usable_from": usable_from,
                "expires_at": expires,
            }
            for code, owner in zip(codes, owners, strict=True)
        ],
    )
    audit.record(
        conn,
        actor or SYSTEM,
        "coupon.issue",
        "offer",
        offer_code,
        None,
        {"count": count, "members": member_ids is not None, "max_uses": max_uses},
        at=now,
    )
    return Issued(offer_code, [printed(c) for c in codes], usable_from, expires)


@dataclass(frozen=True)
class WalletCoupon:
    code: str  # as printed
    offer_code: str
    offer_name: str
    spec: OfferSpec
    usable_from: datetime
    expires_at: datetime | None


def wallet(ctx: Context, member_id: int, *, at: datetime | None = None) -> list[WalletCoupon]:
    """The member's coupons usable now or later (not used up, voided, expired or of an ended offer),
    soonest expiry first."""
    when = at or ctx.now()
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(
                coupons.c.code,
                coupons.c.usable_from,
                coupons.c.expires_at,
                offers.c.code.label("offer"),
                offers.c.name,
                offers.c.definition,
            )
            .join(offers, offers.c.id == coupons.c.offer_id)
            .where(
                coupons.c.member_id == member_id,
                coupons.c.uses < coupons.c.max_uses,
                coupons.c.voided_at.is_(None),
                or_(coupons.c.expires_at.is_(None), coupons.c.expires_at > when),
                or_(offers.c.valid_to.is_(None), offers.c.valid_to > when),  # an ended offer's: never
            )
            .order_by(coupons.c.expires_at, coupons.c.id)
        ).all()
    return [
        WalletCoupon(printed(r.code), r.offer, r.name, parse_offer(r.definition), r.usable_from, r.expires_at)
        for r in rows
    ]


@dataclass(frozen=True)
class Usable:
    """A code found usable by a member at a time: its coupon and offer."""

    coupon_id: int
    offer_id: int
    spec: OfferSpec
    #: what the offer's budget had left when the code was found (None: no budget); its use still takes
    #: the discount by a conditional update (`use_coupon`)
    budget_left_minor: int | None = None
    #: the offer's limit of uses per member (None: none, or an anonymous sale) and the member's uses of
    #: it when the code was found
    per_member_limit: int | None = None
    member_uses: int = 0
    #: the uses the coupon and its offer had left when the code was found (None: the offer has no limit)
    coupon_uses_left: int = 1
    offer_uses_left: int | None = None

    def takes(self, discount_minor: int) -> bool:
        """Whether the offer's budget, as found, has room for a use giving `discount_minor` (what
        `use_coupon` would take), so that a quote refuses what the posting would."""
        return self.budget_left_minor is None or discount_minor <= self.budget_left_minor


def find_usable(conn: Connection, code: str, member_id: int | None, at: datetime) -> Usable:
    """The coupon `code` names if `member_id` may use it at `at` (its counters still checked on use);
    COUPON_NOT_USABLE otherwise, whatever the reason."""
    return send_usable(conn, code, member_id, at)()


def send_usable(conn: Connection, code: str, member_id: int | None, at: datetime) -> Callable[[], Usable]:
    """`find_usable` with its one statement sent now and its answer read when called: inside a
    pipeline on PostgreSQL a batch's codes travel in the round trip that locks its members."""
    pending = _USABLE.send(conn, {"code": typed(code), "member_id": member_id, "at": at})

    def usable() -> Usable:
        rows = pending.rows()
        if not rows:
            raise not_usable()
        coupon_id, offer_id, definition, per_member_limit, budget_left, used, *left = rows[0]
        coupon_left, offer_left = left
        if member_id is None:
            per_member_limit = None  # an anonymous sale has no member whose uses could be counted
        if per_member_limit is not None and used >= per_member_limit:
            raise not_usable()
        return Usable(
            coupon_id,
            offer_id,
            spec_of(definition),
            budget_left,
            per_member_limit,
            int(used),
            int(coupon_left),
            None if offer_left is None else int(offer_left),
        )

    return usable


def lock_codes(conn: Connection, codes: Sequence[str]) -> Callable[[], object]:
    """Lock the coupons `codes` name (as stored) in id order until the caller's transaction ends, on
    PostgreSQL (SQLite writes one transaction at a time): a batch that then finds them usable takes
    them as found, and two batches sharing codes lock them in the same order. Sent, not waited for:
    call what it returns to wait."""
    if not codes or conn.dialect.name != "postgresql":
        return lambda: None
    return _LOCK_CODES.send(conn, {"codes": sorted(set(codes))}).rows


_LOCK_CODES = Prepared(
    select(coupons.c.id)
    .where(coupons.c.code == any_(bindparam("codes", type_=ARRAY(String))))
    .order_by(coupons.c.id)
    .with_for_update(of=coupons)
)

#: the coupon a code names, if it may be used at `at` by `member_id` (a wallet's coupon by its member
#: only; a shared code by anyone) and its offer has uses left, with what the offer's budget has left
#: and, where the offer limits them, the member's uses of it: one statement on the checkout's path,
#: compiled once (`db.prepared`)
_USABLE = Prepared(
    select(
        coupons.c.id,
        coupons.c.offer_id,
        cast(offers.c.definition, Text),
        offers.c.per_member_limit,
        offers.c.budget_minor - offers.c.discounted_minor,
        case(
            (
                offers.c.per_member_limit.is_not(None),
                select(func.count())
                .select_from(coupon_uses)
                .where(
                    coupon_uses.c.offer_id == coupons.c.offer_id,
                    coupon_uses.c.member_id == bindparam("member_id"),
                    coupon_uses.c.released_at.is_(None),
                )
                .scalar_subquery(),
            ),
            else_=0,
        ),
        coupons.c.max_uses - coupons.c.uses,
        offers.c.max_uses - offers.c.uses,
    )
    .join(offers, offers.c.id == coupons.c.offer_id)
    .where(
        coupons.c.code == bindparam("code"),
        coupons.c.voided_at.is_(None),
        coupons.c.uses < coupons.c.max_uses,
        or_(offers.c.max_uses.is_(None), offers.c.uses < offers.c.max_uses),
        coupons.c.usable_from <= bindparam("at"),
        offers.c.valid_from <= bindparam("at"),
        or_(coupons.c.expires_at.is_(None), coupons.c.expires_at > bindparam("at")),
        or_(offers.c.valid_to.is_(None), offers.c.valid_to > bindparam("at")),
        or_(coupons.c.member_id.is_(None), coupons.c.member_id == bindparam("member_id")),
    )
)


@lru_cache(maxsize=1024)
def spec_of(definition: str) -> OfferSpec:
    """An offer's stored definition (JSON text) read once per distinct text: a definition never
    changes once stored, and parsing it costs more than the checkout's statements."""
    return parse_offer(json.loads(definition))


def use_coupon(
    conn: Connection,
    usable: Usable,
    member_id: int | None,
    discount_minor: int,
    at: datetime,
    purchase_id: int | None = None,
) -> int:
    """Record a use of `usable` giving `discount_minor`, in the caller's transaction; the use's id.

    COUPON_NOT_USABLE when a racing checkout took the last use of the code, the offer's last use or
    its budget first (nothing is written then: the caller's transaction rolls back)."""
    if not _TAKE_COUPON_USE.run(conn, {"coupon_id": usable.coupon_id}):
        raise not_usable()
    if not _TAKE_OFFER_USE.run(conn, {"offer_id": usable.offer_id, "discount_minor": discount_minor}):
        raise not_usable()
    return record_use(conn, usable.coupon_id, usable.offer_id, member_id, purchase_id, discount_minor, at)


def record_use(
    conn: Connection,
    coupon_id: int | None,
    offer_id: int,
    member_id: int | None,
    purchase_id: int | None,
    discount_minor: int,
    at: datetime,
) -> int:
    """Write one use row (a promotion's has no coupon); its id."""
    values = {
        "coupon_id": coupon_id,
        "offer_id": offer_id,
        "member_id": member_id,
        "purchase_id": purchase_id,
        "discount_minor": discount_minor,
        "used_at": at,
    }
    return int(_INSERT_USE.scalar(conn, values))


# The counters move by conditional updates (RETURNING tells whether the row qualified), compiled once.
_TAKE_COUPON_USE = Prepared(
    update(coupons)
    .where(
        coupons.c.id == bindparam("coupon_id"),
        coupons.c.uses < coupons.c.max_uses,
        coupons.c.voided_at.is_(None),  # voided since it was found (a cancelled reward's coupon)
    )
    .values(uses=coupons.c.uses + 1)
    .returning(coupons.c.id)
)
_TAKE_OFFER_USE = Prepared(
    update(offers)
    .where(
        offers.c.id == bindparam("offer_id"),
        or_(offers.c.max_uses.is_(None), offers.c.uses < offers.c.max_uses),
        or_(
            offers.c.budget_minor.is_(None),
            offers.c.discounted_minor + bindparam("discount_minor") <= offers.c.budget_minor,
        ),
    )
    .values(uses=offers.c.uses + 1, discounted_minor=offers.c.discounted_minor + bindparam("discount_minor"))
    .returning(offers.c.id)
)
_INSERT_USE = Prepared(insert(coupon_uses).returning(coupon_uses.c.id))


@dataclass(frozen=True)
class Use:
    """One use by a sale of a batch: of a coupon found usable, or of a promotion (`offer_id` only:
    no coupon and no counters, as `checkout.record_uses` records it for a sale alone)."""

    coupon_id: int | None  # None: a promotion's use
    offer_id: int
    member_id: int | None
    purchase_id: int
    discount_minor: int


def take_uses(
    conn: Connection, uses: Sequence[Use], at: datetime, writes: unnest.Writes | None = None
) -> None:
    """Record the uses of a batch of sales at once, in its transaction: each coupon's and offer's
    counters moved by what its coupons' uses add up to (in id order, as the codes were locked), and a
    row per use in the order given (a promotion's without a coupon, moving no counter), as
    `checkout.record_uses` sale by sale would leave them. The counters' constraints
    refuse a use past a limit that a racing checkout reached first (IntegrityError: the caller rolls
    the batch back); the batch found the codes usable, under lock, before pricing its sales.

    With `writes` (PostgreSQL: the batch's one write statement) they join it instead of running
    here: the coupons' rows as they were locked, the offers' locked in id order by the statement."""
    per_coupon: dict[int, int] = {}
    per_offer: dict[int, tuple[int, int]] = {}
    for use in uses:
        if use.coupon_id is None:
            continue  # a promotion: no limits to count against
        coupon, offer = use.coupon_id, use.offer_id
        per_coupon[coupon] = per_coupon.get(coupon, 0) + 1
        n, minor = per_offer.get(offer, (0, 0))
        per_offer[offer] = (n + 1, minor + use.discount_minor)
    coupon_ids, offer_ids = sorted(per_coupon), sorted(per_offer)
    rows: dict[str, Sequence[Any]] = {
        "coupon_id": [u.coupon_id for u in uses],
        "offer_id": [u.offer_id for u in uses],
        "member_id": [u.member_id for u in uses],
        "purchase_id": [u.purchase_id for u in uses],
        "discount_minor": [u.discount_minor for u in uses],
        "used_at": [at] * len(uses),
    }
    if writes is not None:
        if coupon_ids:
            writes.add_to(
                "coupons", {"uses": [per_coupon[c] for c in coupon_ids]}, "id", coupon_ids, held=True
            )
            writes.add_to(
                "offers",
                {
                    "uses": [per_offer[o][0] for o in offer_ids],
                    "discounted_minor": [per_offer[o][1] for o in offer_ids],
                },
                "id",
                offer_ids,
            )
        if uses:
            writes.insert("coupon_uses", rows)
        return
    _ADD_COUPON_USES.run_many(conn, [{"coupon_id": c, "n": per_coupon[c]} for c in coupon_ids])
    _ADD_OFFER_USES.run_many(
        conn, [{"offer_id": o, "n": per_offer[o][0], "minor": per_offer[o][1]} for o in offer_ids]
    )
    _INSERT_USES.run_many(
        conn, [dict(zip(rows, values, strict=True)) for values in zip(*rows.values(), strict=True)]
    )


_ADD_COUPON_USES = Prepared(
    update(coupons).where(coupons.c.id == bindparam("coupon_id")).values(uses=coupons.c.uses + bindparam("n"))
)
_ADD_OFFER_USES = Prepared(
    update(offers)
    .where(offers.c.id == bindparam("offer_id"))
    .values(
        uses=offers.c.uses + bindparam("n"), discounted_minor=offers.c.discounted_minor + bindparam("minor")
    )
)
_INSERT_USES = Prepared(insert(coupon_uses))


def void_if_unused(conn: Connection, coupon_id: int, at: datetime) -> bool:
    """Void a coupon never used (a cancelled reward order's), in the caller's transaction; False when
    it was used (or voided) already. Conditional, so a checkout racing to use it either uses it first
    (and the void is refused) or finds it voided."""
    voided = conn.execute(
        update(coupons)
        .where(coupons.c.id == coupon_id, coupons.c.uses == 0, coupons.c.voided_at.is_(None))
        .values(voided_at=at)
    ).rowcount
    return voided == 1


def release_coupons(conn: Connection, purchase_id: int, at: datetime) -> int:
    """Give back the coupons a fully returned sale used (their counters and the offers' move back),
    and mark its promotions' uses released; how many uses were given back."""
    used = conn.execute(
        select(
            coupon_uses.c.id, coupon_uses.c.coupon_id, coupon_uses.c.offer_id, coupon_uses.c.discount_minor
        )
        .where(and_(coupon_uses.c.purchase_id == purchase_id, coupon_uses.c.released_at.is_(None)))
        .order_by(coupon_uses.c.id)
    ).all()
    for use in used:
        conn.execute(update(coupon_uses).where(coupon_uses.c.id == use.id).values(released_at=at))
        if use.coupon_id is None:  # a promotion's use: no coupon and no counters to give back
            continue
        conn.execute(update(coupons).where(coupons.c.id == use.coupon_id).values(uses=coupons.c.uses - 1))
        conn.execute(
            update(offers)
            .where(offers.c.id == use.offer_id)
            .values(uses=offers.c.uses - 1, discounted_minor=offers.c.discounted_minor - use.discount_minor)
        )
    return len(used)
