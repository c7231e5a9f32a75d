"""Tiers: listing, a member's tier with window progress, history, manual locks and the set-based
re-evaluation job.

Tiers depend on qualifying spend (paid total minus refunds) in a rolling window, never on the
spendable balance, so redeeming points never demotes anyone. Upgrades happen at purchase time
(`purchases._maybe_upgrade`); downgrades only here, by one step or to what the window supports,
after an optional grace period, and never while a manual lock holds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    MetaData,
    Table,
    and_,
    case,
    func,
    insert,
    literal,
    select,
    text,
    update,
)

from loyalty.bootstrap import Context
from loyalty.db.core_tables import members, purchases, tiers
from loyalty.db.core_tables import tier_history as tier_history_t
from loyalty.domain.actors import SYSTEM, Actor
from loyalty.domain.errors import InvalidInput, NotFound
from loyalty.services import audit
from loyalty.services.common import default_programme, member_row, qualifying_spend, read
from loyalty.services.schemas import MemberTier, TierChange, TierEvaluation, TierOut


def _tier_out(row: object) -> TierOut:
    return TierOut.model_validate(row, from_attributes=True)


def list_tiers(ctx: Context) -> list[TierOut]:
    with read(ctx) as conn:
        return [_tier_out(r) for r in conn.execute(select(tiers).order_by(tiers.c.rank))]


def member_tier(ctx: Context, member_id: int, *, as_of: datetime | None = None) -> MemberTier:
    """The member's tier, qualifying spend in the window, and how far the next tier is."""
    now = as_of or ctx.now()
    with read(ctx) as conn:
        m = member_row(conn, member_id)
        prog = default_programme(conn)
        all_tiers = list(conn.execute(select(tiers).order_by(tiers.c.rank)))
        cur = next(t for t in all_tiers if t.id == m.tier_id)
        spend = qualifying_spend(conn, member_id, now, prog.tier_window_days)
    nxt = next((t for t in all_tiers if t.rank > cur.rank), None)
    return MemberTier(
        member_id=member_id,
        tier=_tier_out(cur),
        qualifying_minor=spend,
        window_days=prog.tier_window_days,
        next_tier=_tier_out(nxt) if nxt else None,
        to_next_minor=max(nxt.threshold_minor - spend, 0) if nxt else None,
        locked_until=m.tier_locked_until,
        lock_reason=m.tier_lock_reason,
        grace_until=m.tier_grace_until,
    )


def tier_history(ctx: Context, member_id: int) -> list[TierChange]:
    f, t = tiers.alias("f"), tiers.alias("t")
    with read(ctx) as conn:
        rows = conn.execute(
            select(tier_history_t.c.at, f.c.code, t.c.code, tier_history_t.c.reason, tier_history_t.c.note)
            .select_from(
                tier_history_t.outerjoin(f, f.c.id == tier_history_t.c.from_tier_id).join(
                    t, t.c.id == tier_history_t.c.to_tier_id
                )
            )
            .where(tier_history_t.c.member_id == member_id)
            .order_by(tier_history_t.c.at, tier_history_t.c.id)
        ).all()
    return [TierChange(at=r[0], from_tier=r[1], to_tier=r[2], reason=r[3], note=r[4]) for r in rows]


def lock_tier(
    ctx: Context, member_id: int, tier_code: str, *, until: datetime, reason: str, actor: Actor | None = None
) -> MemberTier:
    """Set a member's tier by hand and keep it until `until` (no downgrade meanwhile), with a reason."""
    if not reason.strip():
        raise InvalidInput.field("reason", "a tier lock needs a reason", "REASON_REQUIRED")
    now = ctx.now()
    with ctx.engine.begin() as conn:
        m = member_row(conn, member_id)
        tid = conn.execute(select(tiers.c.id).where(tiers.c.code == tier_code)).scalar()
        if tid is None:
            raise NotFound("TIER_NOT_FOUND", f"no tier {tier_code!r}")
        conn.execute(
            update(members)
            .where(members.c.id == member_id)
            .values(
                tier_id=tid,
                tier_locked_until=until,
                tier_lock_reason=reason,
                tier_grace_until=None,
                updated_at=now,
            )
        )
        conn.execute(
            insert(tier_history_t).values(
                member_id=member_id,
                from_tier_id=m.tier_id,
                to_tier_id=tid,
                reason="manual_lock",
                note=reason,
                at=now,
            )
        )
        audit.record(
            conn,
            actor or SYSTEM,
            "tier.lock",
            "member",
            member_id,
            {"tier_id": m.tier_id},
            {"tier_id": tid, "until": until, "reason": reason},
            at=now,
        )
    return member_tier(ctx, member_id)


def evaluate_tiers(ctx: Context, as_of: datetime | None = None) -> TierEvaluation:
    """Re-evaluate every active member against the window ending at `as_of`, in set-based SQL.

    A scratch table holds (member, current tier, window spend, supported tier, new tier); a few
    UPDATE … FROM statements decide upgrades, grace starts and downgrades; history rows are inserted
    with one INSERT … SELECT. No Python loop per member, so 1,000,000 members take seconds.
    """
    as_of = as_of or ctx.now()
    now = ctx.now()
    with ctx.engine.begin() as conn:
        prog = default_programme(conn)
        return _evaluate(
            conn, as_of, now, prog.tier_window_days, prog.downgrade_policy, prog.downgrade_grace_days
        )


