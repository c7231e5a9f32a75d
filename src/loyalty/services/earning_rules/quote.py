"""The till's quote and the receipt's explanation: the points a cart would earn, and why a sale did.

`quote` evaluates a cart exactly as posting it would (`posting.one_sale.post_sale`): the member's
tier and birthday as they are now, the programme's rules in force at the sale's time through
`frames.earn_at_store`, the rules' limits read (not taken) and the member's purchase numbers counted
with this sale among them. It writes nothing. For a member it adds the balance and how many points
could pay for this cart (`domain.redemption.usable_points`, the arithmetic `points.redeem` refuses
beyond). An anonymous cart earns nothing, and the quote says so. On request it adds what to offer
beside the cart: the stored basket rules its items fire (`basket_rules.suggest`), best lift first.

`explain` answers "why did I get 37 points?" from what the posting stored: each line's points are
its base points (the programme's base rate × the tier's multiplier, labelled by `purchases.rule`)
plus one entry per rule that added to it (`purchase_line_rules`), so base = line points − Σ entries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, bindparam, select

from loyalty.bootstrap import Context
from loyalty.db.core_tables import accounts, members, purchase_lines, purchases
from loyalty.db.prepared import Prepared, pipelined
from loyalty.db.programme_tables import earning_rules, purchase_line_rules
from loyalty.domain.channels import DEFAULT_CHANNEL, Channel
from loyalty.domain.earning import ANONYMOUS_RULE, EarningRule, LineIn
from loyalty.domain.errors import Conflict, InvalidInput, NotFound, field_error
from loyalty.domain.redemption import redeem_value_minor, usable_points
from loyalty.domain.sale_limits import checked_amounts, refusal
from loyalty.services.anomalies.suspensions import suspended
from loyalty.services.basket_rules.cross_sell import MAX_SUGGESTIONS, Suggestion, suggest
from loyalty.services.catalogue import StoreInfo, catalogue_of
from loyalty.services.common import read
from loyalty.services.earning_rules.frames import PricedLine, earn_at_store
from loyalty.services.offers.checkout import NO_COUPONS, Cart, CouponDiscounts, coupon_discounts
from loyalty.services.offers.promotions import send_promotions_at
from loyalty.services.points import available_points, spendable_lots
from loyalty.services.schemas import PurchaseLineIn

#: the most lines a quoted cart may have (as a posted sale)
MAX_LINES = 500


class QuoteIn(BaseModel):
    """A cart to quote: where, for whom (none: an anonymous sale), when (now by default), its lines."""

    model_config = ConfigDict(extra="forbid")

    store_id: int
    member_id: int | None = None
    occurred_at: datetime | None = None
    channel: Channel = DEFAULT_CHANNEL
    lines: list[PurchaseLineIn] = Field(default_factory=list)
    coupon_codes: list[str] = Field(default_factory=list)
    apply_promotions: bool = False
    suggestions: int = Field(default=0, ge=0, le=MAX_SUGGESTIONS)  # cross-sell items to suggest (0: none)


@dataclass(frozen=True)
class RuleEntry:
    """Points one rule added to a line."""

    rule_id: int
    code: str
    name: str
    version: int
    kind: str
    points: int


@dataclass(frozen=True)
class LinePoints:
    """A line's amount and points: its base points plus each rule's entry."""

    line_no: int
    sku: str
    category: str | None
    amount_minor: int
    base_points: int
    entries: list[RuleEntry]
    points: int
    brand: str | None = None


@dataclass(frozen=True)
class Redemption:
    """What the member could pay this cart with: points usable as cash under the programme's rules."""

    available: int
    usable_points: int
    usable_value_minor: int
    points_per_currency_unit: int
    redeem_cap_pct: int
    min_redeem_balance: int
    suspended: bool  # a fraud review suspended the member's redemptions


