"""One evaluation of the programme on every posting path, for programmes, carts and returns that
Hypothesis draws (issue 25's acceptance; ADR 0006 and 0007).

Each example draws a programme — a few earning rules of every kind (multiplier, bonus per unit, fixed
bonus, exclude) with conditions (categories, minimum spend, member day, hours, stores, birthday,
purchase number, visit streak, brands), priorities, stop flags and limits (per-member caps, budgets per store
or chain), and offers (percent off, amount off, 满减 ladders, 每满减, buy X get Y) as coupons in
members' wallets, as shared codes with their limits, or as promotions — and a stream of sales by three
members (and anonymous customers) over three weeks in three time zones, some bringing codes, some
asking for promotions, with returns (whole, one line, a refund of all or part) of some of them.

The stream goes through four worlds, identical databases:

* **live**: each sale posted alone (`purchases.post_purchase`, what PostgreSQL's `PostAlone` and the
  CLI do), each quoted just before (`quote`): the quote must be what the posting does — the same
  refusal, or the same lines' amounts and discounts, coupons and promotions applied, points, and per
  line the same base and entries as the receipt's explanation (`explain`);
* **group_commit**: the sales between two returns in shared transactions of a few, a savepoint each
  (`GroupCommit`, SQLite's strategy; run on both backends);
* **set_based**: the same groups through `SetBasedBatches` (PostgreSQL's strategy; on both backends):
  a group is posted set-based with its coupons and promotions (asserted: the batch took it, unless a
  sale of it brings a code the batch cannot take, or prices offers after an earlier sale of its
  member, when every sale goes alone: `posting.batch_coupons`);
* **import**: the sales the live world posted, as an import carries them — the net amounts the
  coupons left as the lines' discounts, no codes — set-based in one import session
  (`post_set_based`, asserted taken), the returns between its batches.

Every answer (sale or refusal, return) is the live one, and the rows are equal row for row
(`paths_world.dump`: purchases, lines, per-rule entries, transfers, postings, lots, allocations,
accounts, tiers, returns, rule usage, coupons and their uses; an import's without coupons). The
invariants (design guide 6 and 8) are checked in the live world after every return: a return never
makes points spendable; a fully returned sale (every unit, or all its money) has taken back every
point it earned, leaves the member no more spendable points than before it was bought (plus what the
member's later sales earned) and has given its coupons back, usable again; a coupon, an offer and a
member's uses stay within their limits, the counters equal to the uses not given back; a rule's
usage stays within its caps and budgets and equals the points its entries gave.

Examples: a fixed, derandomised set (`PATHS_SETTINGS`), and the counterexamples Hypothesis found (each
fixed in src); `LOYALTY_TEST_PATHS_EXAMPLES=500` runs more. On SQLite the rows keep their very ids;
PostgreSQL's sequences skip what a refused sale reserved, so ids are compared by rank there.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, text

from loyalty.bootstrap import Context, FrozenClock
from loyalty.domain.actors import SYSTEM
from loyalty.domain.errors import DomainError
from loyalty.services import points, purchases
from loyalty.services.earning_rules.book import define_rules
from loyalty.services.earning_rules.quote import QuoteIn, explain, quote
from loyalty.services.offers import coupons as coupon_service
from loyalty.services.offers.book import OfferLimits, define_offer
from loyalty.services.offers.coupons import find_usable, issue_coupons
from loyalty.services.posting.alone import post_alone
from loyalty.services.posting.group_commit import GroupCommit
from loyalty.services.posting.import_session import BulkSession
from loyalty.services.posting.order_batch import OrderBatch
from loyalty.services.posting.pos_batch import batchable
from loyalty.services.posting.sale_request import SaleRequest
from loyalty.services.posting.set_based import post_set_based
from loyalty.services.posting.set_based_batches import ALONE, SetBasedBatches
from loyalty.services.schemas import PurchaseIn, PurchaseLineIn, ReturnIn, ReturnLineIn
from tests.imports.test_bulk_equivalence import NOW, assert_same_ledger
from tests.programme.paths_world import Chain, Worlds, assert_same_rows, build_worlds, dump

START = NOW - timedelta(days=40)  # the programme and its coupons, before the first sale
FIRST_DAY = NOW - timedelta(days=24)
DAYS = 21
CATEGORIES = ("coffee", "tea", "tobacco", None)  # tobacco: excluded by the seeded programme
BRANDS = ("ACME", "house", None)
STORE_CODES = ("EQ-SH", "EQ-NY", "EQ-LN")

PATHS_SETTINGS = settings(
    max_examples=int(os.environ.get("LOYALTY_TEST_PATHS_EXAMPLES", "30")),
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
)


# --- what Hypothesis draws --------------------------------------------------------------------------

_RULE_CONDITIONS: dict[str, st.SearchStrategy[Any]] = {
    "categories": st.lists(
        st.sampled_from(["coffee", "tea", "tobacco"]), min_size=1, max_size=2, unique=True
    ),
    "min_spend": st.sampled_from(["20", "100", "300"]),
    "member_day": st.sampled_from(
        [
            {"weekdays": ["sat", "sun"]},
            {"days_of_month": [8, 15, "last"]},
            {"nth_weekdays": [{"weekday": "fri", "n": "last"}, {"weekday": "mon", "n": 2}]},
        ]
    ),
    "hours": st.sampled_from(["08:00-20:00", "20:00-08:00"]),
    "stores": st.lists(st.sampled_from(STORE_CODES), min_size=1, max_size=2, unique=True),
    "birthday": st.sampled_from(["week", "month"]),
    "purchase_number": st.sampled_from([{"n": 1}, {"n": 2, "per": "week"}, {"every": 2, "per": "month"}]),
    "visit_streak": st.sampled_from(
        [{"periods": 2, "per": "day"}, {"periods": 3, "per": "day"}, {"periods": 2, "per": "week"}]
    ),
    "tiers": st.just(["silver"]),
    "channels": st.just(["online"]),
    "brands": st.lists(st.sampled_from([b for b in BRANDS if b]), min_size=1, max_size=2, unique=True),
}
_PER_MEMBER = st.fixed_dictionaries(
    {"points": st.integers(5, 200), "per": st.sampled_from(["day", "week", "month", "ever"])}
)
_BUDGET = st.fixed_dictionaries(
    {"points": st.integers(20, 600), "per": st.sampled_from(["week", "ever"])},
    optional={"per_store": st.booleans()},
)
_LIMITS = st.one_of(
    st.builds(lambda m: {"per_member": m}, _PER_MEMBER),
    st.builds(lambda b: {"budget": b}, _BUDGET),
    st.builds(lambda m, b: {"per_member": m, "budget": b}, _PER_MEMBER, _BUDGET),
)


@st.composite
def _conditions(draw: st.DrawFn, *, most: int) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(sorted(_RULE_CONDITIONS)), max_size=most, unique=True))
    return {name: draw(_RULE_CONDITIONS[name]) for name in names}


@st.composite
def _rule(draw: st.DrawFn, code: str) -> dict[str, Any]:
    kind = draw(st.sampled_from(["multiplier", "bonus_per_unit", "fixed_bonus", "exclude"]))
    rule: dict[str, Any] = {"code": code, "kind": kind, "priority": draw(st.sampled_from([10, 20, 30]))}
    if draw(st.integers(0, 3)) == 0:
        rule["stop"] = True
    when = draw(_conditions(most=2))
    if kind == "multiplier":
        rule["multiplier_pct"] = draw(st.sampled_from([150, 200, 300]))
    elif kind == "bonus_per_unit":
        rule["points_per_unit"] = draw(st.integers(1, 5))
    elif kind == "fixed_bonus":
        rule["points"] = draw(st.sampled_from([8, 50, 333]))
    else:  # an exclude rule names what it excludes
        when.setdefault("categories", draw(st.sampled_from([["tea"], ["coffee"]])))
    if when:
        rule["when"] = when
    if kind != "exclude" and draw(st.booleans()):
        rule["limits"] = draw(_LIMITS)
    return rule


@dataclass(frozen=True)
class OfferDraw:
    """An offer and how it reaches sales: a promotion, or coupons (one in each member's wallet, and/or
    one shared code usable `shared_uses` times), with the offer's limits."""

    raw: dict[str, Any]
    limits: OfferLimits
    wallets: bool
    shared_uses: int  # 0: no shared code


