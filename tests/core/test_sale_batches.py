"""POS sales posted together (`services.posting.pos_batch`, what the API does on PostgreSQL) answer and write
exactly what posting them one by one does, and a batch the set-based routine does not take writes
nothing, so its sales can be posted one by one.

The two databases of `test_bulk_equivalence` get the same members (some in debt), the same history,
then the same sales: in batches of up to 16 on one, one by one on the other. Each answer (purchase id,
points, rule, lot times, tier, upgrade) and every ledger row must match, request hashes included (a
till's replay of a batched sale is recognised as one).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select, text, update

from loyalty.bootstrap import Context
from loyalty.db.core_tables import members, purchases
from loyalty.domain.actors import SYSTEM
from loyalty.domain.errors import DomainError, IdempotencyMismatch
from loyalty.services import purchases as live_purchases
from loyalty.services.posting.alone import post_alone
from loyalty.services.posting.pos_batch import batchable, post_sales
from loyalty.services.posting.sale_request import SaleRequest
from loyalty.services.posting.set_based_batches import ALONE, SetBasedBatches
from loyalty.services.schemas import PurchaseIn, PurchaseResult
from tests.imports.test_bulk_equivalence import (
    _add_members,
    _batch,
    _chain,
    _scenario,
    _store_ids,
    assert_same_ledger,
    pair,
)

__all__ = ["pair"]  # the fixture: two identical fresh databases (SQLite, PostgreSQL)


def _hashes(ctx: Context) -> list[tuple[int, str, str | None]]:
    with ctx.engine.connect() as conn:
        rows = conn.execute(text("SELECT store_id, order_id, request_hash FROM purchases ORDER BY id"))
        return [tuple(r) for r in rows]  # type: ignore[misc]


def _batched_and_alone(
    pair: tuple[Context, Context], sales: list[PurchaseIn], size: int
) -> list[PurchaseResult]:
    """`sales` posted `size` at a time on the first database (each batch taken) and one by one on the
    second: the same answers, ledger and request hashes. The batched answers."""
    batched, alone = pair
    answers: list[PurchaseResult] = []
    for lo in range(0, len(sales), size):
        with batched.engine.begin() as conn:
            posted = post_sales(conn, batched, sales[lo : lo + size])
        assert posted is not None
        answers += posted
    expected = [live_purchases.post_purchase(alone, sale) for sale in sales]

    assert answers == expected
    assert_same_ledger(batched, alone)
    assert _hashes(batched) == _hashes(alone)
    return answers


def members_with_history(
    pair: tuple[Context, Context], rng: np.random.Generator, n: int, tag: str, history: int
) -> tuple[list[int], list[int]]:
    """`n` members, some in debt, and `history` earlier sales of theirs, alike in both databases:
    (the store ids, the member ids)."""
    first, second = pair
    store_ids = _store_ids(first)
    debts = [0, 800, 0, 0, 25, 0, 3_000_000]
    ids = _add_members(first, n, tag, debts)
    assert ids == _add_members(second, n, tag, debts)
    past = _batch(_scenario(store_ids, ids, rng, history), f"{tag}H").items()
    for ctx in pair:
        live_purchases.post_purchases(ctx, past)
    return store_ids, ids


def _replayed(ctx: Context, sale: PurchaseIn, answer: PurchaseResult) -> PurchaseResult:
    """A till's retry of a batched sale: recognised, and answered with the same purchase."""
    replay = live_purchases.post_purchase(ctx, sale)
    assert replay.replayed
    assert replay.purchase_id == answer.purchase_id
    return replay


def test_sales_posted_together_answer_and_write_as_posted_one_by_one(pair: tuple[Context, Context]) -> None:
    rng = np.random.default_rng(5)
    store_ids, ids = members_with_history(pair, rng, 10, "SB", 30)
    orders = _scenario(store_ids, ids, rng, 70)
    for order in orders:
        order.at += timedelta(days=420)  # after the history, some of it still in the window
    sales = _batch(orders, "SB").items()
    assert all(batchable(s) for s in sales)

    answers = _batched_and_alone(pair, sales, 16)
    assert any(a.upgraded_to for a in answers)  # the data crosses tier thresholds
    assert any(a.points_earned == 0 for a in answers)  # and has sales that earn nothing
    _replayed(pair[0], sales[3], answers[3])


def _count(ctx: Context) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(purchases)).scalar_one())