@dataclass(frozen=True)
class Quote:
    """What posting the cart now would earn, line by line, and what the member could redeem."""

    store_id: int
    member_id: int | None
    anonymous: bool
    occurred_at: datetime
    channel: Channel
    currency: str
    tier_code: str | None
    base_rule: str  # the label posting stores as purchases.rule
    lines: list[LinePoints]
    total_minor: int
    points: int
    redemption: Redemption | None
    coupons: CouponDiscounts = NO_COUPONS  # what the codes took off (per line) and which stay unused
    suggestions: tuple[Suggestion, ...] = ()  # what the stored basket rules offer beside the cart


@dataclass(frozen=True)
class Explanation:
    """Why a posted sale earned what it did, line by line."""

    purchase_id: int
    store_id: int
    member_id: int | None
    order_id: str
    occurred_at: datetime
    currency: str
    base_rule: str
    lines: list[LinePoints]
    points_earned: int
    points_reversed: int


def _amounts(lines: Sequence[PurchaseLineIn]) -> list[int]:
    """Each line's amount, refusing what posting refuses (`domain.sale_limits.checked_amounts`), and a
    cart of more lines than a quote takes."""
    errors: list[dict[str, Any]] = []
    if len(lines) > MAX_LINES:
        errors.append(field_error("lines", "a cart has at most {n} lines", {"n": MAX_LINES}))
    amounts = checked_amounts(lines, errors)
    if errors:
        raise refusal(errors)
    return amounts


class _Member(NamedTuple):
    status: str
    tier_id: int
    birthday: Any  # as the driver hands it back (`frames.stored_date` reads it)


class _Standing(NamedTuple):
    """The member as the quote reads them: who they are, their spendable points, whether their
    redemptions are suspended."""

    member: _Member
    available: int
    suspended: bool


#: the member's row, spendable points and suspension in one statement compiled once (the quote runs
#: on every scan): one round trip on PostgreSQL
_STANDING = Prepared(
    select(
        members.c.status,
        members.c.tier_id,
        members.c.birthday,
        accounts.c.debt,
        spendable_lots(accounts.c.id),
        suspended(members.c.id),
    )
    .select_from(members.outerjoin(accounts, accounts.c.member_id == members.c.id))
    .where(members.c.id == bindparam("member_id"))
)


def _standing(conn: Connection, member_id: int, now: datetime) -> _Standing:
    """The member's status, tier, birthday, spendable points and suspension, refused as posting
    refuses them (an unknown member, an inactive one) before the points are looked at."""
    rows = _STANDING.run(conn, {"member_id": member_id, "now": now})
    if not rows:
        raise NotFound("MEMBER_NOT_FOUND", "member {member_id} does not exist", {"member_id": str(member_id)})
    status, tier_id, birthday, debt, spendable, is_suspended = rows[0]
    if status != "active":
        raise Conflict(
            "MEMBER_INACTIVE",
            "member {member_id} is not active ({member_status})",
            {"member_id": member_id, "member_status": status},
        )
    if debt is None:  # no account: the member is not one the ledger knows
        raise NotFound("MEMBER_NOT_FOUND", "member {member_id} does not exist", {"member_id": member_id})
    member = _Member(status, tier_id, birthday)
    return _Standing(member, available_points(spendable, debt), bool(is_suspended))


def _quote_connection(ctx: Context) -> Connection:
    """SQLite: a deferred transaction, one snapshot for the member, the limits and the points.
    PostgreSQL: autocommit, each statement its own snapshot as READ COMMITTED gives inside a
    transaction too, without the BEGIN and COMMIT round trips (the quote writes nothing)."""
    conn = read(ctx)
    if conn.dialect.name == "postgresql":
        return conn.execution_options(isolation_level="AUTOCOMMIT")
    return conn