_OFFER_KINDS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "percent_off": st.builds(lambda p: {"kind": "percent_off", "percent": p}, st.sampled_from([5, 10, 25])),
    "amount_off": st.builds(lambda a: {"kind": "amount_off", "amount": a}, st.sampled_from(["5", "30"])),
    "ladder": st.sampled_from(
        [
            {"kind": "ladder", "steps": [{"over": 100, "off": 20}]},
            {"kind": "ladder", "steps": [{"over": 100, "off": 20}, {"over": 300, "off": 80}]},
        ]
    ),
    "every": st.just({"kind": "ladder", "repeat": True, "steps": [{"over": 100, "off": 10}]}),
    "buy_x_get_y": st.builds(lambda b: {"kind": "buy_x_get_y", "buy": b, "get": 1}, st.integers(1, 2)),
}


@st.composite
def _offer(draw: st.DrawFn, code: str) -> OfferDraw:
    raw = {"code": code, **draw(st.one_of(*_OFFER_KINDS.values()))}
    when = {}
    if draw(st.booleans()):
        when["categories"] = draw(st.sampled_from([["coffee"], ["tea", "coffee"]]))
    if draw(st.integers(0, 3)) == 0:
        when["min_spend"] = draw(st.sampled_from(["50", "200"]))
    if draw(st.integers(0, 5)) == 0:
        when["tiers"] = ["silver"]
    if when:
        raw["when"] = when
    group = draw(st.sampled_from([None, None, "g", "exclusive"]))
    if group:
        raw["group"] = group
    if draw(st.integers(0, 3)) == 0:
        raw["max_discount"] = "40"
    if draw(st.integers(0, 2)) == 0:
        return OfferDraw(raw | {"automatic": True}, OfferLimits(), wallets=False, shared_uses=0)
    limits = OfferLimits(
        per_member=draw(st.sampled_from([None, None, 1])),
        max_uses=draw(st.sampled_from([None, None, 2, 3])),
        budget_minor=draw(st.sampled_from([None, None, 3_000, 8_000])),
    )
    wallets, shared = draw(st.sampled_from([(True, 0), (False, 1), (False, 3), (True, 2)]))
    return OfferDraw(raw, limits, wallets, shared)