def test_a_batch_the_routine_does_not_take_writes_nothing(pair: tuple[Context, Context]) -> None:
    ctx, _ = pair
    store = _store_ids(ctx)[0]
    ids = _add_members(ctx, 3, "SN", [0, 0, 0])
    rng = np.random.default_rng(1)
    good = _batch(_scenario([store], ids, rng, 4), "SN").items()
    with ctx.engine.begin() as conn:
        assert post_sales(conn, ctx, good[:1]) is not None
    posted = _count(ctx)

    def refused(sales: list[PurchaseIn]) -> None:
        with ctx.engine.begin() as conn:
            assert post_sales(conn, ctx, sales) is None
        assert _count(ctx) == posted

    refused([good[1], good[0]])  # an order already posted (a replay): the live routine answers it
    refused([good[1], good[1]])  # the same order twice
    refused([good[1], good[2].model_copy(update={"member_id": None, "card_no": "SN000001"})])
    refused([good[1], good[2].model_copy(update={"total_minor": 1})])  # a total of its own
    refused([good[1], good[2].model_copy(update={"member_id": 987_654_321})])  # unknown member
    refused([good[1], good[2].model_copy(update={"occurred_at": good[2].occurred_at.replace(tzinfo=None)})])
    with ctx.engine.begin() as conn:
        conn.execute(update(members).where(members.c.id == ids[2]).values(status="inactive"))
    refused([good[1], good[2].model_copy(update={"member_id": ids[2]})])


def test_anonymous_sales_and_channels_posted_together_answer_as_alone(pair: tuple[Context, Context]) -> None:
    """A POS batch mixing members' sales with anonymous ones, in every channel: the same answers (no
    member, tier or points for an anonymous sale) and ledger as posting them one by one, and a till's
    retry of a batched anonymous sale is a replay."""
    batched, alone = pair
    rng = np.random.default_rng(8)
    store_ids = _store_ids(batched)
    ids = _add_members(batched, 6, "SA", [0, 500, 0])
    assert ids == _add_members(alone, 6, "SA", [0, 500, 0])
    orders = _scenario(store_ids, ids, rng, 48, anonymous=0.35, channels=True)
    sales = _batch(orders, "SA").items()
    assert all(batchable(s) for s in sales)
    assert any(s.anonymous for s in sales)
    assert any(s.channel != "store" for s in sales)

    answers = _batched_and_alone(pair, sales, 12)
    anonymous = [a for a, s in zip(answers, sales, strict=True) if s.anonymous]
    assert anonymous
    assert all(
        a.member_id is None and a.tier_code is None and a.points_earned == 0 and a.rule == "anonymous"
        for a in anonymous
    )
    assert {a.channel for a in answers} == {"store", "online", "mini_program", "delivery"}
    i = next(i for i, s in enumerate(sales) if s.anonymous and s.channel != "store")
    replay = _replayed(batched, sales[i], answers[i])
    assert replay.channel == sales[i].channel
    assert replay.member_id is None


def test_sales_naming_their_staff_posted_together_answer_as_alone(pair: tuple[Context, Context]) -> None:
    """A POS batch whose sales name who rang them (some nobody, anonymous ones too): the same answers,
    staff codes, ledger and request hashes as one by one; a till's retry is a replay, and the same order
    sent again naming someone else is refused as another sale."""
    batched, alone = pair
    rng = np.random.default_rng(12)
    store_ids = _store_ids(batched)
    ids = _add_members(batched, 6, "SS", [0, 500, 0])
    assert ids == _add_members(alone, 6, "SS", [0, 500, 0])
    sales = _batch(_scenario(store_ids, ids, rng, 40, anonymous=0.3, staff=True), "SS").items()
    assert all(batchable(s) for s in sales)
    assert {s.staff is None for s in sales} == {True, False}

    answers = _batched_and_alone(pair, sales, 10)
    assert [a.staff for a in answers] == [s.staff for s in sales]
    with batched.engine.connect() as conn:
        kept = dict(conn.execute(select(purchases.c.order_id, purchases.c.staff)).all())
    assert [kept[s.order_id] for s in sales] == [s.staff for s in sales]
    i = next(i for i, s in enumerate(sales) if s.staff is not None)
    assert _replayed(batched, sales[i], answers[i]).staff == sales[i].staff
    other = sales[i].model_copy(update={"staff": sales[i].staff + "-2" if len(sales[i].staff) < 99 else "C9"})
    with pytest.raises(IdempotencyMismatch):
        live_purchases.post_purchase(batched, other)
    assert not batchable(sales[i].model_copy(update={"staff": ""}))  # not a staff code: refused alone