def quote(ctx: Context, cart: QuoteIn) -> Quote:
    """The points posting `cart` now would earn, per line and rule, and what the member could redeem.

    Nothing is written: the rules' limits are read without taking their room.
    """
    amounts = _amounts(cart.lines)
    occurred_at = cart.occurred_at or ctx.now()
    if occurred_at.tzinfo is None:
        raise InvalidInput.field("occurred_at", "time must carry a timezone", "PURCHASE_INVALID")
    catalogue = catalogue_of(ctx)
    with _quote_connection(ctx) as conn, conn.begin():
        store = catalogue.store(conn, cart.store_id)
        prog = store.programme
        ladder = catalogue.tiers(conn)
        rule_book = catalogue.rule_book(conn)
        with pipelined(conn):  # on PostgreSQL the promotions and the member's standing in one round trip
            in_force = send_promotions_at(conn, prog.id, occurred_at) if cart.apply_promotions else None
            standing = None if cart.member_id is None else _standing(conn, cart.member_id, ctx.now())
            promotions = [] if in_force is None else in_force()
        tier = None if standing is None else ladder.by_id[standing.member.tier_id]
        coupons = NO_COUPONS
        if cart.coupon_codes or cart.apply_promotions:  # as posting takes them (`one_sale._coupons`)
            tier_code = None if tier is None else tier.code
            offered_to = Cart.of(store.code, cart.channel, tier_code, amounts, cart.lines, promotions)
            coupons = coupon_discounts(
                conn, cart.coupon_codes, offered_to, member_id=cart.member_id, at=occurred_at
            )
            amounts = coupons.net(amounts)
        cart_lines = [
            PricedLine(a, ln.category, ln.sku, ln.brand) for a, ln in zip(amounts, cart.lines, strict=True)
        ]
        offered: tuple[Suggestion, ...] = ()
        if cart.suggestions:
            offered = tuple(suggest(ctx, conn, store.id, (ln.sku for ln in cart.lines), cart.suggestions))
        member_id = cart.member_id
        if standing is None or tier is None or member_id is None:
            lines = [
                LinePoints(i + 1, ln.sku, ln.category, ln.amount_minor, 0, [], 0, ln.brand)
                for i, ln in enumerate(cart_lines)
            ]
            return Quote(
                store.id, None, True, occurred_at, cart.channel, prog.currency, None, ANONYMOUS_RULE,
                lines, sum(amounts), 0, None, coupons, offered,
            )  # fmt: skip
        base = EarningRule(prog.points_per_unit, tier.multiplier_pct, prog.excluded_categories, tier.code)
        rules = rule_book.for_programmes({prog.id})
        if rules:
            earned = earn_at_store(
                rules,
                store,
                tier,
                occurred_at,
                cart.channel,
                cart_lines,
                birthday=standing.member.birthday,
                member_id=member_id,
                limits=conn,
                write=False,
            )
            by_line: dict[int, list[RuleEntry]] = defaultdict(list)
            for at, r, pts in zip(
                earned.entry_line.tolist(),
                earned.entry_rule.tolist(),
                earned.entry_points.tolist(),
                strict=True,
            ):
                rule = earned.rules[r]
                by_line[at].append(
                    RuleEntry(rule.id, rule.spec.code, rule.spec.name, rule.version, rule.spec.kind, pts)
                )
            bases = earned.base.tolist()
            lines = [_line(i + 1, ln, bases[i], by_line.get(i, [])) for i, ln in enumerate(cart_lines)]
        else:
            lines = [
                _line(i + 1, ln, base.line_points(LineIn(ln.amount_minor, ln.category)), [])
                for i, ln in enumerate(cart_lines)
            ]
        total = sum(amounts)
        redemption = _redemption(store, standing, total)
    return Quote(
        store_id=store.id,
        member_id=cart.member_id,
        anonymous=False,
        occurred_at=occurred_at,
        channel=cart.channel,
        currency=prog.currency,
        tier_code=tier.code,
        base_rule=base.label,
        lines=lines,
        total_minor=total,
        points=sum(ln.points for ln in lines),
        redemption=redemption,
        coupons=coupons,
        suggestions=offered,
    )


