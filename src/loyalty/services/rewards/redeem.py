"""A member orders a reward with points: in one transaction, points spent, a unit taken, the order made.

The order of the steps is the locking order: the member's account first (so a member's orders queue
and the per-member limit counts the one before), then the reward's row, last, by the conditional
update that takes a unit (`stock > 0`), so racing orders hold that row only for the end of their
transaction and no number of them takes the stock below zero (the CHECK is the backstop). The points
are spent by the one debit path of every redemption (`points.spend_for_redemption`: lots soonest-
expiring first, POINTS_INSUFFICIENT when short), refused for a member whose redemptions a fraud
review suspended. A coupon reward's coupon is issued to the member's wallet in the same transaction,
so an order never stands without its coupon, nor a coupon without its order.

With an idempotency key the order is made once: the key is read again under the account's lock, and
the answer stored with the order.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from loyalty.bootstrap import Context
from loyalty.db.core_tables import tiers
from loyalty.db.offer_tables import coupons, offers
from loyalty.db.reward_tables import reward_orders, rewards
from loyalty.domain.actors import SYSTEM, Actor
from loyalty.domain.errors import Conflict
from loyalty.domain.programme.rewards import open_to, price_for
from loyalty.services import audit, idempotency
from loyalty.services.accounts import lock_member_account
from loyalty.services.anomalies.suspensions import refuse_if_suspended
from loyalty.services.catalogue import store_info
from loyalty.services.common import member_row
from loyalty.services.offers.coupons import issue_in, typed
from loyalty.services.points import spend_for_redemption
from loyalty.services.request_hashes import request_hash
from loyalty.services.rewards.catalog import reward_row
from loyalty.services.rewards.model import RewardOrder, dumped
from loyalty.services.rewards.orders import held, read_order


def out_of_stock(code: str) -> Conflict:
    return Conflict("REWARD_OUT_OF_STOCK", "reward {code} is out of stock", {"code": code})


def tier_only(conn: Connection, code: str, allowed: list[str], tier_code: str | None) -> Conflict:
    """REWARD_TIER_ONLY: the reward is exclusive to tiers the member is not in, named (lowest first)."""
    names = dict(conn.execute(select(tiers.c.code, tiers.c.name).order_by(tiers.c.rank)).tuples().all())
    ranked = [c for c in names if c in allowed] + [c for c in allowed if c not in names]
    return Conflict(
        "REWARD_TIER_ONLY",
        "reward {code} is only for members of {tiers}; this member's tier is {tier}",
        {
            "code": code,
            "tiers": ", ".join(names.get(c, c) for c in ranked),
            "tier": names.get(tier_code, tier_code) if tier_code is not None else "-",
            "allowed_tiers": ranked,
            "member_tier": tier_code,
        },
    )


def take_unit(conn: Connection, reward_id: int, code: str) -> None:
    """Take one unit of a reward with a stock; REWARD_OUT_OF_STOCK when another order took the last."""
    took = conn.execute(
        update(rewards)
        .where(rewards.c.id == reward_id, rewards.c.stock.is_not(None), rewards.c.stock > 0)
        .values(stock=rewards.c.stock - 1)
    ).rowcount
    if took != 1:
        raise out_of_stock(code)


def redeem(
    ctx: Context,
    member_id: int,
    code: str,
    *,
    store_id: int,
    idempotency_key: str | None = None,
    actor: Actor | None = None,
) -> RewardOrder:
    """Order reward `code` for the member at `store_id` (audited as `reward.redeem`).

    Refusals (nothing written): REWARD_NOT_FOUND; REWARD_NOT_AVAILABLE outside its period;
    MEMBER_INACTIVE; REDEMPTION_SUSPENDED; REWARD_LIMIT_REACHED; REWARD_TIER_ONLY for a member outside
    the tiers an exclusive reward is for; REWARD_OUT_OF_STOCK;
    POINTS_INSUFFICIENT / BELOW_MIN_BALANCE; OFFER_ENDED for a coupon reward whose offer has ended.
    """
    rhash = request_hash({"member_id": member_id, "reward": code, "store_id": store_id})
    scope = f"rewards.redeem:{member_id}"
    who = actor or SYSTEM
    now = ctx.now()
    with ctx.engine.begin() as conn:
        if idempotency_key:
            prior = idempotency.lookup(conn, scope, idempotency_key, rhash)
            if prior is not None:
                return RewardOrder.model_validate({**prior, "replayed": True})
        store = store_info(conn, store_id)
        m = member_row(conn, member_id)
        if m.status != "active":
            raise Conflict(
                "MEMBER_INACTIVE",
                "member {member_id} is not active ({member_status})",
                {"member_id": member_id, "member_status": m.status},
            )
        reward = reward_row(conn, store.programme.id, code)
        if now < reward.valid_from or (reward.valid_to is not None and now >= reward.valid_to):
            raise Conflict("REWARD_NOT_AVAILABLE", "reward {code} cannot be ordered now", {"code": code})
        if reward.stock is not None and reward.stock <= 0:  # sold out: answered before any lock
            raise out_of_stock(code)
        acc = lock_member_account(conn, member_id)
        if idempotency_key:  # a concurrent first use of the key, which held the lock, is seen now
            prior = idempotency.lookup(conn, scope, idempotency_key, rhash)
            if prior is not None:
                return RewardOrder.model_validate({**prior, "replayed": True})
        refuse_if_suspended(conn, member_id)
        if (
            reward.per_member_limit is not None
            and held(conn, reward.id, member_id) >= reward.per_member_limit
        ):
            raise Conflict(
                "REWARD_LIMIT_REACHED",
                "reward {code} may be ordered {limit} times per member",
                {"code": code, "limit": reward.per_member_limit},
            )
        tier_code = conn.execute(select(tiers.c.code).where(tiers.c.id == m.tier_id)).scalar()
        if not open_to(reward.tiers, tier_code):
            raise tier_only(conn, code, list(reward.tiers), tier_code)
        price = price_for(reward.points, dict(reward.tier_prices or {}), tier_code)
        tid = spend_for_redemption(
            conn, acc, store, price, now, rule=f"reward:{code}", reason=reward.name, operator=who.id
        )
        coupon_id = None
        if reward.kind == "coupon":
            coupon_id = _issue(conn, int(reward.offer_id), member_id, now, who)
        oid = conn.execute(
            insert(reward_orders)
            .values(
                reward_id=reward.id,
                member_id=member_id,
                store_id=store_id,
                points=price,
                status="fulfilled" if coupon_id is not None else "reserved",
                coupon_id=coupon_id,
                redeem_transfer_id=tid,
                refund_transfer_id=None,
                created_at=now,
                created_by=who.id,
                updated_at=now,
            )
            .returning(reward_orders.c.id)
        ).scalar_one()
        if reward.stock is not None:
            take_unit(conn, reward.id, code)  # last: the reward's row is locked only from here to commit
        audit.record(
            conn,
            who,
            "reward.redeem",
            "reward_order",
            oid,
            None,
            {
                "reward": code,
                "member_id": member_id,
                "store_id": store_id,
                "points": price,
                "transfer_id": tid,
            },
            at=now,
        )
        result = read_order(conn, oid, balance_after=acc.balance)
        if idempotency_key:
            idempotency.store(conn, scope, idempotency_key, rhash, dumped(result), now)
    return result


def _issue(conn: Connection, offer_id: int, member_id: int, now: datetime, who: Actor) -> int:
    """Issue the reward's coupon to the member's wallet in this transaction; the coupon's id."""
    offer_code = conn.execute(select(offers.c.code).where(offers.c.id == offer_id)).scalar_one()
    issued = issue_in(conn, offer_code, now, member_ids=[member_id], count=1, actor=who)
    code = typed(issued.codes[0])
    return int(conn.execute(select(coupons.c.id).where(coupons.c.code == code)).scalar_one())