def _evaluate(
    conn: Connection, as_of: datetime, now: datetime, window: int, policy: str, grace_days: int
) -> TierEvaluation:
    dt = purchases.c.occurred_at.type
    pg = conn.dialect.name == "postgresql"
    conn.execute(text("DROP TABLE IF EXISTS tier_eval"))
    conn.execute(
        text(
            (
                "CREATE TEMPORARY TABLE tier_eval (member_id BIGINT PRIMARY KEY, cur_id BIGINT, "
                "cur_rank INT, "
                "spend BIGINT, sup_rank INT, new_rank INT, locked INT, grace_until TIMESTAMP{tz})"
            ).format(tz=" WITH TIME ZONE" if pg else "")
            + (" ON COMMIT DROP" if pg else "")
        )
    )
    te = Table(
        "tier_eval",
        MetaData(),
        Column("member_id", BigInteger),
        Column("cur_id", BigInteger),
        Column("cur_rank", Integer),
        Column("spend", BigInteger),
        Column("sup_rank", Integer),
        Column("new_rank", Integer),
        Column("locked", Integer),
        Column("grace_until", dt),
    )
    spend = (
        select(
            purchases.c.member_id.label("mid"),
            func.sum(purchases.c.total_minor - purchases.c.refunded_minor).label("s"),
        )
        .where(purchases.c.occurred_at > as_of - timedelta(days=window), purchases.c.occurred_at <= as_of)
        .group_by(purchases.c.member_id)
        .subquery()
    )
    cur = tiers.alias("cur")
    locked = and_(members.c.tier_locked_until.is_not(None), members.c.tier_locked_until > as_of)
    conn.execute(
        insert(te).from_select(
            ["member_id", "cur_id", "cur_rank", "spend", "locked", "grace_until"],
            select(
                members.c.id,
                members.c.tier_id,
                cur.c.rank,
                func.coalesce(spend.c.s, 0),
                case((locked, 1), else_=0),
                members.c.tier_grace_until,
            )
            .select_from(
                members.join(cur, cur.c.id == members.c.tier_id).outerjoin(spend, spend.c.mid == members.c.id)
            )
            .where(members.c.status == "active"),
        )
    )
    t2 = tiers.alias("t2")
    conn.execute(
        update(te).values(
            sup_rank=(select(func.max(t2.c.rank)).where(t2.c.threshold_minor <= te.c.spend).scalar_subquery())
        )
    )
    conn.execute(
        update(te)
        .values(sup_rank=select(func.min(t2.c.rank)).scalar_subquery())
        .where(te.c.sup_rank.is_(None))
    )
    # Upgrades (the window supports more than held): always, even when locked.
    conn.execute(update(te).values(new_rank=te.c.sup_rank).where(te.c.sup_rank > te.c.cur_rank))
    # Downgrades: not while locked; with grace, first start the clock, then act once it has run out.
    below = and_(te.c.sup_rank < te.c.cur_rank, te.c.locked == 0)
    grace_started = 0
    if grace_days > 0:
        grace_started = conn.execute(
            update(te)
            .values(grace_until=literal(as_of + timedelta(days=grace_days), dt))
            .where(below, te.c.grace_until.is_(None))
        ).rowcount
        due = and_(below, te.c.grace_until.is_not(None), te.c.grace_until <= as_of)
    else:
        due = below
    if policy == "window":
        conn.execute(update(te).values(new_rank=te.c.sup_rank).where(due))
    else:
        conn.execute(
            update(te)
            .values(new_rank=(select(func.max(t2.c.rank)).where(t2.c.rank < te.c.cur_rank).scalar_subquery()))
            .where(due)
        )
    new_t = tiers.alias("new_t")
    changed = and_(te.c.new_rank.is_not(None), te.c.new_rank != te.c.cur_rank)
    conn.execute(
        insert(tier_history_t).from_select(
            ["member_id", "from_tier_id", "to_tier_id", "reason", "qualifying_minor", "at"],
            select(
                te.c.member_id,
                te.c.cur_id,
                new_t.c.id,
                case((te.c.new_rank > te.c.cur_rank, "evaluation_upgrade"), else_="evaluation_downgrade"),
                te.c.spend,
                literal(now, dt),
            )
            .select_from(te.join(new_t, new_t.c.rank == te.c.new_rank))
            .where(changed),
        )
    )
    up = conn.execute(select(func.count()).where(changed, te.c.new_rank > te.c.cur_rank)).scalar_one()
    down = conn.execute(select(func.count()).where(changed, te.c.new_rank < te.c.cur_rank)).scalar_one()
    n = conn.execute(select(func.count()).select_from(te)).scalar_one()
    moved = (
        select(te.c.member_id.label("mid"), new_t.c.id.label("tid"))
        .select_from(te.join(new_t, new_t.c.rank == te.c.new_rank))
        .where(changed)
        .subquery()
    )
    conn.execute(
        update(members)
        .values(tier_id=moved.c.tid, tier_grace_until=None, updated_at=now)
        .where(members.c.id == moved.c.mid)
    )
    # Keep grace clocks: started now, or cleared where the window supports the tier again.
    if grace_days > 0:
        g = (
            select(te.c.member_id.label("mid"), te.c.grace_until.label("gu"))
            .where(te.c.new_rank.is_(None), te.c.sup_rank < te.c.cur_rank, te.c.locked == 0)
            .subquery()
        )
        conn.execute(update(members).values(tier_grace_until=g.c.gu).where(members.c.id == g.c.mid))
    conn.execute(
        update(members)
        .values(tier_grace_until=None)
        .where(
            members.c.tier_grace_until.is_not(None),
            members.c.id.in_(select(te.c.member_id).where(te.c.sup_rank >= te.c.cur_rank)),
        )
    )
    if not pg:
        conn.execute(text("DROP TABLE IF EXISTS tier_eval"))
    return TierEvaluation(
        evaluated=int(n), upgraded=int(up), downgraded=int(down), grace_started=int(grace_started)
    )