def _line(line_no: int, line: PricedLine, base_points: int, entries: list[RuleEntry]) -> LinePoints:
    return LinePoints(
        line_no=line_no,
        sku=line.sku,
        category=line.category,
        amount_minor=line.amount_minor,
        base_points=base_points,
        entries=entries,
        points=base_points + sum(e.points for e in entries),
        brand=line.brand,
    )


def _redemption(store: StoreInfo, standing: _Standing, total_minor: int) -> Redemption:
    """How many of the member's spendable points could pay an order of `total_minor`."""
    prog = store.programme
    available, suspended = standing.available, standing.suspended
    usable = 0
    if not suspended:
        usable = usable_points(
            available,
            total_minor,
            points_per_currency_unit=prog.points_per_currency_unit,
            redeem_cap_pct=prog.redeem_cap_pct,
            min_redeem_balance=prog.min_redeem_balance,
        )
    return Redemption(
        available=available,
        usable_points=usable,
        usable_value_minor=redeem_value_minor(usable, prog.points_per_currency_unit),
        points_per_currency_unit=prog.points_per_currency_unit,
        redeem_cap_pct=prog.redeem_cap_pct,
        min_redeem_balance=prog.min_redeem_balance,
        suspended=suspended,
    )


# --- explaining a posted sale ---------------------------------------------------------------------


def explain(ctx: Context, purchase_id: int) -> Explanation:
    """Each line of purchase `purchase_id` with its base points and the rules' entries
    (ORDER_NOT_FOUND when there is no such purchase)."""
    with read(ctx) as conn:
        sale = conn.execute(
            select(
                purchases.c.id,
                purchases.c.store_id,
                purchases.c.member_id,
                purchases.c.order_id,
                purchases.c.occurred_at,
                purchases.c.currency,
                purchases.c.rule,
                purchases.c.points_earned,
                purchases.c.points_reversed,
            ).where(purchases.c.id == purchase_id)
        ).first()
        if sale is None:
            raise NotFound("ORDER_NOT_FOUND", "no such purchase", {"purchase_id": purchase_id})
        rows = conn.execute(
            select(
                purchase_lines.c.line_no,
                purchase_lines.c.sku,
                purchase_lines.c.category,
                purchase_lines.c.amount_minor,
                purchase_lines.c.points,
                purchase_lines.c.brand,
            )
            .where(purchase_lines.c.purchase_id == purchase_id)
            .order_by(purchase_lines.c.line_no)
        ).all()
        entries = conn.execute(
            select(
                purchase_line_rules.c.line_no,
                purchase_line_rules.c.points,
                earning_rules.c.id,
                earning_rules.c.code,
                earning_rules.c.name,
                earning_rules.c.version,
                earning_rules.c.kind,
            )
            .join(earning_rules, earning_rules.c.id == purchase_line_rules.c.rule_id)
            .where(purchase_line_rules.c.purchase_id == purchase_id)
            .order_by(purchase_line_rules.c.line_no, earning_rules.c.priority, earning_rules.c.code)
        ).all()
    by_line: dict[int, list[RuleEntry]] = defaultdict(list)
    for e in entries:
        by_line[e.line_no].append(RuleEntry(e.id, e.code, e.name, e.version, e.kind, int(e.points)))
    lines = []
    for r in rows:
        added = by_line.get(r.line_no, [])
        lines.append(
            LinePoints(
                line_no=r.line_no,
                sku=r.sku,
                category=r.category,
                amount_minor=int(r.amount_minor),
                base_points=int(r.points) - sum(e.points for e in added),
                entries=added,
                points=int(r.points),
                brand=r.brand,
            )
        )
    return Explanation(
        purchase_id=sale.id,
        store_id=sale.store_id,
        member_id=sale.member_id,
        order_id=sale.order_id,
        occurred_at=sale.occurred_at,
        currency=sale.currency,
        base_rule=sale.rule,
        lines=lines,
        points_earned=int(sale.points_earned),
        points_reversed=int(sale.points_reversed),
    )
