"""Members rate their own purchases once, within the window, not a returned sale; staff list their
stores' feedback and mark it handled. On SQLite and PostgreSQL (`ctx`)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from loyalty.bootstrap import Context, FrozenClock
from loyalty.db.core_tables import audit_log
from loyalty.db.feedback_tables import feedback as feedback_table
from loyalty.domain.actors import Actor
from loyalty.domain.errors import Conflict, InvalidInput, NotFound
from loyalty.services import feedback, purchases
from loyalty.services.schemas import ReturnIn, ReturnLineIn
from tests.core.conftest import clock, ctx
from tests.feedback.helpers import sell, shop

__all__ = ["clock", "ctx"]

MANAGER_A = Actor(kind="staff", id="7", role="store_manager")


def _stored(ctx: Context) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(feedback_table)).scalar_one())


def _audited(ctx: Context, action: str) -> list[tuple[str, str, str]]:
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT actor_kind, actor_id, entity_id FROM audit_log WHERE action = :a ORDER BY id"),
            {"a": action},
        )
        return [tuple(r) for r in rows]


def test_a_member_rates_their_purchase_once_with_the_sale_s_store_and_staff(ctx: Context) -> None:
    s = shop(ctx)
    sale = sell(ctx, s.store_a, s.alice, staff="收银员 07")
    made = feedback.rate_purchase(ctx, s.alice, sale, 5, "  店员很耐心  ")
    assert (made.purchase_id, made.member_id, made.store_id, made.staff) == (
        sale,
        s.alice,
        s.store_a,
        "收银员 07",
    )
    assert (made.rating, made.comment, made.handled_at, made.low) == (5, "店员很耐心", None, False)
    assert made.created_at == ctx.now()
    assert _audited(ctx, "feedback.rate") == [("member", str(s.alice), str(made.id))]
    with pytest.raises(Conflict) as again:
        feedback.rate_purchase(ctx, s.alice, sale, 1)
    assert again.value.code == "FEEDBACK_EXISTS"
    assert again.value.details == {"purchase_id": sale}
    assert _stored(ctx) == 1
    assert feedback.member_ratings(ctx, s.alice, [sale, sale + 1000]) == {sale: made}


def test_another_member_s_an_anonymous_and_a_missing_purchase_answer_alike(ctx: Context) -> None:
    s = shop(ctx)
    bobs = sell(ctx, s.store_a, s.bob)
    anonymous = sell(ctx, s.store_a, None)
    answers = []
    for purchase_id in (bobs, anonymous, 987_654):
        with pytest.raises(NotFound) as exc:
            feedback.rate_purchase(ctx, s.alice, purchase_id, 4)
        answers.append((exc.value.code, exc.value.template))
    assert set(answers) == {("PURCHASE_NOT_FOUND", "member {member_id} has no purchase {purchase_id}")}
    assert _stored(ctx) == 0


def test_a_fully_returned_sale_is_not_rated_a_partly_returned_one_is(ctx: Context) -> None:
    s = shop(ctx)
    whole = sell(ctx, s.store_a, s.alice, quantity=2)
    part = sell(ctx, s.store_a, s.alice, quantity=2)
    by_money = sell(ctx, s.store_a, s.alice)
    orders = {}
    with ctx.engine.connect() as conn:
        for pid in (whole, part, by_money):
            orders[pid] = conn.execute(
                text("SELECT order_id FROM purchases WHERE id = :i"), {"i": pid}
            ).scalar_one()

    def back(pid: int, rid: str, **how: object) -> None:
        purchases.post_return(
            ctx,
            ReturnIn(store_id=s.store_a, order_id=orders[pid], return_id=rid, occurred_at=ctx.now(), **how),
        )

    back(whole, "R-W", lines=[ReturnLineIn(line_no=1, quantity=2)])
    back(part, "R-P", lines=[ReturnLineIn(line_no=1, quantity=1)])
    back(by_money, "R-M", refund_minor=10_000)
    for pid in (whole, by_money):
        with pytest.raises(Conflict) as exc:
            feedback.rate_purchase(ctx, s.alice, pid, 2)
        assert exc.value.code == "PURCHASE_RETURNED"
    assert feedback.rate_purchase(ctx, s.alice, part, 2).low


def test_a_sale_is_rated_within_thirty_days(ctx: Context, clock: FrozenClock) -> None:
    s = shop(ctx)
    sold_at = ctx.now()
    late = sell(ctx, s.store_a, s.alice)
    in_time = sell(ctx, s.store_a, s.alice)
    clock.now = sold_at + timedelta(days=30)
    assert feedback.rate_purchase(ctx, s.alice, in_time, 3).rating == 3
    clock.now = sold_at + timedelta(days=30, seconds=1)
    with pytest.raises(Conflict) as exc:
        feedback.rate_purchase(ctx, s.alice, late, 3)
    assert (exc.value.code, exc.value.details) == (
        "FEEDBACK_WINDOW_CLOSED",
        {"purchase_id": late, "days": 30},
    )


@pytest.mark.parametrize(
    ("rating", "comment", "field"),
    [
        (0, None, "rating"),
        (6, None, "rating"),
        (True, None, "rating"),
        (4, "字" * 501, "comment"),
        (4, "a\x00b", "comment"),
    ],
)
def test_a_bad_rating_or_comment_is_refused_naming_it(
    ctx: Context, rating: int, comment: str | None, field: str
) -> None:
    s = shop(ctx)
    sale = sell(ctx, s.store_a, s.alice)
    with pytest.raises(InvalidInput) as exc:
        feedback.rate_purchase(ctx, s.alice, sale, rating, comment)
    assert exc.value.code == "FEEDBACK_INVALID"
    assert [e["field"] for e in exc.value.details["errors"]] == [field]
    assert _stored(ctx) == 0
    assert feedback.rate_purchase(ctx, s.alice, sale, 4, "字" * 500).comment == "字" * 500


def test_staff_list_their_stores_feedback_low_and_open_and_page_through(ctx: Context) -> None:
    s = shop(ctx)
    made = []
    for store, member, rating in [
        (s.store_a, s.alice, 5),
        (s.store_a, s.bob, 1),
        (s.store_b, s.alice, 2),
        (s.store_a, s.alice, 2),
    ]:
        made.append(feedback.rate_purchase(ctx, member, sell(ctx, store, member), rating))
    newest_first = [f.id for f in reversed(made)]
    everything = feedback.list_feedback(ctx)
    assert [f.id for f in everything.items] == newest_first
    assert everything.next_cursor is None
    mine = feedback.list_feedback(ctx, store_ids={s.store_a})
    assert [f.rating for f in mine.items] == [2, 1, 5]
    assert [f.rating for f in feedback.list_feedback(ctx, store_ids={s.store_a}, low=True).items] == [2, 1]
    assert [f.store_id for f in feedback.list_feedback(ctx, store_id=s.store_b).items] == [s.store_b]
    first = feedback.list_feedback(ctx, limit=3)
    assert [f.id for f in first.items] == newest_first[:3]
    assert first.next_cursor is not None
    rest = feedback.list_feedback(ctx, limit=3, cursor=first.next_cursor)
    assert [f.id for f in rest.items] == newest_first[3:]
    assert rest.next_cursor is None
    for bad in ("x", "-1", "1" * 40):
        with pytest.raises(InvalidInput) as exc:
            feedback.list_feedback(ctx, cursor=bad)
        assert exc.value.details["errors"][0]["field"] == "cursor"
    with pytest.raises(InvalidInput):
        feedback.list_feedback(ctx, limit=0)

    low_a = made[1]
    done = feedback.handle_feedback(ctx, low_a.id, MANAGER_A, note=" 已致电 ", store_ids={s.store_a})
    assert (done.handled_at, done.handled_by, done.handled_note) == (ctx.now(), "staff:7", "已致电")
    assert _audited(ctx, "feedback.handle") == [("staff", "7", str(low_a.id))]
    with pytest.raises(Conflict) as exc:
        feedback.handle_feedback(ctx, low_a.id, MANAGER_A)
    assert exc.value.code == "FEEDBACK_ALREADY_HANDLED"
    with pytest.raises(NotFound) as missing:  # another store's rating is no store manager's to see
        feedback.handle_feedback(ctx, made[2].id, MANAGER_A, store_ids={s.store_a})
    assert missing.value.code == "FEEDBACK_NOT_FOUND"
    with pytest.raises(NotFound):
        feedback.get_feedback(ctx, made[2].id, store_ids={s.store_a})
    assert feedback.get_feedback(ctx, made[2].id).rating == 2
    open_low = feedback.list_feedback(ctx, low=True, handled=False)
    assert [f.id for f in open_low.items] == [made[3].id, made[2].id]
    assert [f.id for f in feedback.list_feedback(ctx, handled=True).items] == [low_a.id]
    assert _audited(ctx, "feedback.handle") == [("staff", "7", str(low_a.id))]  # refusals wrote nothing


def test_ratings_follow_a_merge_and_an_erasure_blanks_the_comments(ctx: Context) -> None:
    from loyalty.services import members, privacy

    s = shop(ctx)
    bobs = feedback.rate_purchase(ctx, s.bob, sell(ctx, s.store_a, s.bob), 2, "电话 13900001002 找我")
    members.merge_members(ctx, duplicate_id=s.bob, survivor_id=s.alice)
    assert feedback.member_ratings(ctx, s.alice, [bobs.purchase_id])[bobs.purchase_id].id == bobs.id
    alices = feedback.rate_purchase(ctx, s.alice, sell(ctx, s.store_a, s.alice), 4, "我叫 Alice")
    card = members.get_member(ctx, s.alice).card_no
    privacy.erase_member(ctx, s.alice, confirm=card)
    kept = {f.id: (f.rating, f.comment) for f in feedback.list_feedback(ctx).items}
    assert kept == {bobs.id: (2, None), alices.id: (4, None)}  # the ratings stay, the words go
    with ctx.engine.connect() as conn:
        audited = conn.execute(
            select(audit_log.c.after).where(audit_log.c.action == "feedback.rate").order_by(audit_log.c.id)
        ).scalars()
        assert [a["comment"] for a in audited] == [None, None]
