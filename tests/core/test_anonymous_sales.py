"""Anonymous sales (no member named) are kept without touching the ledger, and a member can claim one
later with the receipt (`services.purchase_claims`), exactly once and within the claim window, earning
what the sale would have earned less what returns already took back. SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from loyalty.bootstrap import Context, FrozenClock
from loyalty.db.core_tables import audit_log, purchases, transfers
from loyalty.domain.actors import Actor
from loyalty.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from loyalty.services import members, points, tiers
from loyalty.services import purchases as sales
from loyalty.services.purchase_claims import ClaimIn, claim_purchase
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn, ReturnLineIn
from loyalty.services.seed import ProgrammeIds
from tests.core.sales import sale_return

CASHIER = Actor(kind="staff", id="7", role="cashier")
LINES = [
    PurchaseLineIn(sku="LATTE", category="coffee", quantity=2, unit_price_minor=3_250, discount_minor=100),
    PurchaseLineIn(sku="CIGS", category="tobacco", quantity=1, unit_price_minor=2_500),  # excluded
    PurchaseLineIn(sku="CAKE", category="bakery", quantity=3, unit_price_minor=1_990),
]


def _member(ctx: Context, phone: str) -> int:
    return members.register_member(ctx, MemberIn(phone=phone, name="张三")).id


def _sale(
    ctx: Context, store: int, order: str, member_id: int | None = None, channel: str = "store"
) -> PurchaseIn:
    return PurchaseIn(
        store_id=store,
        order_id=order,
        occurred_at=ctx.now(),
        member_id=member_id,
        lines=LINES,
        channel=channel,  # type: ignore[arg-type]
    )


def _count(ctx: Context, table: Any, *where: Any) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_an_anonymous_sale_is_kept_without_ledger_or_tier_effect(
    ctx: Context, programme: ProgrammeIds
) -> None:
    store = programme.store_id
    posted = sales.post_purchase(ctx, _sale(ctx, store, "A-1", channel="delivery"))
    assert (posted.member_id, posted.points_earned, posted.tier_code, posted.rule) == (
        None,
        0,
        None,
        "anonymous",
    )
    assert (posted.available_at, posted.expires_at, posted.upgraded_to) == (None, None, None)
    assert posted.channel == "delivery"
    assert posted.total_minor == 6_400 + 2_500 + 5_970
    assert _count(ctx, transfers) == 0
    with ctx.engine.connect() as conn:
        row = conn.execute(select(purchases).where(purchases.c.id == posted.purchase_id)).one()
        assert (row.member_id, row.points_earned, row.eligible_minor, row.channel) == (
            None,
            0,
            12_370,
            "delivery",
        )
        lines = conn.execute(text("SELECT sum(points) FROM purchase_lines")).scalar_one()
        assert lines == 0
    # A till's retry replays it, whether the order is looked up first or found by the unique key.
    again = sales.post_purchase(ctx, _sale(ctx, store, "A-1", channel="delivery"))
    assert again.replayed
    assert again.purchase_id == posted.purchase_id
    with pytest.raises(DomainError) as reused:
        sales.post_purchase(ctx, _sale(ctx, store, "A-1", channel="online"))
    assert reused.value.code == "ORDER_ID_REUSED"
    with ctx.engine.begin() as conn:  # the group commit's way (savepoint, unique key first)
        grouped = sales.post_purchase_in(conn, ctx, _sale(ctx, store, "A-2"))
    assert grouped.member_id is None
    assert sales.get_purchase(ctx, grouped.purchase_id).channel == "store"
    assert points.verify_ledger(ctx)["ok"]


def test_a_return_of_an_anonymous_sale_refunds_without_points(ctx: Context, programme: ProgrammeIds) -> None:
    store = programme.store_id
    sales.post_purchase(ctx, _sale(ctx, store, "R-1"))
    part = sales.post_return(
        ctx, sale_return(ctx, store, "R-1", "RR-1", lines=[ReturnLineIn(line_no=3, quantity=1)])
    )
    assert (part.refund_minor, part.points_reversed, part.debt_created) == (1_990, 0, 0)
    rest = sales.post_return(ctx, sale_return(ctx, store, "R-1", "RR-2", refund_minor=1_000))
    assert (rest.refund_minor, rest.points_reversed) == (1_000, 0)
    assert _count(ctx, transfers) == 0
    with ctx.engine.connect() as conn:
        assert conn.execute(select(purchases.c.refunded_minor)).scalar_one() == 2_990


def test_listing_shows_anonymous_sales_and_filters_on_channel(ctx: Context, programme: ProgrammeIds) -> None:
    store = programme.store_id
    member = _member(ctx, "13800138001")
    sales.post_purchase(ctx, _sale(ctx, store, "L-1"))
    sales.post_purchase(ctx, _sale(ctx, store, "L-2", member, channel="mini_program"))
    sales.post_purchase(ctx, _sale(ctx, store, "L-3", channel="online"))
    every = sales.list_purchases(ctx)
    assert [(p.order_id, p.member_id, p.channel) for p in every.items] == [
        ("L-3", None, "online"),
        ("L-2", member, "mini_program"),
        ("L-1", None, "store"),
    ]
    assert [p.order_id for p in sales.list_purchases(ctx, anonymous=True).items] == ["L-3", "L-1"]
    assert [p.order_id for p in sales.list_purchases(ctx, anonymous=False).items] == ["L-2"]
    assert [p.order_id for p in sales.list_purchases(ctx, channel="online").items] == ["L-3"]
    assert sales.list_purchases(ctx, store_ids=[store + 1000]).items == []
    first = sales.list_purchases(ctx, limit=2)
    assert first.next_cursor is not None
    assert [p.order_id for p in sales.list_purchases(ctx, cursor=first.next_cursor).items] == ["L-1"]
    with pytest.raises(InvalidInput):
        sales.list_purchases(ctx, channel="phone")


def _claim(ctx: Context, store: int, order: str, member_id: int, **kw: Any) -> Any:
    return claim_purchase(
        ctx, ClaimIn(store_id=store, order_id=order, member_id=member_id, **kw), actor=CASHIER
    )


def test_a_claim_earns_what_the_sale_would_have_earned_exactly_once(
    ctx: Context, clock: FrozenClock, programme: ProgrammeIds
) -> None:
    store = programme.store_id
    member, other = _member(ctx, "13800138002"), _member(ctx, "13800138003")
    twin = _member(ctx, "13800138004")
    anonymous = sales.post_purchase(ctx, _sale(ctx, store, "C-1", channel="mini_program"))
    live = sales.post_purchase(ctx, _sale(ctx, store, "C-LIVE", twin))  # the same basket, with a card
    clock.advance(days=10)
    claimed = _claim(ctx, store, "C-1", member, total_minor=anonymous.total_minor)
    assert claimed.purchase_id == anonymous.purchase_id
    assert claimed.points_earned == claimed.points_credited == live.points_earned > 0
    assert claimed.rule == live.rule
    assert claimed.channel == "mini_program"
    # The lot runs from the sale's time, as the live one does, not from the claim.
    assert (claimed.available_at, claimed.expires_at) == (live.available_at, live.expires_at)
    assert points.balance(ctx, member).balance == live.points_earned
    detail = sales.get_purchase(ctx, anonymous.purchase_id)
    assert (detail.member_id, detail.points_earned, detail.claimed_at) == (
        member,
        live.points_earned,
        clock.now,
    )
    # The sale now counts in the member's tier window of its date.
    assert tiers.member_tier(ctx, member).qualifying_minor == anonymous.total_minor
    with ctx.engine.connect() as conn:
        audit = conn.execute(select(audit_log).where(audit_log.c.action == "purchase.claim")).one()
    assert (audit.actor_id, audit.entity_id, audit.after["member_id"]) == (
        "7",
        str(anonymous.purchase_id),
        member,
    )

    for who, order in ((other, "C-1"), (member, "C-1"), (member, "C-LIVE")):
        with pytest.raises(Conflict) as again:
            _claim(ctx, store, order, who)
        assert again.value.code == "PURCHASE_ALREADY_CLAIMED"
    assert points.balance(ctx, other).balance == 0
    assert _count(ctx, transfers, transfers.c.kind == "earn") == 2
    assert points.verify_ledger(ctx)["ok"]


def test_claims_after_the_window_or_with_the_wrong_receipt_are_refused(
    ctx: Context, clock: FrozenClock, programme: ProgrammeIds
) -> None:
    store = programme.store_id
    member = _member(ctx, "13800138005")
    sale = sales.post_purchase(ctx, _sale(ctx, store, "W-1"))
    sales.post_purchase(ctx, _sale(ctx, store, "W-2"))
    with pytest.raises(InvalidInput) as mismatch:
        _claim(ctx, store, "W-1", member, total_minor=sale.total_minor + 1)
    assert mismatch.value.code == "PURCHASE_CLAIM_TOTAL_MISMATCH"
    with pytest.raises(NotFound) as missing:
        _claim(ctx, store, "NO-SUCH", member)
    assert missing.value.code == "ORDER_NOT_FOUND"
    # A member claiming for themself: the total is required, and a wrong one reads as no such receipt.
    for total in (sale.total_minor + 1, None):
        with pytest.raises(DomainError) as own:
            claim_purchase(
                ctx,
                ClaimIn(store_id=store, order_id="W-1", member_id=member, total_minor=total),
                actor=Actor(kind="member", id=str(member), role="member"),
                receipt_check=True,
            )
        assert own.value.code == ("RECEIPT_NOT_FOUND" if total else "RECEIPT_TOTAL_REQUIRED")
    inactive = _member(ctx, "13800138006")
    members.deactivate_member(ctx, inactive)
    with pytest.raises(Conflict) as gone:
        _claim(ctx, store, "W-2", inactive)
    assert gone.value.code == "MEMBER_INACTIVE"

    clock.advance(days=30)  # the window's last instant: still in time
    assert _claim(ctx, store, "W-1", member).member_id == member
    clock.advance(microseconds=1)
    with pytest.raises(Conflict) as late:
        _claim(ctx, store, "W-2", member)
    assert late.value.code == "PURCHASE_CLAIM_EXPIRED"
    ctx.settings = ctx.settings.model_copy(update={"claim_window_days": 45})  # the window is a setting
    assert _claim(ctx, store, "W-2", member).member_id == member


def test_returns_before_a_claim_reduce_what_it_credits_and_later_ones_take_back_the_rest(
    ctx: Context, programme: ProgrammeIds
) -> None:
    """Buy anonymously, return a line and part of the money, claim, return the rest: the member ends
    with nothing from this sale, and never held more than what was kept."""
    store = programme.store_id
    member, twin = _member(ctx, "13800138007"), _member(ctx, "13800138008")
    sales.post_purchase(ctx, _sale(ctx, store, "P-1"))
    live = sales.post_purchase(ctx, _sale(ctx, store, "P-LIVE", twin))

    def back(order: str, return_id: str, **kw: Any) -> Any:
        return sales.post_return(ctx, sale_return(ctx, store, order, return_id, **kw))

    for order in ("P-1", "P-LIVE"):  # the same returns against both
        back(order, f"{order}-a", lines=[ReturnLineIn(line_no=1, quantity=1)])
        back(order, f"{order}-b", refund_minor=2_000)
    kept = points.balance(ctx, twin).balance
    claimed = _claim(ctx, store, "P-1", member)
    assert claimed.points_earned == live.points_earned
    assert claimed.points_credited == kept < live.points_earned
    assert points.balance(ctx, member).balance == kept
    for order in ("P-1", "P-LIVE"):  # everything else comes back
        back(
            order,
            f"{order}-c",
            lines=[ReturnLineIn(line_no=1, quantity=1), ReturnLineIn(line_no=3, quantity=3)],
        )
        with ctx.engine.connect() as conn:
            left = conn.execute(
                select(purchases.c.total_minor - purchases.c.refunded_minor).where(
                    purchases.c.order_id == order
                )
            ).scalar_one()
        back(order, f"{order}-d", refund_minor=left)
    assert points.balance(ctx, member).balance == points.balance(ctx, twin).balance == 0
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(purchases.c.points_earned, purchases.c.points_reversed, purchases.c.refunded_minor)
            .where(purchases.c.order_id.in_(["P-1", "P-LIVE"]))
            .order_by(purchases.c.order_id)
        ).all()
    assert rows[0] == rows[1]
    assert points.verify_ledger(ctx)["ok"]


def test_a_claim_that_crosses_a_threshold_upgrades_the_member(ctx: Context, programme: ProgrammeIds) -> None:
    store = programme.store_id
    member = _member(ctx, "13800138009")
    big = PurchaseIn(
        store_id=store,
        order_id="U-1",
        occurred_at=ctx.now(),
        lines=[PurchaseLineIn(sku="TV", category="electronics", quantity=1, unit_price_minor=250_000)],
    )
    sales.post_purchase(ctx, big)
    claimed = _claim(ctx, store, "U-1", member)
    assert (claimed.tier_code, claimed.upgraded_to) == ("silver", "silver")
    assert claimed.points_credited == 2_500  # earned with the tier the member had (normal, ×1)
    assert tiers.member_tier(ctx, member).tier.code == "silver"


@pytest.mark.postgres
def test_two_claims_of_one_sale_at_once_one_wins(pg_url: str) -> None:
    """Two tills claim the same receipt for two members at the same moment: exactly one succeeds."""
    from loyalty.config import Settings
    from loyalty.db.engine import make_engine
    from loyalty.services import seed
    from tests.core.conftest import T0

    engine = make_engine(pg_url)
    ctx = Context(engine=engine, settings=Settings(), clock=FrozenClock(T0))
    try:
        store = seed.ensure_programme(ctx).store_id
        rivals = [_member(ctx, "13800138010"), _member(ctx, "13800138011")]
        for round_ in range(5):
            sales.post_purchase(ctx, _sale(ctx, store, f"X-{round_}"))
            start = threading.Barrier(2)
            outcomes: list[str] = []

            def claim(
                member_id: int,
                order: str = f"X-{round_}",
                start: threading.Barrier = start,
                outcomes: list[str] = outcomes,
            ) -> None:
                start.wait()
                try:
                    _claim(ctx, store, order, member_id)
                    outcomes.append("won")
                except Conflict as exc:
                    outcomes.append(exc.code)

            threads = [threading.Thread(target=claim, args=(m,)) for m in rivals]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(outcomes) == ["PURCHASE_ALREADY_CLAIMED", "won"]
        assert _count(ctx, transfers, transfers.c.kind == "earn") == 5
        assert points.verify_ledger(ctx)["ok"]
    finally:
        engine.dispose()


def test_the_claim_window_counts_from_the_sale_as_an_instant(ctx: Context, programme: ProgrammeIds) -> None:
    """A sale stated in the store's zone is 29 days 23 hours old, not 30 days 7 hours: still in time."""
    from zoneinfo import ZoneInfo

    store = programme.store_id
    member = _member(ctx, "13800138012")
    local = ctx.now().astimezone(ZoneInfo("Asia/Shanghai")) - timedelta(days=29, hours=23)
    sales.post_purchase(ctx, _sale(ctx, store, "Z-1").model_copy(update={"occurred_at": local}))
    assert _claim(ctx, store, "Z-1", member).member_id == member