@dataclass(frozen=True)
class SaleDraw:
    member: int | None  # index into the chain's members; None: an anonymous sale
    store: int
    day: int
    minute: int
    channel: str
    #: category, quantity, unit price, till's discount (and the line's brand, if any)
    lines: list[tuple[Any, ...]]
    #: the codes brought: (another's, k), the k-th (modulo their number) of the coupons its customer
    #: may use (their wallet's, shared codes), or of those they may not (other members' wallets)
    codes: list[tuple[bool, int]]
    promotions: bool


_LINE = st.tuples(
    st.sampled_from(CATEGORIES),
    st.integers(1, 3),
    st.sampled_from([500, 1_000, 4_999, 5_000, 9_900, 15_000, 30_000]) | st.integers(100, 90_000),
    st.sampled_from([0, 0, 0, 100]),
    st.sampled_from(BRANDS),
)
_SALE = st.builds(
    SaleDraw,
    member=st.sampled_from([0, 0, 1, 1, 2, None]),
    store=st.integers(0, 2),
    day=st.integers(0, DAYS - 1),
    minute=st.integers(0, 24 * 60 - 1),
    channel=st.sampled_from(["store", "store", "online"]),
    lines=st.lists(_LINE, min_size=1, max_size=3),
    codes=st.just([])  # two sales in three bring no code: runs of them are batched set-based
    | st.just([])
    | st.lists(
        st.tuples(st.integers(0, 5).map(lambda n: n == 0), st.integers(0, 11)), min_size=1, max_size=2
    ),
    promotions=st.sampled_from([False, False, False, True]),
)


@dataclass(frozen=True)
class ReturnDraw:
    sale: int  # index into the sales (modulo their number)
    mode: str  # lines: every line left; line: one unit of the first line left; all / part: a refund
    percent: int  # of what is left, for `part`
    hours: int  # after the sale


_RETURN = st.builds(
    ReturnDraw,
    sale=st.integers(0, 30),
    mode=st.sampled_from(["lines", "line", "all", "part"]),
    percent=st.integers(1, 99),
    hours=st.integers(1, 72),
)


@dataclass(frozen=True)
class Scenario:
    rules: list[dict[str, Any]]
    offers: list[OfferDraw]
    sales: list[SaleDraw]
    returns: list[ReturnDraw]
    groups: list[int]  # the sizes of the grouped paths' transactions, in turn


@st.composite
def _scenario(draw: st.DrawFn) -> Scenario:
    n_rules = draw(st.sampled_from([1, 2, 3, 4, 0]))
    rules = [draw(_rule(f"r{i}")) for i in range(n_rules)]
    offers = [draw(_offer(f"o{i}")) for i in range(draw(st.integers(0 if rules else 1, 3)))]
    return Scenario(
        rules=rules,
        offers=offers,
        sales=draw(st.lists(_SALE, min_size=3, max_size=9)),
        returns=draw(st.lists(_RETURN, max_size=4)),
        groups=draw(st.lists(st.integers(2, 6), min_size=1, max_size=3)),
    )


# --- a scenario as each world posts it ------------------------------------------------------------


@dataclass(frozen=True)
class Coupon:
    offer: int
    member: int | None  # a wallet's; None: a shared code
    code: str


def _codes(seed: int) -> Any:
    """Coupon codes drawn from `seed`, so that every world issues the same codes (and its sales hash
    alike); still 16 symbols of the alphabet."""
    rng = random.Random(seed)
    return lambda: "".join(rng.choice(coupon_service.ALPHABET) for _ in range(coupon_service.CODE_LENGTH))


def _define(ctx: Context, chain: Chain, scenario: Scenario) -> list[Coupon]:
    """The scenario's programme in force from START (the clock moved back: nothing backdated), its
    coupons issued then; the coupons, in issue order."""
    clock = ctx.clock
    issued: list[Coupon] = []
    try:
        ctx.clock = FrozenClock(START)
        if scenario.rules:
            define_rules(ctx, scenario.rules)
        with mock.patch.object(coupon_service, "new_code", _codes(7)):
            for i, offer in enumerate(scenario.offers):
                define_offer(ctx, offer.raw, limits=offer.limits)
                if offer.wallets:
                    wallet = issue_coupons(ctx, offer.raw["code"], member_ids=chain.member_ids).codes
                    issued += [Coupon(i, m, code) for m, code in enumerate(wallet)]
                if offer.shared_uses:
                    (code,) = issue_coupons(ctx, offer.raw["code"], count=1, max_uses=offer.shared_uses).codes
                    issued.append(Coupon(i, None, code))
    finally:
        ctx.clock = clock
    return issued


@dataclass(frozen=True)
class Event:
    at: datetime
    sale: int | None = None  # index of the sale
    ret: int | None = None  # index of the return draw


