"""A reward order after it is made: fulfilled (shipped, collected, a service rendered) or cancelled.

Each is one transaction, audited. Fulfilment moves the status on (`domain.programme.rewards.may_move`).
Cancelling gives everything back: the points (`refund.give_back`, with their dates), the unit of
stock, and a coupon reward's coupon is voided — only while it was never used (a conditional update, so
a checkout racing to use it either uses it first, and the cancellation is refused, or finds it void).
Locks are taken in the order an order takes them (the member's account, then the reward's row), so a
cancellation and an order never wait on each other in a cycle.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, select, update

from loyalty.bootstrap import Context
from loyalty.db.reward_tables import reward_orders, rewards
from loyalty.domain.actors import SYSTEM, Actor
from loyalty.domain.errors import Conflict, InvalidInput
from loyalty.domain.programme.rewards import FULFILMENT_STATUSES, cancellable, may_move
from loyalty.services import audit
from loyalty.services.accounts import lock_member_account
from loyalty.services.catalogue import store_info
from loyalty.services.common import member_row
from loyalty.services.offers.coupons import void_if_unused
from loyalty.services.rewards.model import RewardOrder
from loyalty.services.rewards.orders import order_not_found, read_order
from loyalty.services.rewards.refund import give_back


def _locked(conn: Connection, order_id: int) -> Row[Any]:
    row = conn.execute(
        select(reward_orders, rewards.c.code, rewards.c.name, rewards.c.kind)
        .join(rewards, rewards.c.id == reward_orders.c.reward_id)
        .where(reward_orders.c.id == order_id)
        .with_for_update(of=reward_orders)
    ).first()
    if row is None:
        raise order_not_found(order_id)
    return row


def _final(order_id: int, status: str, to: str) -> Conflict:
    return Conflict(
        "REWARD_ORDER_FINAL",
        "reward order {order_id} is {status}: it cannot become {to}",
        {"order_id": order_id, "status": status, "to": to},
    )


def fulfil(ctx: Context, order_id: int, status: str, *, actor: Actor | None = None) -> RewardOrder:
    """Move an order on to `status` (fulfilled, shipped or collected; audited as `reward.fulfil`)."""
    if status not in FULFILMENT_STATUSES:
        raise InvalidInput.field(
            "status",
            "must be one of {statuses}",
            "REWARD_ORDER_STATUS_INVALID",
            {"statuses": ", ".join(FULFILMENT_STATUSES)},
        )
    now = ctx.now()
    who = actor or SYSTEM
    with ctx.engine.begin() as conn:
        row = _locked(conn, order_id)
        if not may_move(row.status, status):
            raise _final(order_id, row.status, status)
        conn.execute(
            update(reward_orders).where(reward_orders.c.id == order_id).values(status=status, updated_at=now)
        )
        audit.record(
            conn,
            who,
            "reward.fulfil",
            "reward_order",
            order_id,
            {"status": row.status},
            {"status": status},
            at=now,
        )
        return read_order(conn, order_id)


def cancel(
    ctx: Context, order_id: int, *, reason: str | None = None, actor: Actor | None = None
) -> RewardOrder:
    """Cancel an order (audited as `reward.cancel`): its points back to the member (to the member they
    were merged into, if so), its unit back in stock, a coupon reward's unused coupon voided.
    REWARD_ORDER_FINAL when it was shipped, collected, rendered, cancelled, or its coupon used."""
    now = ctx.now()
    who = actor or SYSTEM
    with ctx.engine.begin() as conn:
        first = conn.execute(select(reward_orders.c.member_id).where(reward_orders.c.id == order_id)).scalar()
        if first is None:
            raise order_not_found(order_id)
        m = member_row(conn, int(first))
        owner = int(m.merged_into_id) if m.status == "merged" and m.merged_into_id is not None else m.id
        acc = lock_member_account(conn, owner)
        row = _locked(conn, order_id)
        unused = None
        if row.kind == "coupon" and row.status == "fulfilled" and row.coupon_id is not None:
            unused = void_if_unused(conn, int(row.coupon_id), now)
        if not cancellable(row.status, unused):
            raise _final(order_id, row.status, "cancelled")
        refund_tid = give_back(
            conn,
            acc,
            int(row.redeem_transfer_id),
            int(row.points),
            store_info(conn, int(row.store_id)),
            now,
            rule=f"reward-cancel:{row.code}",
            operator=who.id,
            reason=reason or row.name,
        )
        conn.execute(  # the unit back (a reward whose stock is unlimited has none to take back)
            update(rewards)
            .where(rewards.c.id == row.reward_id, rewards.c.stock.is_not(None))
            .values(stock=rewards.c.stock + 1)
        )
        conn.execute(
            update(reward_orders)
            .where(reward_orders.c.id == order_id)
            .values(status="cancelled", refund_transfer_id=refund_tid, updated_at=now)
        )
        audit.record(
            conn,
            who,
            "reward.cancel",
            "reward_order",
            order_id,
            {"status": row.status},
            {"status": "cancelled", "points": int(row.points), "refund_transfer_id": refund_tid},
            at=now,
        )
        return read_order(conn, order_id, balance_after=acc.balance)
