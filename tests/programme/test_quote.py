"""The till's quote gives exactly what posting the cart gives (line for line and rule for rule, limits
and purchase numbers included) and writes nothing; a receipt's explanation adds up to its lines'
points; the points a quote says can pay for the cart are what a redemption accepts. Both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select, text, update

from loyalty.bootstrap import Context, FrozenClock
from loyalty.db.core_tables import members, purchases, tiers
from loyalty.db.programme_tables import purchase_line_rules, rule_usage
from loyalty.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from loyalty.domain.redemption import redeem_value_minor, usable_points, within_cap
from loyalty.services import members as members_service
from loyalty.services import merchants, points, seed
from loyalty.services import purchases as purchases_service
from loyalty.services.earning_rules import quote as quote_service
from loyalty.services.earning_rules import yaml_io
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn
from tests.core.conftest import clock, ctx

__all__ = ["clock", "ctx"]

#: the rounding example of docs/marketer-guide.md
GUIDE_RULES = [
    {"code": "member-day", "kind": "multiplier", "multiplier_pct": 200, "priority": 20,
     "when": {"member_day": {"days_of_month": [8]}}},
    {"code": "bakery-x15", "kind": "multiplier", "multiplier_pct": 150, "priority": 40,
     "when": {"categories": ["烘焙"]}},
    {"code": "spend-100-bonus", "kind": "fixed_bonus", "points": 100, "priority": 50,
     "when": {"min_spend": "100"}},
]  # fmt: skip

#: a programme whose limits and purchase numbers move as sales are posted
PROGRAMME = [
    *GUIDE_RULES,
    {"code": "no-gift-cards", "kind": "exclude", "when": {"categories": ["gift_card"]}},
    {"code": "coffee-morning", "kind": "bonus_per_unit", "points_per_unit": 2, "priority": 10, "stop": True,
     "when": {"categories": ["咖啡"], "hours": "07:00-11:00"}},
    {"code": "birthday-month", "kind": "multiplier", "multiplier_pct": 200, "priority": 30,
     "when": {"birthday": "month"}, "limits": {"per_member": {"points": 150, "per": "month"}}},
    {"code": "first-purchase", "kind": "fixed_bonus", "points": 88, "when": {"purchase_number": {"n": 1}}},
    {"code": "every-second-today", "kind": "fixed_bonus", "points": 20,
     "when": {"purchase_number": {"every": 2, "per": "day"}}},
    {"code": "budgeted", "kind": "bonus_per_unit", "points_per_unit": 1, "priority": 70,
     "limits": {"budget": {"points": 400, "per": "month"}}},
    {"code": "mini-program", "kind": "multiplier", "multiplier_pct": 120,
     "when": {"channels": ["mini_program"]}},
]  # fmt: skip
CATEGORIES = ["烘焙", "咖啡", "gift_card", "乳制品", None]
START = datetime(2026, 1, 1, tzinfo=UTC)
SALES_FROM = datetime(2026, 1, 6, 23, 0, tzinfo=UTC)  # 07:00 on 7 January in Shanghai


@pytest.fixture
def store_id(ctx: Context) -> int:
    seed.ensure_programme(ctx)
    return merchants.list_stores(ctx)[0].id


def _define(ctx: Context, rules: list[dict[str, Any]]) -> None:
    clock = ctx.clock
    try:
        ctx.clock = FrozenClock(START)
        yaml_io.import_rules(ctx, {"rules": rules})
    finally:
        ctx.clock = clock


def _member(
    ctx: Context, phone: str, store_id: int, *, tier: str = "normal", birthday: date | None = None
) -> int:
    member = members_service.register_member(
        ctx, MemberIn(phone=phone, name="Q", registration_store_id=store_id, birthday=birthday)
    )
    with ctx.engine.begin() as conn:
        tier_id = conn.execute(select(tiers.c.id).where(tiers.c.code == tier)).scalar_one()
        conn.execute(update(members).where(members.c.id == member.id).values(tier_id=tier_id))
    return member.id


def _line(
    sku: str, category: str | None, quantity: int, unit_minor: int, discount: int = 0
) -> PurchaseLineIn:
    return PurchaseLineIn(
        sku=sku, category=category, quantity=quantity, unit_price_minor=unit_minor, discount_minor=discount
    )


def _entries(ctx: Context, purchase_id: int) -> list[tuple[int, int, int]]:
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(purchase_line_rules.c.line_no, purchase_line_rules.c.rule_id, purchase_line_rules.c.points)
            .where(purchase_line_rules.c.purchase_id == purchase_id)
            .order_by(purchase_line_rules.c.line_no, purchase_line_rules.c.rule_id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def _quoted_entries(q: quote_service.Quote) -> list[tuple[int, int, int]]:
    return sorted((ln.line_no, e.rule_id, e.points) for ln in q.lines for e in ln.entries)


def _counts(ctx: Context) -> tuple[int, ...]:
    """Rows of purchases, their rules' entries and the limits' usage, and the points used."""
    with ctx.engine.connect() as conn:
        rows = [
            int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (purchases, purchase_line_rules, rule_usage)
        ]
        used = int(conn.execute(select(func.coalesce(func.sum(rule_usage.c.points), 0))).scalar_one())
    return (*rows, used)


def test_the_guides_rounding_example(ctx: Context, store_id: int) -> None:
    _define(ctx, GUIDE_RULES)
    silver = _member(ctx, "+8613900000001", store_id, tier="silver")
    ctx.clock = FrozenClock(datetime(2026, 1, 8, 2, 0, tzinfo=UTC))  # 10:00 on the 8th in Shanghai
    cart = [_line("CROISSANT", "烘焙", 3, 1250), _line("LATTE", "咖啡", 2, 3125)]
    q = quote_service.quote(ctx, quote_service.QuoteIn(store_id=store_id, member_id=silver, lines=cart))
    assert [(ln.base_points, [(e.code, e.points) for e in ln.entries], ln.points) for ln in q.lines] == [
        (45, [("member-day", 45), ("bakery-x15", 22), ("spend-100-bonus", 38)], 150),
        (75, [("member-day", 75), ("spend-100-bonus", 62)], 212),
    ]
    posted = purchases_service.post_purchase(
        ctx,
        PurchaseIn(store_id=store_id, order_id="G-1", occurred_at=ctx.now(), member_id=silver, lines=cart),
    )
    assert posted.points_earned == q.points == 362
    assert posted.rule == q.base_rule
    explained = quote_service.explain(ctx, posted.purchase_id)
    assert [(ln.base_points, [(e.code, e.points) for e in ln.entries]) for ln in explained.lines] == [
        (ln.base_points, [(e.code, e.points) for e in ln.entries]) for ln in q.lines
    ]


def test_a_quote_is_what_posting_gives_and_writes_nothing(ctx: Context, store_id: int) -> None:
    _define(ctx, PROGRAMME)
    born = date(1990, 1, 20)  # January: the birthday month of every sale here
    buyers = [
        _member(ctx, "+8613900000011", store_id, birthday=born),
        _member(ctx, "+8613900000012", store_id, tier="gold"),
        _member(ctx, "+8613900000013", store_id, tier="silver", birthday=born),
    ]
    rng = np.random.default_rng(25)
    given: set[str] = set()
    for n in range(18):
        member_id = buyers[n % 3]
        at = SALES_FROM + timedelta(hours=3 * n, minutes=int(rng.integers(0, 60)))  # mornings included
        ctx.clock = FrozenClock(at)
        cart = [
            _line(f"SKU-{k}", CATEGORIES[int(rng.integers(0, len(CATEGORIES)))], int(rng.integers(1, 4)),
                  int(rng.integers(500, 9000)), int(rng.integers(0, 2)) * 100)
            for k in range(int(rng.integers(1, 5)))
        ]  # fmt: skip
        channel = "mini_program" if n % 4 == 3 else "store"
        before = _counts(ctx)
        q = quote_service.quote(
            ctx, quote_service.QuoteIn(store_id=store_id, member_id=member_id, channel=channel, lines=cart)
        )
        assert _counts(ctx) == before  # the quote wrote nothing, not even a limit's usage
        posted = purchases_service.post_purchase(
            ctx,
            PurchaseIn(
                store_id=store_id,
                order_id=f"Q-{n}",
                occurred_at=at,
                member_id=member_id,
                channel=channel,
                lines=cart,
            ),
        )
        assert posted.points_earned == q.points, n
        assert posted.rule == q.base_rule
        assert _entries(ctx, posted.purchase_id) == _quoted_entries(q), n
        explained = quote_service.explain(ctx, posted.purchase_id)
        assert [ln.points for ln in explained.lines] == [ln.points for ln in q.lines]
        assert [ln.base_points for ln in explained.lines] == [ln.base_points for ln in q.lines]
        given |= {e.code for ln in q.lines for e in ln.entries}
    # the carts reached every rule that gives points, limits and purchase numbers included
    assert given == {r["code"] for r in PROGRAMME} - {"no-gift-cards"}
    with ctx.engine.connect() as conn:  # and the limits bound somewhere (else they were not tested)
        used = dict(
            conn.execute(text("SELECT rule_code, max(points) FROM rule_usage GROUP BY rule_code")).all()
        )
    assert used["budgeted"] == 400
    assert used["birthday-month"] == 150


def test_an_explanation_adds_up_to_each_lines_points(ctx: Context, store_id: int) -> None:
    _define(ctx, PROGRAMME)
    member_id = _member(ctx, "+8613900000021", store_id, tier="diamond")
    ctx.clock = FrozenClock(datetime(2026, 1, 8, 1, 0, tzinfo=UTC))
    cart = [_line("A", "烘焙", 2, 1999), _line("B", "gift_card", 1, 10000), _line("C", "咖啡", 1, 2800, 300)]
    posted = purchases_service.post_purchase(
        ctx,
        PurchaseIn(store_id=store_id, order_id="E-1", occurred_at=ctx.now(), member_id=member_id, lines=cart),
    )
    x = quote_service.explain(ctx, posted.purchase_id)
    assert x.base_rule == posted.rule
    assert all(ln.base_points + sum(e.points for e in ln.entries) == ln.points for ln in x.lines)
    assert sum(ln.points for ln in x.lines) == x.points_earned == posted.points_earned > 0
    assert (x.lines[1].points, x.lines[1].entries) == (0, [])  # the gift card earns nothing at all
    assert {e.code for e in x.lines[2].entries} == {"coffee-morning"}  # 09:00: stop keeps it from the rest
    with pytest.raises(NotFound):
        quote_service.explain(ctx, posted.purchase_id + 1000)


def test_an_anonymous_cart_earns_nothing_and_bad_carts_are_refused_like_sales(
    ctx: Context, store_id: int
) -> None:
    _define(ctx, GUIDE_RULES)
    cart = [_line("A", "烘焙", 2, 1999)]
    q = quote_service.quote(ctx, quote_service.QuoteIn(store_id=store_id, lines=cart))
    assert (q.anonymous, q.points, q.redemption, [ln.points for ln in q.lines]) == (True, 0, None, [0])
    assert q.total_minor == 3998
    with pytest.raises(NotFound) as unknown:
        quote_service.quote(ctx, quote_service.QuoteIn(store_id=store_id, member_id=999_999, lines=cart))
    assert unknown.value.code == "MEMBER_NOT_FOUND"
    gone = _member(ctx, "+8613900000031", store_id)
    members_service.deactivate_member(ctx, gone, reason="test")
    with pytest.raises(Conflict) as inactive:
        quote_service.quote(ctx, quote_service.QuoteIn(store_id=store_id, member_id=gone, lines=cart))
    assert inactive.value.code == "MEMBER_INACTIVE"
    with pytest.raises(InvalidInput) as bad:
        quote_service.quote(
            ctx,
            quote_service.QuoteIn(
                store_id=store_id, lines=[_line("A", None, 0, 100), _line("B", None, 1, 100, 500)]
            ),
        )
    assert [e["field"] for e in (bad.value.details or {})["errors"]] == [
        "lines.0.quantity",
        "lines.1.discount",
    ]
    with pytest.raises(NotFound):
        quote_service.quote(ctx, quote_service.QuoteIn(store_id=999_999, lines=cart))


def test_the_points_a_quote_says_can_pay_are_what_a_redemption_accepts(ctx: Context, store_id: int) -> None:
    member_id = _member(ctx, "+8613900000041", store_id)
    points.adjust(ctx, member_id, 5000, reason="test", operator="test")
    cart = [_line("A", None, 2, 1990)]  # 39.80: the programme lets points pay half, 19.90
    q = quote_service.quote(ctx, quote_service.QuoteIn(store_id=store_id, member_id=member_id, lines=cart))
    r = q.redemption
    assert r is not None
    assert (r.available, r.redeem_cap_pct, r.points_per_currency_unit) == (5000, 50, 100)
    assert (r.usable_points, r.usable_value_minor) == (1990, 1990)
    with pytest.raises(DomainError) as refused:
        points.redeem(ctx, member_id, r.usable_points + 1, store_id=store_id, order_total_minor=q.total_minor)
    assert refused.value.code == "REDEEM_CAP_EXCEEDED"
    done = points.redeem(ctx, member_id, r.usable_points, store_id=store_id, order_total_minor=q.total_minor)
    assert done.value_minor == r.usable_value_minor
    again = quote_service.quote(
        ctx, quote_service.QuoteIn(store_id=store_id, member_id=member_id, lines=cart)
    )
    assert again.redemption is not None
    assert again.redemption.available == 5000 - 1990


def test_usable_points_is_the_most_a_redemption_allows() -> None:
    """Against the redemption's own test, over rates, caps, balances and totals (searched down from
    the balance, so the first allowed is the most)."""
    for rate in (1, 3, 7, 100, 101, 250):
        for cap in (0, 1, 50, 100):
            for total in (0, 1, 99, 1999):
                for available in (0, 5, 77, 1000, 3000):
                    for minimum in (0, 100):
                        got = usable_points(
                            available, total, points_per_currency_unit=rate, redeem_cap_pct=cap,
                            min_redeem_balance=minimum,
                        )  # fmt: skip
                        best = next(
                            p
                            for p in range(available, -1, -1)
                            if within_cap(redeem_value_minor(p, rate), total, cap)
                        )
                        if available < minimum or total == 0:
                            best = 0
                        assert got == best, (rate, cap, total, available, minimum)
