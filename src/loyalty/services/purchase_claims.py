"""Claiming an anonymous sale: a member shows the receipt afterwards, and the sale becomes theirs.

A customer who did not show a card at the till can bring the receipt (store and order id, and the
total as a check) within `LOYALTY_CLAIM_WINDOW_DAYS` (default 30) of the sale. The claim, in one
transaction:

* attaches the member to the sale, exactly once: a second claim, by anyone, is 409
  `PURCHASE_ALREADY_CLAIMED`, and so is a sale that had a member from the start; after the window
  it is 409 `PURCHASE_CLAIM_EXPIRED`;
* earns what the sale would have earned when it was made: the programme's earning rule with the
  multiplier of the member's tier *at the time of the claim* (their current tier: what the tier was
  on the day of the sale is not kept for days without a change, and a claim comes within weeks), one
  lot whose pending period and expiry run from the sale's time, paying any debt first, as every
  earning does. The lines keep the points each earned, so a later return takes back exactly its
  share;
* leaves out what returns already posted against the anonymous sale took back: they are replayed
  by the rules of `purchases.post_return` (per line, or in proportion to the refund), recorded as
  the sale's `points_reversed`, and only the rest is credited;
* counts the sale towards the member's tier window of the sale's date (it now has a member), and
  upgrades at once when the window ending at the sale, or the one ending now, reaches a higher tier
  (never a downgrade, as a live sale);
* writes an audit row (who claimed what for whom).

The sale's row is locked first (PostgreSQL: FOR UPDATE; SQLite holds the write lock), then the
member's account: a return of the anonymous sale locks the same row first, so the two never
interleave.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, insert, select, update

from loyalty.bootstrap import Context
from loyalty.db.core_tables import members, purchase_lines, purchases, returns, tier_history
from loyalty.db.rows import insert_few
from loyalty.domain.actors import Actor
from loyalty.domain.channels import Channel
from loyalty.domain.earning import EarningRule, LineIn, cumulative_share, lot_times
from loyalty.domain.errors import Conflict, InvalidInput, NotFound
from loyalty.domain.tiers import tier_for_spend
from loyalty.i18n.formats import Amount
from loyalty.services import audit
from loyalty.services.accounts import Credit, LockedAccount, credit_points, lock_member_account
from loyalty.services.catalogue import StoreInfo, catalogue_of
from loyalty.services.earning_rules.frames import earn_at_store, rule_entries
from loyalty.services.members import resolve_member_id
from loyalty.services.tier_window import qualifying_spend


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ClaimIn(_Model):
    """A receipt and who claims it: the member by exactly one of id, phone, card number, member code."""

    store_id: int
    order_id: str
    member_id: int | None = None
    phone: str | None = None
    card_no: str | None = None
    member_code: str | None = None
    total_minor: int | None = None  # the receipt's total; checked against the sale when given


class ClaimResult(_Model):
    purchase_id: int
    store_id: int
    order_id: str
    member_id: int
    occurred_at: datetime
    channel: Channel
    total_minor: int
    currency: str
    points_earned: int  # what the sale earns by the member's rule
    points_credited: int  # what the claim credited: the earning less what returns already took back
    rule: str
    available_at: datetime | None  # the credited lot's pending end and expiry (None: nothing credited)
    expires_at: datetime | None
    tier_code: str
    upgraded_to: str | None
    claimed_at: datetime


def claim_purchase(ctx: Context, claim: ClaimIn, *, actor: Actor, receipt_check: bool = False) -> ClaimResult:
    """Attach the member to the anonymous sale of the receipt and credit what it earns (module docstring).

    With `receipt_check` (a member claiming for themself) the total is required, and a receipt that
    names no sale and one whose total differs get the same answer (`RECEIPT_NOT_FOUND`), so that order
    ids cannot be probed; staff and tills get `ORDER_NOT_FOUND` and `PURCHASE_CLAIM_TOTAL_MISMATCH`.
    """
    if receipt_check and claim.total_minor is None:
        raise InvalidInput.field("total", "give the receipt's total", "RECEIPT_TOTAL_REQUIRED")
    now = ctx.now()
    with ctx.engine.begin() as conn:
        sale = _locked_sale(conn, claim, receipt_check)
        if sale.member_id is not None:
            raise Conflict(
                "PURCHASE_ALREADY_CLAIMED",
                "order {order_id} at store {store_id} already belongs to a member",
                {"order_id": claim.order_id, "store_id": claim.store_id},
            )
        deadline = sale.occurred_at + timedelta(days=ctx.settings.claim_window_days)
        if now > deadline:
            raise Conflict(
                "PURCHASE_CLAIM_EXPIRED",
                "order {order_id} at store {store_id} could be claimed until {deadline}",
                {
                    "order_id": claim.order_id,
                    "store_id": claim.store_id,
                    "deadline": deadline.isoformat(),
                    "claim_window_days": ctx.settings.claim_window_days,
                },
            )
        member_id = resolve_member_id(
            conn,
            member_id=claim.member_id,
            phone=claim.phone,
            card_no=claim.card_no,
            member_code=claim.member_code,
            region=ctx.settings.phone_region,
        )
        return _claim(conn, ctx, sale, member_id, actor, now)


def _locked_sale(conn: Connection, claim: ClaimIn, receipt_check: bool) -> Any:
    sale = conn.execute(
        select(purchases)
        .where(purchases.c.store_id == claim.store_id, purchases.c.order_id == claim.order_id)
        .with_for_update()
    ).first()
    mismatch = sale is not None and claim.total_minor not in (None, sale.total_minor)
    if receipt_check and (sale is None or mismatch):
        raise NotFound(
            "RECEIPT_NOT_FOUND",
            "no sale at store {store_id} matches receipt {order_id} and its total",
            {"store_id": claim.store_id, "order_id": claim.order_id},
        )
    if sale is None:
        raise NotFound(
            "ORDER_NOT_FOUND",
            "order {order_id} was never posted at store {store_id}",
            {"order_id": claim.order_id, "store_id": claim.store_id},
        )
    if mismatch:
        assert claim.total_minor is not None
        raise InvalidInput.field(
            "total",
            "the receipt's total {given} is not the sale's ({total})",
            "PURCHASE_CLAIM_TOTAL_MISMATCH",
            {
                "given": Amount(claim.total_minor, sale.currency),
                "total": Amount(sale.total_minor, sale.currency),
                "order_id": claim.order_id,
                "store_id": claim.store_id,
            },
        )
    return sale


def _claim(
    conn: Connection, ctx: Context, sale: Any, member_id: int, actor: Actor, now: datetime
) -> ClaimResult:
    catalogue = catalogue_of(ctx)
    account = lock_member_account(conn, member_id)
    member = conn.execute(
        select(members.c.status, members.c.tier_id, members.c.birthday).where(members.c.id == member_id)
    ).one()
    if member.status != "active":
        raise Conflict(
            "MEMBER_INACTIVE",
            "member {member_id} is not active ({member_status})",
            {"member_id": member_id, "member_status": member.status},
        )
    store = catalogue.store(conn, sale.store_id)
    prog = store.programme
    ladder = catalogue.tiers(conn)
    tier = ladder.by_id[member.tier_id]
    rule = EarningRule(prog.points_per_unit, tier.multiplier_pct, prog.excluded_categories, tier.code)
    lines = conn.execute(
        select(purchase_lines)
        .where(purchase_lines.c.purchase_id == sale.id)
        .order_by(purchase_lines.c.line_no)
    ).all()
    points = {ln.line_no: rule.line_points(LineIn(ln.amount_minor, ln.category)) for ln in lines}
    rules = catalogue.rule_book(conn).for_programmes({prog.id})
    by_rules = None
    if rules:  # the rules in force at the sale's time, as if the card had been shown
        by_rules = earn_at_store(
            rules,
            store,
            tier,
            sale.occurred_at,
            sale.channel,
            lines,
            birthday=member.birthday,
            member_id=member_id,
            limits=conn,
        )
        points = dict(zip((ln.line_no for ln in lines), by_rules.line_points.tolist(), strict=True))
        entries = rule_entries(
            by_rules,
            np.full(len(lines), sale.id, dtype=np.int64),
            np.array([ln.line_no for ln in lines], dtype=np.int64),
        )
        insert_few(conn, "purchase_line_rules", entries)
    earned = sum(points.values())
    withheld = _taken_back_by_returns(conn, sale, lines, points, earned)
    credited = earned - withheld
    for ln in lines:
        if points[ln.line_no]:
            conn.execute(
                update(purchase_lines)
                .where(purchase_lines.c.purchase_id == sale.id, purchase_lines.c.line_no == ln.line_no)
                .values(points=points[ln.line_no])
            )
    conn.execute(
        update(purchases)
        .where(purchases.c.id == sale.id)
        .values(
            member_id=member_id,
            points_earned=earned,
            points_reversed=withheld,
            rule=rule.label,
            claimed_at=now,
        )
    )
    # The same pending/expiry rule as a sale posted live, from the sale's own time.
    available_at, expires_at = _credit_claim(
        conn,
        store,
        account,
        points=credited,
        sold_at=sale.occurred_at,
        at=now,
        rule=rule.label,
        purchase_id=sale.id,
        order_id=sale.order_id,
        reason="claimed with the receipt",
        operator=actor.id,
    )
    # The sale now counts in the member's window; upgrade at once where a window holding it qualifies.
    window = prog.tier_window_days
    spend = max(
        qualifying_spend(conn, member_id, sale.occurred_at, window),
        qualifying_spend(conn, member_id, now, window),
    )
    target = tier_for_spend(ladder.defs, spend)
    upgrade = target if target.rank > tier.rank else None
    if upgrade is not None:
        conn.execute(
            update(members)
            .where(members.c.id == member_id)
            .values(tier_id=upgrade.id, tier_grace_until=None, updated_at=now)
        )
        conn.execute(
            insert(tier_history).values(
                member_id=member_id,
                from_tier_id=tier.id,
                to_tier_id=upgrade.id,
                reason="upgrade",
                qualifying_minor=spend,
                at=now,
            )
        )
    # What a re-read of the sale answers from now on: the tier the claim left the member in.
    conn.execute(
        update(purchases)
        .where(purchases.c.id == sale.id)
        .values(
            tier_code=upgrade.code if upgrade else tier.code, upgraded_to=upgrade.code if upgrade else None
        )
    )
    result = ClaimResult(
        purchase_id=sale.id,
        store_id=sale.store_id,
        order_id=sale.order_id,
        member_id=member_id,
        occurred_at=sale.occurred_at,
        channel=sale.channel,
        total_minor=sale.total_minor,
        currency=sale.currency,
        points_earned=earned,
        points_credited=credited,
        rule=rule.label,
        available_at=available_at,
        expires_at=expires_at,
        tier_code=upgrade.code if upgrade else tier.code,
        upgraded_to=upgrade.code if upgrade else None,
        claimed_at=now,
    )
    audit.record(
        conn,
        actor,
        "purchase.claim",
        "purchase",
        sale.id,
        {"member_id": None, "points_earned": 0},
        {
            "member_id": member_id,
            "points_earned": earned,
            "points_credited": credited,
            "tier": result.tier_code,
        },
        at=now,
    )
    return result


def _taken_back_by_returns(
    conn: Connection, sale: Any, lines: Sequence[Any], points: dict[int, int], earned: int
) -> int:
    """Points the returns already posted against the sale would have reversed, had it earned `points`
    when it was made: each replayed in posting order by the rule `purchases.post_return` applies (per
    line returned, or the refund's share of the sale), capped at what is left, and all that is left once
    the sale is fully returned (every unit, or all its money)."""
    quantity = {ln.line_no: ln.quantity for ln in lines}
    returned = dict.fromkeys(quantity, 0)
    refunded = taken = 0
    for ret in conn.execute(
        select(returns.c.lines, returns.c.refund_minor)
        .where(returns.c.purchase_id == sale.id)
        .order_by(returns.c.id)
    ):
        if ret.lines:
            share = 0
            for rl in ret.lines:
                no, before = int(rl["line_no"]), returned[int(rl["line_no"])]
                returned[no] = before + int(rl["quantity"])
                share += cumulative_share(points[no], before, returned[no], quantity[no])
        else:
            share = cumulative_share(earned, refunded, refunded + ret.refund_minor, sale.total_minor)
        refunded += ret.refund_minor
        whole = all(returned[n] >= quantity[n] for n in quantity) or 0 < sale.total_minor <= refunded
        taken += earned - taken if whole else min(share, earned - taken)  # as `post_return` takes them
    return taken


__all__ = ["ClaimIn", "ClaimResult", "claim_purchase"]


def _credit_claim(
    conn: Connection,
    store: StoreInfo,
    account: LockedAccount,
    *,
    points: int,
    sold_at: datetime,
    at: datetime,
    rule: str,
    purchase_id: int,
    order_id: str,
    **extra: Any,
) -> tuple[datetime | None, datetime | None]:
    """Credit what a claimed sale at `store` earns (nothing when `points` is 0): the earning transfer
    and one lot that pays debt first; return the lot's (available_at, expires_at).

    The lot's pending period and expiry run from the sale's own time by the programme's rule, as for
    a sale posted with its member (`domain.earning.lot_times`), so a sale posted live and one claimed
    later earn alike. `extra` goes on the transfer (the claim's reason and operator).
    """
    if points <= 0:
        return None, None
    prog = store.programme
    available_us, expires_us = lot_times(0, prog.return_window_days, prog.expiry_days)
    available_at = sold_at + timedelta(microseconds=available_us)
    expires_at = sold_at + timedelta(microseconds=expires_us)
    credit = Credit(
        "earn", rule, points, store.liability_account_id, store.merchant_id, available_at, expires_at
    )
    credit_points(
        conn, account, credit, at, purchase_id=purchase_id, store_id=store.id, order_id=order_id, **extra
    )
    return available_at, expires_at
