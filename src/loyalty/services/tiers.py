"""Tiers: listing, a member's tier with window progress, history, manual locks and the set-based
re-evaluation job.

Tiers depend on qualifying spend (paid total minus refunds) in a rolling window, never on the
spendable balance, so redeeming points never demotes anyone. Upgrades happen at purchase time
(`purchases._maybe_upgrade`); downgrades only here, by one step or to what the window supports,
after an optional grace period, and never while a manual lock holds.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Insert,
    Integer,
    MetaData,
    Select,
    Table,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    or_,
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
from loyalty.services.catalogue import default_programme
from loyalty.services.common import member_row, read, tier_rows
from loyalty.services.id_ranges import IdRange, RangeProgress, run_job
from loyalty.services.schemas import MemberTier, TierChange, TierEvaluation, TierOut
from loyalty.services.tier_window import qualifying_spend


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
            raise NotFound("TIER_NOT_FOUND", "no tier {tier_code!r}", {"tier_code": tier_code})
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


def evaluate_tiers(
    ctx: Context,
    as_of: datetime | None = None,
    *,
    range_size: int | None = None,
    workers: int | None = None,
    progress: RangeProgress | None = None,
) -> TierEvaluation:
    """Re-evaluate every active member against the window ending at `as_of`, in set-based SQL.

    The members are cut into id ranges of `range_size` (default: the `job_range_size`
    setting), each decided and written in its own transaction, `workers` ranges at once on
    PostgreSQL (see `services.id_ranges`). Within a range one statement decides every member (window
    spend → supported tier → upgrade, grace start, downgrade or grace cleared) and keeps only the
    members whose row changes; those rows are rewritten and their moves written to the history.
    Members whose tier and grace clock stay as they are are neither rewritten nor given a history
    row. No Python loop per member. `progress` hears of each range as it commits (`services.jobs`).
    """
    as_of = as_of or ctx.now()
    now = ctx.now()
    with read(ctx) as conn:
        prog = default_programme(conn)

    def evaluate_range(ids: IdRange) -> TierEvaluation:
        with ctx.engine.begin() as conn:
            return _evaluate(
                conn, ids, as_of, now, prog.tier_window_days, prog.downgrade_policy, prog.downgrade_grace_days
            )

    done = run_job(
        ctx, members.c.id, evaluate_range, range_size=range_size, workers=workers, progress=progress
    )
    return TierEvaluation(
        evaluated=sum(d.evaluated for d in done),
        upgraded=sum(d.upgraded for d in done),
        downgraded=sum(d.downgraded for d in done),
        grace_started=sum(d.grace_started for d in done),
    )


# Scratch table of one range on SQLite: only the members whose row changes.
_moves = Table(
    "tier_moves",
    MetaData(),
    Column("member_id", BigInteger),
    Column("from_id", BigInteger),
    Column("to_id", BigInteger),  # NULL: the tier stays, only the grace clock changes
    Column("up", Integer),
    Column("spend", BigInteger),
    Column("grace_until", purchases.c.occurred_at.type),
    prefixes=["TEMPORARY"],
)
_MOVE_COLUMNS = ["member_id", "from_id", "to_id", "up", "spend", "grace_until"]


def _evaluate(
    conn: Connection, ids: IdRange, as_of: datetime, now: datetime, window: int, policy: str, grace_days: int
) -> TierEvaluation:
    pg = conn.dialect.name == "postgresql"
    if pg:
        # This transaction only: hash aggregates in memory, and no JIT (compiling the CASE ladders took
        # longer than running them over 10^6 rows).
        conn.execute(text("SET LOCAL work_mem = '64MB'"))
        conn.execute(text("SET LOCAL jit = off"))
    moves = _decide(conn, ids, as_of, window, policy, grace_days)
    apply = _apply_pg if pg else _apply_sqlite
    up, down, grace_started = apply(conn, ids, moves, now)
    n = conn.execute(
        select(func.count()).select_from(members).where(members.c.status == "active", ids.holds(members.c.id))
    ).scalar_one()
    return TierEvaluation(
        evaluated=int(n), upgraded=int(up), downgraded=int(down), grace_started=int(grace_started)
    )


def _spent(conn: Connection, ids: IdRange, as_of: datetime, window: int) -> Any:
    """The active members of `ids` with their tier state and their net spend in the window (`spend`)."""
    # PostgreSQL sums bigints into numeric; every tier comparison below is cheaper on bigint.
    net = cast(func.sum(purchases.c.total_minor - purchases.c.refunded_minor), BigInteger)
    in_window = (
        purchases.c.occurred_at > as_of - timedelta(days=window),
        purchases.c.occurred_at <= as_of,
    )
    row = (members.c.id, members.c.tier_id, members.c.tier_grace_until, members.c.tier_locked_until)
    in_range = (members.c.status == "active", ids.holds(members.c.id))
    if conn.dialect.name == "postgresql":
        # One pass over the range's purchases, grouped, merge-joined to the members in id order.
        spend_q = (
            select(purchases.c.member_id.label("mid"), net.label("s"))
            .where(ids.holds(purchases.c.member_id), *in_window)
            .group_by(purchases.c.member_id)
            .subquery()
        )
        return (
            select(*row, func.coalesce(spend_q.c.s, 0).label("spend"))
            .select_from(members.outerjoin(spend_q, spend_q.c.mid == members.c.id))
            .where(*in_range)
            .subquery("spent")
        )
    # SQLite materialised the grouped spend and built an index on it for every range; a look-up
    # per member in the covering (member, time, total, refunds) index is quicker. Materialised,
    # so that the look-up runs once per member rather than once per tier it is compared with.
    per_member = select(net).where(purchases.c.member_id == members.c.id, *in_window).scalar_subquery()
    return (
        select(*row, func.coalesce(per_member, 0).label("spend"))
        .where(*in_range)
        .cte("spent")
        .prefix_with("MATERIALIZED")
    )


def _decide(
    conn: Connection, ids: IdRange, as_of: datetime, window: int, policy: str, grace_days: int
) -> Select[Any]:
    """The members of `ids` whose row changes, as `_MOVE_COLUMNS` plus what the row held when decided.

    `prev_grace` and `prev_locked` let the PostgreSQL writer skip a member whom another transaction
    changed after this decision was taken.
    """
    dt = purchases.c.occurred_at.type
    ladder = sorted(tier_rows(conn), key=lambda t: t.rank)
    spent = _spent(conn, ids, as_of, window)
    # The tiers are a handful of rows read in this transaction: the decisions are CASE expressions.
    rank_of = {t.id: t.rank for t in ladder}
    id_of = {t.rank: t.id for t in ladder}
    cur_rank = case(*[(spent.c.tier_id == i, r) for i, r in rank_of.items()], else_=None)
    # Highest rank whose threshold the spend reaches, else the lowest (as `domain.tiers.tier_for_spend`).
    sup_rank = case(
        *[(spent.c.spend >= t.threshold_minor, t.rank) for t in reversed(ladder)], else_=ladder[0].rank
    )
    locked_until = spent.c.tier_locked_until
    base = (
        select(
            spent.c.id.label("mid"),
            spent.c.tier_id.label("cur_id"),
            spent.c.tier_grace_until.label("grace"),
            locked_until.label("locked_until"),
            cur_rank.label("cur"),
            sup_rank.label("sup"),
            spent.c.spend.label("spend"),
            and_(locked_until.is_not(None), locked_until > as_of).label("locked"),
        )
        # Computed once per member: as a subquery, the planner pasted the rank ladders into every
        # expression below that names them, several times over.
        .cte("base")
        .prefix_with("MATERIALIZED")
    )
    below = and_(base.c.sup < base.c.cur, base.c.locked.is_(False))
    grace_start = and_(below, base.c.grace.is_(None)) if grace_days > 0 else literal(False)
    due = and_(below, base.c.grace.is_not(None), base.c.grace <= as_of) if grace_days > 0 else below
    if policy == "window":
        down_rank: ColumnElement[int] = base.c.sup
    else:  # one step: the next rank below the current one
        down_rank = case(*[(base.c.cur == b.rank, a.rank) for a, b in pairwise(ladder)], else_=None)
    new_rank = case((base.c.sup > base.c.cur, base.c.sup), (due, down_rank), else_=None)
    decided = select(
        base.c.mid,
        base.c.cur_id,
        base.c.cur,
        base.c.grace,
        base.c.locked_until,
        base.c.spend,
        new_rank.label("new_rank"),
        grace_start.label("grace_start"),
        (base.c.sup >= base.c.cur).label("supported"),
    ).subquery()
    moves = and_(decided.c.new_rank.is_not(None), decided.c.new_rank != decided.c.cur)
    started = literal(as_of + timedelta(days=grace_days), dt)
    return select(
        decided.c.mid.label("member_id"),
        decided.c.cur_id.label("from_id"),
        case(*[(and_(moves, decided.c.new_rank == r), i) for r, i in id_of.items()], else_=None).label(
            "to_id"
        ),
        case((and_(moves, decided.c.new_rank > decided.c.cur), 1), else_=0).label("up"),
        decided.c.spend.label("spend"),
        # A move or a supported tier clears the clock; a new shortfall starts it.
        case((and_(decided.c.grace_start, ~moves), started), else_=None).label("grace_until"),
        decided.c.grace.label("prev_grace"),
        decided.c.locked_until.label("prev_locked"),
    ).where(
        or_(
            moves,
            decided.c.grace_start,
            and_(decided.c.supported, decided.c.grace.is_not(None)),
        )
    )


def _counts(moves: Any) -> Select[tuple[int, int, int]]:
    """(upgraded, downgraded, grace clocks started) among `moves` (a table or CTE of `_MOVE_COLUMNS`)."""

    def count(cond: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    return select(
        count(and_(moves.c.to_id.is_not(None), moves.c.up == 1)),
        count(and_(moves.c.to_id.is_not(None), moves.c.up == 0)),
        count(moves.c.grace_until.is_not(None)),
    )


def _history(moves: Any, now: datetime) -> Insert:
    """The history rows of the members among `moves` whose tier changed."""
    return insert(tier_history_t).from_select(
        ["member_id", "from_tier_id", "to_tier_id", "reason", "qualifying_minor", "at"],
        select(
            moves.c.member_id,
            moves.c.from_id,
            moves.c.to_id,
            case((moves.c.up == 1, "evaluation_upgrade"), else_="evaluation_downgrade"),
            moves.c.spend,
            literal(now, purchases.c.occurred_at.type),
        ).where(moves.c.to_id.is_not(None)),
    )


def _member_values(moves: Any, now: datetime) -> dict[str, Any]:
    """A moved member's new tier and grace clock; `updated_at` moves only with the tier."""
    at = literal(now, purchases.c.occurred_at.type)
    return {
        "tier_id": func.coalesce(moves.c.to_id, members.c.tier_id),
        "tier_grace_until": moves.c.grace_until,
        "updated_at": case((moves.c.to_id.is_not(None), at), else_=members.c.updated_at),
    }