def test_a_pos_batch_reads_its_own_members_only(tmp_path: Path) -> None:
    """A POS batch (no import run behind it) reads its members' spend, not every member's spend over
    the tier window: that read serves an import's many batches once, and would cost each POS batch a
    scan of the window's purchases, growing with the chain's history."""
    ctx = _chain(f"sqlite:///{tmp_path / 'pos.db'}")  # SQLite's: an import run on PostgreSQL keeps nothing
    store = _store_ids(ctx)[0]
    ids = _add_members(ctx, 4, "SW", [0, 0, 0, 0])
    rng = np.random.default_rng(3)
    sales = _batch(_scenario([store], ids, rng, 8), "SW").items()
    statements: list[str] = []
    with ctx.engine.begin() as conn:
        conn.connection.driver_connection.set_trace_callback(statements.append)  # type: ignore[union-attr]
        try:
            assert post_sales(conn, ctx, sales) is not None
        finally:
            conn.connection.driver_connection.set_trace_callback(None)  # type: ignore[union-attr]
    assert any("INSERT INTO purchases" in s for s in statements)  # the trace saw the batch's writes
    everyone = [s for s in statements if "member_id IS NOT NULL GROUP BY member_id" in s]  # no member named
    assert not everyone
    assert not [s for s in statements if "data_version" in s]  # nor a run's checks between batches


def test_sales_naming_their_members_by_phone_or_card_go_in_the_batch(pair: tuple[Context, Context]) -> None:
    """A sale naming its member by phone, card number or the member's QR code goes in the batch, the
    member looked up first (`pos_batch.members_by_key`), and answers and writes as alone, its request
    hash the sale's as sent (a till's retry is a replay); a phone no member has, or a card number
    with a wrong check digit, leaves the sale to go alone, where it is refused."""
    batched, alone = pair
    store = _store_ids(batched)[0]
    ids = _add_members(batched, 4, "SK", [0, 0, 0, 0])
    assert ids == _add_members(alone, 4, "SK", [0, 0, 0, 0])
    for ctx in pair:
        with ctx.engine.begin() as conn:
            for i, mid in enumerate(ids):
                conn.execute(update(members).where(members.c.id == mid).values(phone=f"+861380000{i:04d}"))
    with batched.engine.connect() as conn:
        by_id = {
            row.id: row
            for row in conn.execute(
                select(members.c.id, members.c.card_no, members.c.member_code).where(members.c.id.in_(ids))
            )
        }
    keys = [by_id[mid] for mid in ids]  # in the order of ids: PostgreSQL returns updated rows in no set order
    drawn = _batch(_scenario([store], ids, np.random.default_rng(4), 6), "SK").items()
    named = [
        {"phone": "13800000000"},  # as a cashier types it: the region's number without its prefix
        {"card_no": keys[1].card_no},
        {"card_no": f"loyalty:member:{keys[2].member_code}"},  # the member's QR scanned
        {"member_id": ids[3]},
        {"phone": "13899999999"},  # nobody's
        {"card_no": "8800 0000 0000 0001"},  # one of our card numbers, its check digit wrong
    ]
    sales = [
        sale.model_copy(update={"member_id": None, "phone": None, "card_no": None, **key})
        for sale, key in zip(drawn, named, strict=True)
    ]
    assert all(batchable(s, looked_up=True) for s in sales)
    requests = [SaleRequest(s, SYSTEM, render=lambda r: r.model_dump(mode="json")) for s in sales]

    outcomes = SetBasedBatches(batched)._transaction(requests)
    assert [value is ALONE for _, value in outcomes] == [False] * 4 + [True] * 2
    for i in (4, 5):  # alone, each is refused as it is on the other side
        with pytest.raises(DomainError) as here:
            post_alone(batched, requests[i])
        with pytest.raises(DomainError) as there:
            post_alone(alone, requests[i])
        assert here.value.code == there.value.code
    expected = [post_alone(alone, request).body for request in requests[:4]]
    assert [value.body for _, value in outcomes[:4]] == expected
    assert [body["member_id"] for body in expected] == ids
    assert_same_ledger(batched, alone)
    assert _hashes(batched) == _hashes(alone)
    retry = live_purchases.post_purchase(batched, sales[0])
    assert retry.replayed
    assert retry.purchase_id == expected[0]["purchase_id"]