def _sales(chain: Chain, scenario: Scenario, coupons: list[Coupon]) -> list[PurchaseIn]:
    out = []
    for i, s in enumerate(scenario.sales):
        codes = []
        for foreign, k in s.codes:
            mine = [c for c in coupons if c.member in (None, s.member)]
            theirs = [c for c in coupons if c.member not in (None, s.member)]
            pick = theirs if foreign and theirs else mine
            if pick and pick[k % len(pick)].code not in codes:
                codes.append(pick[k % len(pick)].code)
        out.append(
            PurchaseIn(
                store_id=chain.store_ids[s.store],
                order_id=f"S{i}",
                occurred_at=_sale_time(s),
                member_id=None if s.member is None else chain.member_ids[s.member],
                channel=s.channel,
                coupon_codes=codes,
                apply_promotions=s.promotions,
                lines=[
                    PurchaseLineIn(
                        sku=f"K{j}",
                        category=c,
                        quantity=q,
                        unit_price_minor=p,
                        discount_minor=min(d, q * p),
                        brand=brand[0] if brand else None,
                    )
                    for j, (c, q, p, d, *brand) in enumerate(s.lines)
                ],
            )
        )
    return out


def _sale_time(s: SaleDraw) -> datetime:
    return FIRST_DAY + timedelta(days=s.day, minutes=s.minute)


def _events(scenario: Scenario) -> list[Event]:
    """Sales and returns in time order (a return after its sale, before NOW)."""
    events = [Event(_sale_time(s), sale=i) for i, s in enumerate(scenario.sales)]
    for k, r in enumerate(scenario.returns):
        sold = _sale_time(scenario.sales[r.sale % len(scenario.sales)])
        events.append(
            Event(min(sold + timedelta(hours=r.hours, seconds=1), NOW - timedelta(minutes=1)), ret=k)
        )
    return sorted(events, key=lambda e: (e.at, e.ret is not None, e.sale or 0, e.ret or 0))


@dataclass
class Outcome:
    """What one world answered a step: a sale's or a return's answer (its JSON, less the ids), or the
    refusal's class and code."""

    ok: bool
    value: Any

    @classmethod
    def of(cls, answer: Any) -> Outcome:
        body = answer if isinstance(answer, dict) else answer.model_dump(mode="json")
        return cls(True, {k: v for k, v in body.items() if k not in ("purchase_id", "return_row_id")})

    @classmethod
    def refused(cls, exc: Exception) -> Outcome:
        assert isinstance(exc, DomainError), exc  # anything else is a bug, never an answer
        return cls(False, (type(exc).__name__, exc.code))


@dataclass
class Plan:
    """The stream as the live world posted it: its steps, each the sales between two returns (their
    indexes) or a return (its index: those of a refused sale, or with nothing left to return, are
    left out), the returns as posted, and every step's live answer."""

    steps: list[tuple[str, Any]]
    sales: list[PurchaseIn]
    sale_outcomes: dict[int, Outcome]
    return_outcomes: dict[int, Outcome]
    returns: dict[int, ReturnIn]


# --- the live world: quotes, posting, invariants ---------------------------------------------------


def _spendable(ctx: Context, member_id: int) -> int:
    with ctx.engine.connect() as conn:
        return points.available_in(conn, member_id, ctx.now())


def _quoted_as_posted(ctx: Context, sale: PurchaseIn) -> tuple[Outcome, int | None]:
    """Quote the sale, post it, and check that the quote is what the posting did; the posting's
    outcome and the member's spendable points before it (the quote's)."""
    asked = QuoteIn(
        store_id=sale.store_id,
        member_id=sale.member_id,
        occurred_at=sale.occurred_at,
        channel=sale.channel,
        lines=sale.lines,
        coupon_codes=sale.coupon_codes,
        apply_promotions=sale.apply_promotions,
    )
    try:
        quoted = quote(ctx, asked)
    except DomainError as exc:
        quote_refused: DomainError | None = exc
    else:
        quote_refused = None
    try:
        posted = purchases.post_purchase(ctx, sale)
    except DomainError as exc:
        refused: DomainError | None = exc
    else:
        refused = None
    if refused is not None or quote_refused is not None:  # both refuse it, alike
        said = [None if e is None else (type(e).__name__, e.code) for e in (quote_refused, refused)]
        assert said[0] == said[1], ("the quote and the posting disagree", said)
        assert refused is not None
        return Outcome.refused(refused), None
    assert quoted.total_minor == posted.total_minor
    assert quoted.points == posted.points_earned
    assert quoted.anonymous == (posted.member_id is None)
    assert [(c.code, c.offer_code, c.discount_minor) for c in quoted.coupons.applied] == [
        (c.code, c.offer_code, c.discount_minor) for c in posted.coupons
    ]
    told = explain(ctx, posted.purchase_id)  # what the receipt's explanation says, from the rows
    assert [_explained(ln) for ln in quoted.lines] == [_explained(ln) for ln in told.lines]
    with ctx.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT discount_minor FROM purchase_lines WHERE purchase_id = :p ORDER BY line_no"),
            {"p": posted.purchase_id},
        ).scalars()
        off = quoted.coupons.per_line if quoted.coupons.applied else [0] * len(sale.lines)
        assert list(stored) == [ln.discount_minor + d for ln, d in zip(sale.lines, off, strict=True)]
    spendable = None if quoted.redemption is None else quoted.redemption.available
    return Outcome.of(posted), spendable


def _explained(line: Any) -> tuple[Any, ...]:
    entries = sorted((e.code, e.version, e.points) for e in line.entries)
    return (line.line_no, line.amount_minor, line.base_points, line.points, entries)