def test_a_store_sale_hashes_as_it_did_before_sales_had_a_channel(ctx: Context) -> None:
    """Sales posted before the upgrade keep their request hash: a store sale's hashed JSON has no channel
    (so a till's retry across the upgrade replays instead of being refused); another channel's has."""
    import json

    sale = _sale(ctx, 1, "H-1")
    assert "channel" not in json.loads(sale.model_dump_json())
    assert "channel" not in sale.model_dump(mode="json")
    assert json.loads(_sale(ctx, 1, "H-1", channel="online").model_dump_json())["channel"] == "online"


def test_a_till_replaying_an_imported_anonymous_sale_is_answered_by_content(
    ctx: Context, programme: ProgrammeIds
) -> None:
    """An imported sale keeps no request hash: the same anonymous receipt replays (also once claimed),
    the receipt naming a member or another channel is another sale under a reused order id."""
    from loyalty.services.posting.order_batch import OrderBatch
    from loyalty.services.posting.set_based import post_purchase_batch

    store = programme.store_id
    member = _member(ctx, "13800138013")
    receipt = _sale(ctx, store, "I-1", channel="delivery")
    with ctx.engine.begin() as conn:
        assert post_purchase_batch(conn, ctx, OrderBatch.from_items([receipt])) == 1
    assert sales.post_purchase(ctx, receipt).replayed
    for other in (receipt.model_copy(update={"member_id": member}), _sale(ctx, store, "I-1")):
        with pytest.raises(DomainError) as reused:
            sales.post_purchase(ctx, other)
        assert reused.value.code == "ORDER_ID_REUSED"
    _claim(ctx, store, "I-1", member)
    again = sales.post_purchase(ctx, receipt)
    assert again.replayed
    assert again.member_id == member