def _apply_pg(conn: Connection, ids: IdRange, moves_q: Select[Any], now: datetime) -> tuple[int, int, int]:
    """One statement: rewrite the members still as decided, then their history, from what was rewritten.

    Under READ COMMITTED a member changed by another transaction after the decision (a sale's
    upgrade, a manual lock) is re-read before the UPDATE writes it; the guard on tier, grace clock
    and lock then skips them, and they get no history row, instead of being set back to a tier
    decided on the old row. The next run decides them afresh.
    """
    moves = moves_q.cte("moves").prefix_with("MATERIALIZED")
    written = (
        update(members)
        .values(**_member_values(moves, now))
        .where(
            members.c.id == moves.c.member_id,
            ids.holds(members.c.id),  # lets the planner read only this range's members
            members.c.tier_id == moves.c.from_id,
            members.c.tier_grace_until.is_not_distinct_from(moves.c.prev_grace),
            members.c.tier_locked_until.is_not_distinct_from(moves.c.prev_locked),
        )
        .returning(*[moves.c[c] for c in _MOVE_COLUMNS])
        .cte("written")
    )
    counts = _counts(written).add_cte(_history(written, now).cte("history"))
    up, down, started = conn.execute(counts).one()
    return up, down, started


def _apply_sqlite(
    conn: Connection, ids: IdRange, moves_q: Select[Any], now: datetime
) -> tuple[int, int, int]:
    """Through a scratch table: SQLite has no UPDATE inside WITH. Its writer lock keeps every other
    writer out from the decision to the commit, so no member can change in between."""
    _moves.drop(conn, checkfirst=True)
    _moves.create(conn)
    decided = moves_q.with_only_columns(*moves_q.selected_columns[: len(_MOVE_COLUMNS)])
    conn.execute(insert(_moves).from_select(_MOVE_COLUMNS, decided))
    up, down, started = conn.execute(_counts(_moves)).one()
    conn.execute(_history(_moves, now))
    conn.execute(
        update(members)
        .values(**_member_values(_moves, now))
        .where(members.c.id == _moves.c.member_id, ids.holds(members.c.id))
    )
    _moves.drop(conn)
    return up, down, started