def _return_for(ctx: Context, sale: PurchaseIn, draw: ReturnDraw, k: int, at: datetime) -> ReturnIn | None:
    """The drawn return as the sale now stands (None when there is nothing left to return)."""
    with ctx.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT id, total_minor, refunded_minor FROM purchases WHERE store_id = :s AND order_id = :o"
            ),
            {"s": sale.store_id, "o": sale.order_id},
        ).one()
        left = conn.execute(
            text(
                "SELECT line_no, quantity - returned_quantity FROM purchase_lines "
                "WHERE purchase_id = :p AND returned_quantity < quantity ORDER BY line_no"
            ),
            {"p": row.id},
        ).all()
    base = {"store_id": sale.store_id, "return_id": f"R{k}", "order_id": sale.order_id, "occurred_at": at}
    money_left = row.total_minor - row.refunded_minor
    if draw.mode in ("lines", "line"):
        if not left:
            return None
        lines = left if draw.mode == "lines" else [(left[0][0], 1)]
        return ReturnIn(**base, lines=[ReturnLineIn(line_no=n, quantity=q) for n, q in lines])
    if money_left <= 0:
        return None
    refund = money_left if draw.mode == "all" else max(1, money_left * draw.percent // 100)
    return ReturnIn(**base, refund_minor=refund)


def _post_live(ctx: Context, scenario: Scenario, sales: list[PurchaseIn]) -> Plan:
    plan = Plan([], sales, {}, {}, {})
    spendable_before: dict[int, int] = {}  # sale → its member's spendable points before it
    earned_after: dict[int, int] = {}  # sale → points its member's later sales earned
    limited = {r["code"]: r["limits"] for r in scenario.rules if "limits" in r}
    group: list[int] = []
    returned: set[int] = set()  # the sales fully returned
    for step in _events(scenario):
        if step.sale is not None:
            i = step.sale
            sale = sales[i]
            outcome, spendable = _quoted_as_posted(ctx, sale)
            plan.sale_outcomes[i] = outcome
            if outcome.ok and sale.member_id is not None:
                assert spendable is not None
                for j in earned_after:
                    if sales[j].member_id == sale.member_id:
                        earned_after[j] += outcome.value["points_earned"]
                spendable_before[i], earned_after[i] = spendable, 0
            group.append(i)
            continue
        assert step.ret is not None
        if group:
            plan.steps.append(("sales", group))
            group = []
        k = step.ret
        draw = scenario.returns[k]
        i = draw.sale % len(sales)
        sale = sales[i]
        if not plan.sale_outcomes[i].ok:
            continue  # refused: there is nothing to return
        ret = _return_for(ctx, sale, draw, k, step.at)
        if ret is None:
            continue
        member = sale.member_id
        before = None if member is None else _spendable(ctx, member)
        try:
            plan.return_outcomes[k] = Outcome.of(purchases.post_return(ctx, ret))
        except DomainError as exc:
            plan.return_outcomes[k] = Outcome.refused(exc)
        plan.returns[k] = ret
        plan.steps.append(("return", k))
        with ctx.engine.connect() as conn:
            fully = _fully_returned(conn)
            newly = fully - returned
            returned = fully
            if member is not None:
                after = points.available_in(conn, member, ctx.now())
                assert before is not None
                assert after <= before, ("a return made points spendable", ret, before, after)
                if i in fully:  # the buy→return cycle leaves no more than before the buy, plus later sales
                    assert after <= spendable_before[i] + earned_after[i], (ret, after, spendable_before[i])
            _check_coupons(conn, fully)
            _check_rule_limits(conn, limited)
        if i in newly:  # given back by this return: usable again (later sales may take them again)
            _check_usable_again(ctx, sale, step.at)
    if group:
        plan.steps.append(("sales", group))
    with ctx.engine.connect() as conn:
        _check_coupons(conn, returned)
        _check_rule_limits(conn, limited)
    return plan


def _fully_returned(conn: Connection) -> set[int]:
    """Indexes (S<i>) of the sales fully returned: every unit of every line, or all the money paid."""
    rows = conn.execute(
        text(
            "SELECT p.order_id, p.points_earned, p.points_reversed FROM purchases p "
            "WHERE p.order_id LIKE 'S%' AND ((p.refunded_minor >= p.total_minor AND p.total_minor > 0) "
            "OR NOT EXISTS (SELECT 1 FROM purchase_lines l "
            "WHERE l.purchase_id = p.id AND l.returned_quantity < l.quantity))"
        )
    ).all()
    for order, earned, reversed_ in rows:  # a reversal takes back all the sale earned, once
        assert reversed_ == earned, ("a fully returned sale kept points", order, earned, reversed_)
    return {int(r.order_id[1:]) for r in rows}


def _check_coupons(conn: Connection, fully: set[int]) -> None:
    """Every coupon, offer and member within its limits, each counter the uses not given back, and
    a fully returned sale's uses given back."""
    for coupon, max_uses, uses, live in conn.execute(
        text(
            "SELECT c.id, c.max_uses, c.uses, (SELECT count(*) FROM coupon_uses u WHERE u.coupon_id = c.id "
            "AND u.released_at IS NULL) FROM coupons c"
        )
    ):
        assert 0 <= uses <= max_uses, ("coupon over its limit", coupon, uses, max_uses)
        assert uses == live, ("coupon's counter is not its uses", coupon, uses, live)
    for offer, max_uses, budget, uses, discounted, n, total in conn.execute(
        text(
            "SELECT o.code, o.max_uses, o.budget_minor, o.uses, o.discounted_minor, count(u.id), "
            "coalesce(sum(u.discount_minor), 0) FROM offers o LEFT JOIN coupon_uses u ON u.offer_id = o.id "
            "AND u.coupon_id IS NOT NULL AND u.released_at IS NULL GROUP BY o.id, o.code, o.max_uses, "
            "o.budget_minor, o.uses, o.discounted_minor"
        )
    ):
        counters = (uses, discounted)
        assert counters == (n, total), ("offer's counters are not its uses", offer, counters, n, total)
        assert max_uses is None or uses <= max_uses, ("offer over its uses", offer)
        assert budget is None or 0 <= discounted <= budget, ("offer over its budget", offer, discounted)
    over = conn.execute(
        text(
            "SELECT o.code, u.member_id, count(*) FROM coupon_uses u JOIN offers o ON o.id = u.offer_id "
            "WHERE u.released_at IS NULL AND u.member_id IS NOT NULL AND o.per_member_limit IS NOT NULL "
            "GROUP BY o.code, o.per_member_limit, u.member_id HAVING count(*) > o.per_member_limit"
        )
    ).all()
    assert over == [], ("members over an offer's limit", over)
    kept = conn.execute(
        text(
            "SELECT p.order_id FROM coupon_uses u JOIN purchases p ON p.id = u.purchase_id "
            "WHERE u.released_at IS NULL"
        )
    ).scalars()
    assert not {int(o[1:]) for o in kept} & fully, "a fully returned sale kept its coupons"


def _check_rule_limits(conn: Connection, limited: dict[str, dict[str, Any]]) -> None:
    """Each limited rule's usage within its caps and budgets, and equal to what its entries gave."""
    usage = conn.execute(text("SELECT rule_code, subject_kind, subject_id, points FROM rule_usage")).all()
    given = conn.execute(
        text(
            "SELECT r.code, p.member_id, p.store_id, sum(e.points) FROM purchase_line_rules e "
            "JOIN earning_rules r ON r.id = e.rule_id JOIN purchases p ON p.id = e.purchase_id "
            "GROUP BY r.code, p.member_id, p.store_id"
        )
    ).all()
    for code, kind, _subject, pts in usage:
        limits = limited[code]
        most = limits["per_member"]["points"] if kind == "member" else limits["budget"]["points"]
        assert 0 <= pts <= most, ("a rule over its limit", code, kind, pts, most)
    for code, limits in limited.items():
        counted: dict[tuple[str, int], int] = {}
        for c, kind, subject, pts in usage:
            if c == code:  # one chain-wide budget per rule: its subject's id is the usage's own
                key = ("chain", 1) if kind == "chain" else (kind, subject)
                counted[key] = counted.get(key, 0) + pts
        gave: dict[tuple[str, int], int] = {}
        for c, member, store, pts in given:
            if c != code:
                continue
            keys = []
            if "per_member" in limits:
                keys.append(("member", member))
            if "budget" in limits:
                keys.append(("store", store) if limits["budget"].get("per_store") else ("chain", 1))
            for key in keys:
                gave[key] = gave.get(key, 0) + int(pts)
        assert {k: v for k, v in counted.items() if v} == {k: v for k, v in gave.items() if v}, (
            code,
            counted,
            gave,
        )


def _check_usable_again(ctx: Context, sale: PurchaseIn, at: datetime) -> None:
    """A fully returned sale's coupons can be used again by its customer."""
    with ctx.engine.connect() as conn:
        codes = conn.execute(
            text(
                "SELECT c.code FROM coupon_uses u JOIN coupons c ON c.id = u.coupon_id "
                "JOIN purchases p ON p.id = u.purchase_id WHERE p.store_id = :s AND p.order_id = :o"
            ),
            {"s": sale.store_id, "o": sale.order_id},
        ).scalars()
        for code in codes:
            find_usable(conn, code, sale.member_id, at)  # raises COUPON_NOT_USABLE otherwise


# --- the other worlds ------------------------------------------------------------------------------


def _groups(indexes: list[int], sizes: list[int], cut_before: Any = None) -> Iterator[list[int]]:
    """`indexes` in groups of the drawn sizes, in turn; a sale `cut_before` says so is a group alone."""
    group: list[int] = []
    turn = 0
    for i in indexes:
        alone = cut_before is not None and cut_before(i)
        if group and (alone or len(group) >= sizes[turn % len(sizes)]):
            yield group
            group, turn = [], turn + 1
        group.append(i)
        if alone:
            yield group
            group, turn = [], turn + 1
    if group:
        yield group


def _request(sale: PurchaseIn) -> SaleRequest:
    return SaleRequest(sale, SYSTEM, render=lambda result: result.model_dump(mode="json"))


def _post_return(ctx: Context, ret: ReturnIn) -> Outcome:
    try:
        return Outcome.of(purchases.post_return(ctx, ret))
    except DomainError as exc:
        return Outcome.refused(exc)


def _post_group_commit(ctx: Context, plan: Plan, sizes: list[int]) -> dict[int, Outcome]:
    committer = GroupCommit(ctx)
    answers: dict[int, Outcome] = {}
    for kind, step in plan.steps:
        if kind == "return":
            answers[-1 - step] = _post_return(ctx, plan.returns[step])
            continue
        for group in _groups(step, sizes):
            jobs = [(lambda conn, r=_request(plan.sales[i]): committer._post_in(conn, r)) for i in group]
            for i, (ok, value) in zip(group, committer._transaction(jobs), strict=True):
                answers[i] = Outcome.of(value.body) if ok else Outcome.refused(value)
    return answers


def _post_set_based(ctx: Context, plan: Plan, sizes: list[int]) -> dict[int, Outcome]:
    batches = SetBasedBatches(ctx)
    answers: dict[int, Outcome] = {}
    for kind, step in plan.steps:
        if kind == "return":
            answers[-1 - step] = _post_return(ctx, plan.returns[step])
            continue
        for group in _groups(step, sizes, cut_before=lambda i: not batchable(plan.sales[i])):
            requests = [_request(plan.sales[i]) for i in group]
            outcomes = batches._transaction(requests)
            if len(group) > 1:
                event("set-based batch of several sales")
            # A batch is taken whole or left whole, and left only for a code it cannot take: one that
            # the sale is refused for alone, or a member's after an earlier sale of the batch might
            # have upgraded them (the tier an offer may be scoped by).
            left_whole = all(value is ALONE for ok, value in outcomes if ok) and (
                any(not plan.sale_outcomes[i].ok for i in group if plan.sales[i].coupon_codes)
                or _coupons_after_members_sale(plan, group)
            )
            if any(request.sale.coupon_codes for request in requests) and not left_whole:
                event("set-based batch with coupons")
            if any(request.sale.apply_promotions for request in requests) and not left_whole:
                event("set-based batch with promotions")
            for i, request, (ok, value) in zip(group, requests, outcomes, strict=True):
                if ok and value is ALONE:
                    assert not batchable(request.sale) or left_whole, ("the batch left a sale it takes", i)
                    try:
                        value = post_alone(ctx, request)
                    except DomainError as exc:
                        ok, value = False, exc
                answers[i] = Outcome.of(value.body) if ok else Outcome.refused(value)
    return answers


def _coupons_after_members_sale(plan: Plan, group: list[int]) -> bool:
    """Whether a sale of `group` brings codes or asks for promotions after an earlier sale of its
    member in the group (an offer scoped by tier then leaves the batch whole)."""
    seen: set[int] = set()
    for i in group:
        member = plan.sales[i].member_id
        offers = plan.sales[i].coupon_codes or plan.sales[i].apply_promotions
        if member is not None and member in seen and offers:
            return True
        if member is not None:
            seen.add(member)
    return False


def _net(live: Context, sale: PurchaseIn) -> PurchaseIn:
    """The sale as an import carries it: the lines' discounts as posted (the till's and the coupons'),
    no codes, no promotions."""
    with live.engine.connect() as conn:
        off = conn.execute(
            text(
                "SELECT l.discount_minor FROM purchase_lines l JOIN purchases p ON p.id = l.purchase_id "
                "WHERE p.store_id = :s AND p.order_id = :o ORDER BY l.line_no"
            ),
            {"s": sale.store_id, "o": sale.order_id},
        ).scalars()
        lines = [ln.model_copy(update={"discount_minor": d}) for ln, d in zip(sale.lines, off, strict=True)]
    return sale.model_copy(update={"lines": lines, "coupon_codes": [], "apply_promotions": False})


def _post_import(ctx: Context, live: Context, plan: Plan, sizes: list[int]) -> dict[int, Outcome]:
    session = BulkSession()  # one import run, its batches and the returns between them
    answers: dict[int, Outcome] = {}
    for kind, step in plan.steps:
        if kind == "return":
            answers[-1 - step] = _post_return(ctx, plan.returns[step])
            continue
        posted = [i for i in step if plan.sale_outcomes[i].ok]
        for group in _groups(posted, sizes):
            batch = OrderBatch.from_items([_net(live, plan.sales[i]) for i in group])
            with ctx.engine.begin() as conn:
                assert post_set_based(conn, ctx, batch, session) is not None, "the import left its batch"
    return answers


# --- the property ----------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def worlds(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worlds]:
    """The four worlds of one backend, built once (the test resets them for each example)."""
    yield from build_worlds(request.param, tmp_path_factory.mktemp("paths"))


# Counterexamples Hypothesis found, kept as examples (each fixed in src):
#: a quote applied a coupon whose offer's budget (¥30) was short of its discount (10 % of ¥310) and
#: the posting refused it (COUPON_NOT_USABLE): the quote now refuses it too (`Usable.takes`)
QUOTE_OVER_BUDGET = Scenario(
    rules=[],
    offers=[
        OfferDraw(
            {"code": "o0", "kind": "percent_off", "percent": 10}, OfferLimits(budget_minor=3_000), True, 0
        )
    ],
    sales=[SaleDraw(0, 0, 0, 600, "store", [("coffee", 1, 31_000, 0)], [(False, 0)], False)],
    returns=[],
    groups=[1],
)
#: a sale of tobacco (excluded: 0 points) and tea (20 points), the tobacco line returned, then the
#: rest refunded: the refund took back its money's share of the 20 points (16), and the fully
#: returned sale kept 4 points
LINE_THEN_REFUND = Scenario(
    rules=[],
    offers=[],
    sales=[SaleDraw(2, 0, 0, 600, "store", [("tobacco", 1, 649, 0), ("tea", 1, 2_000, 0)], [], False)],
    returns=[ReturnDraw(0, "line", 1, 1), ReturnDraw(0, "all", 1, 2)],
    groups=[1],
)
#: the same sale with a shared ¥5 coupon, 90 % of its money refunded, then the tobacco line returned,
#: which refunded the rest: all the money back, but the lines not all returned, so the sale kept 2
#: of its 16 points and its coupon's use. Now a sale is fully returned when every unit is or all its
#: money is, and then takes back all its points left and gives its coupons back
#: (`posting.returns.post_return_in`, and the same replay in `purchase_claims`)
REFUND_THEN_LINE = Scenario(
    rules=[],
    offers=[OfferDraw({"code": "o0", "kind": "amount_off", "amount": "5"}, OfferLimits(), False, 1)],
    sales=[
        SaleDraw(0, 0, 0, 600, "store", [("tobacco", 1, 1_000, 0), ("tea", 1, 2_000, 0)], [(False, 0)], False)
    ],
    returns=[ReturnDraw(0, "part", 90, 1), ReturnDraw(0, "line", 1, 2)],
    groups=[1],
)

#: a member's wallet coupon (5 % off coffee) used by their first sale of a batch and brought again by
#: their second, which has no coffee: alone the second is refused (the coupon is used up), so the batch,
#: which found the code usable for both before either used it, must not post the second without it
#: (`batch_coupons.price_coupons` counts the batch's own uses against what the code had left)
USED_UP_IN_BATCH = Scenario(
    rules=[],
    offers=[
        OfferDraw(
            {"code": "o0", "kind": "percent_off", "percent": 5, "when": {"categories": ["coffee"]}},
            OfferLimits(),
            True,
            0,
        )
    ],
    sales=[
        SaleDraw(0, 0, 0, 600, "store", [("coffee", 1, 500, 0)], [(False, 0)], False),
        SaleDraw(0, 0, 0, 601, "store", [("tea", 1, 500, 0)], [(False, 0)], False),
    ],
    returns=[],
    groups=[2],
)


def _tell(live: Context, plan: Plan) -> None:
    """What the example exercised (`--hypothesis-show-statistics`), so that a strategy that stops
    reaching a case shows."""
    with live.engine.connect() as conn:
        seen = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM coupon_uses WHERE coupon_id IS NOT NULL), "
                "(SELECT count(*) FROM coupon_uses WHERE coupon_id IS NULL), "
                "(SELECT count(*) FROM purchase_line_rules), (SELECT count(*) FROM rule_usage), "
                "(SELECT count(*) FROM tier_history WHERE reason = 'upgrade'), "
                "(SELECT count(*) FROM coupon_uses WHERE released_at IS NOT NULL)"
            )
        ).one()
    for name, n in zip(
        ("coupon used", "promotion used", "rule entry", "rule limited", "upgrade", "use given back"),
        seen,
        strict=True,
    ):
        if n:
            event(name)
    for outcome in plan.sale_outcomes.values():
        if not outcome.ok:
            event(f"sale refused: {outcome.value[1]}")
    if plan.returns:
        event(f"returns posted: {len(plan.returns)}")


