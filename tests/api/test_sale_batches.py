"""PostgreSQL: POS sales arriving together are posted together (`services.posting.set_based_batches`),
each with the answer it would get alone: 201 with its purchase, its key's replay, its 422 or 404, and
the ledger balances."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from loyalty.services import points
from loyalty.services.posting.set_based_batches import SetBasedBatches
from tests.api.api_world import World, pg_world, purchase_body, register

V1 = "/api/v1"
pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module", name="pg_world")
def _pg_world() -> Iterator[World]:
    with pg_world() as w:
        yield w


def _post_all(w: World, requests: list[tuple[dict[str, Any], dict[str, str]]]) -> list[httpx.Response]:
    async def post() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=w.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pos") as client:
            return await asyncio.gather(
                *(client.post(f"{V1}/purchases", json=body, headers=headers) for body, headers in requests)
            )

    return asyncio.run(post())


def test_concurrent_sales_share_transactions_and_answer_as_alone(pg_world: World) -> None:
    w = pg_world
    batcher: SetBasedBatches = w.app.state.posting
    assert batcher is not None
    people = [register(w, "admin", f"+8613710000{i:03d}", w.store_a) for i in range(4)]
    pos = w.as_("pos")
    keyed = [
        (purchase_body(w.store_a, people[i % 4]["id"], f"sb-{i}"), {**pos, "Idempotency-Key": f"sb-{i}"})
        for i in range(16)
    ]
    by_phone = {**purchase_body(w.store_a, None, "sb-phone"), "phone": people[0]["phone"]}
    unknown = purchase_body(w.store_a, 987_654_321, "sb-unknown")
    before = batcher.transactions

    answers = _post_all(w, [*keyed, (by_phone, pos), (unknown, pos)])

    for answer in answers[:17]:
        assert answer.status_code == 201, answer.text
    assert answers[17].status_code == 404, answers[17].text
    assert batcher.transactions - before < 16  # sales shared transactions
    for answer in answers[:16]:  # each answer is its purchase as stored (the tier: as it is now)
        stored = w.client.get(f"{V1}/purchases/{answer.json()['id']}", headers=pos)
        assert stored.status_code == 200
        same = set(answer.json()) - {"tier_code", "upgraded_to"}
        assert {k: stored.json()[k] for k in same} == {k: answer.json()[k] for k in same}
    assert len({a.json()["id"] for a in answers[:17]}) == 17

    again = _post_all(w, [keyed[3], keyed[5]])  # a till's retries: replayed, nothing posted twice
    for retry, first in zip(again, (answers[3], answers[5]), strict=True):
        assert retry.status_code == 201
        assert retry.headers.get("Idempotent-Replayed") == "true"
        assert retry.json() == first.json()
    reused = purchase_body(w.store_a, people[1]["id"], "sb-other")  # a key reused with another body
    refused = _post_all(w, [(reused, keyed[3][1])])[0]
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "IDEMPOTENCY_MISMATCH"
    for person in people:
        statement = w.client.get(f"{V1}/members/{person['id']}/points", headers=w.as_("admin"))
        assert statement.status_code == 200, statement.text
    assert points.verify_ledger(w.ctx)["ok"]


def test_an_order_posted_before_is_replayed_when_it_comes_again_in_a_batch(pg_world: World) -> None:
    w = pg_world
    person = register(w, "admin", "+8613720000001", w.store_a)
    pos = w.as_("pos")
    first = _post_all(w, [(purchase_body(w.store_a, person["id"], "sb-again"), pos)])[0]
    assert first.status_code == 201
    # The same order (no key) with fresh sales: the batch leaves it to the live routine, which replays it.
    fresh = [(purchase_body(w.store_a, person["id"], f"sb-fresh-{i}"), pos) for i in range(3)]
    answers = _post_all(w, [*fresh, (purchase_body(w.store_a, person["id"], "sb-again"), pos)])
    assert [a.status_code for a in answers] == [201] * 4
    assert answers[3].json()["id"] == first.json()["id"]
    assert len({a.json()["id"] for a in answers}) == 4
    assert points.verify_ledger(w.ctx)["ok"]


def test_sales_of_a_batch_rolled_back_get_the_answers_of_their_own_posting(pg_world: World) -> None:
    """A batch that meets an order posted before rolls back, maybe after it rendered its answers: each
    sale is then posted alone, and answers with what was stored, never with the batch's rendering.
    (Whether the conflict is reported before or after the rendering depends on the timing of the
    database's answers, so the scene is played three times.)"""
    w = pg_world
    person = register(w, "admin", "+8613730000001", w.store_a)
    pos = w.as_("pos")
    for scene in range(3):
        _replay_among_fresh_sales(w, person["id"], pos, f"rb{scene}")
    assert points.verify_ledger(w.ctx)["ok"]


def _replay_among_fresh_sales(w: World, member_id: int, pos: dict[str, str], tag: str) -> None:
    first = _post_all(w, [(purchase_body(w.store_a, member_id, f"{tag}-again"), pos)])[0]
    assert first.status_code == 201
    # The one writer, held on the member's account lock until every sale has queued: the order posted
    # before (third) shares a batch with a fresh sale, however the four arrive.
    orders = [f"{tag}-fresh-0", f"{tag}-fresh-1", f"{tag}-again", f"{tag}-fresh-2"]

    async def post() -> list[httpx.Response]:
        with w.ctx.engine.connect() as holder:
            holder.execute(text("SELECT id FROM accounts WHERE member_id = :m FOR UPDATE"), {"m": member_id})
            transport = httpx.ASGITransport(app=w.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://pos") as client:
                sent = [
                    asyncio.create_task(
                        client.post(
                            f"{V1}/purchases", json=purchase_body(w.store_a, member_id, order), headers=pos
                        )
                    )
                    for order in orders
                ]
                await asyncio.sleep(0.3)
                holder.rollback()
                return await asyncio.gather(*sent)

    answers = asyncio.run(post())
    assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
    assert answers[2].json()["id"] == first.json()["id"]
    for answer, order in zip(answers, orders, strict=True):
        stored = w.client.get(f"{V1}/purchases/{answer.json()['id']}", headers=pos)
        assert stored.status_code == 200, stored.text
        assert stored.json()["order_id"] == order


def test_sales_batched_after_a_rule_change_earn_by_the_rule(pg_world: World) -> None:
    """A change of the earning rules drops the catalogue; the next batch reads the rules before its
    pipeline (where it could not) and each sale earns by them, with its per-line entry."""
    from loyalty.bootstrap import FrozenClock
    from loyalty.services.earning_rules.book import define_rules

    w = pg_world
    clock = w.ctx.clock  # in force from before the sales' date (a definition is never backdated)
    w.ctx.clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    try:
        define_rules(w.ctx, [{"code": "batch-bonus", "kind": "fixed_bonus", "points": 77}])
    finally:
        w.ctx.clock = clock
    people = [register(w, "admin", f"+8613790000{i:03d}", w.store_a) for i in range(3)]
    pos = w.as_("pos")
    answers = _post_all(
        w,
        [
            (purchase_body(w.store_a, people[i % 3]["id"], f"rb-{i}"), {**pos, "Idempotency-Key": f"rb-{i}"})
            for i in range(12)
        ],
    )
    assert [a.status_code for a in answers] == [201] * 12, answers[0].text
    ids = [a.json()["id"] for a in answers]
    with w.ctx.engine.connect() as conn:
        entries = conn.execute(
            text(
                "SELECT e.purchase_id, sum(e.points) FROM purchase_line_rules e "
                "JOIN earning_rules r ON r.id = e.rule_id WHERE r.code = 'batch-bonus' GROUP BY 1"
            )
        ).all()
    assert sorted(entries) == sorted((i, 77) for i in ids)
    assert points.verify_ledger(w.ctx)["ok"]