@PATHS_SETTINGS
@example(scenario=USED_UP_IN_BATCH)
@example(scenario=QUOTE_OVER_BUDGET)
@example(scenario=LINE_THEN_REFUND)
@example(scenario=REFUND_THEN_LINE)
@given(scenario=_scenario())
def test_every_path_posts_what_the_quote_said(worlds: Worlds, scenario: Scenario) -> None:
    """Quote = posting, the same answers and rows on every path, and the invariants (module docstring)."""
    ctxs = worlds.fresh()
    chain = worlds.chain
    issued = [_define(ctx, chain, scenario) for ctx in ctxs.values()]
    assert all(coupons == issued[0] for coupons in issued)  # the same codes everywhere
    sales = _sales(chain, scenario, issued[0])
    live = ctxs["live"]
    plan = _post_live(live, scenario, sales)
    _tell(live, plan)
    expected = plan.sale_outcomes | {-1 - k: o for k, o in plan.return_outcomes.items()}

    assert _post_group_commit(ctxs["group_commit"], plan, scenario.groups) == expected
    assert _post_set_based(ctxs["set_based"], plan, scenario.groups) == expected
    imported = _post_import(ctxs["import"], live, plan, scenario.groups)
    assert imported == {k: o for k, o in expected.items() if k < 0}  # the returns' answers

    rows = dump(live)
    for path in ("group_commit", "set_based"):
        assert_same_rows(rows, dump(ctxs[path]), path)
        if worlds.backend == "sqlite":  # the very ids too (PostgreSQL's skip what refused sales took)
            assert_same_ledger(live, ctxs[path])
    assert_same_rows(dump(live, for_import=True), dump(ctxs["import"], for_import=True), "import")
    for ctx in ctxs.values():
        assert points.verify_ledger(ctx)["ok"]
