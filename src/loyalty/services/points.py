"""Points: balance with expiring-soon buckets, statement, redemption, adjustments and the expiry job.

Available points are unspent lots that are past their return window and not yet expired, minus debt.
Spends (redeem, negative adjustment) lock the member account and consume lots soonest-expiring first,
recording each lot used in `lot_allocations`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    MetaData,
    Table,
    bindparam,
    case,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.sql.expression import ColumnElement, ScalarSelect

from loyalty.bootstrap import Context
from loyalty.db.core_tables import (
    accounts,
    members,
    point_lots,
    postings,
    purchases,
    returns,
    transfers,
)
from loyalty.db.ledger_writer import CollectedTransfer, post_transfer
from loyalty.db.prepared import Prepared
from loyalty.domain.actors import SYSTEM, Actor
from loyalty.domain.errors import Conflict, InvalidInput, NotFound
from loyalty.domain.ledger import Lot, allocate_fefo
from loyalty.domain.redemption import redeem_value_minor, within_cap
from loyalty.services import audit, idempotency
from loyalty.services.accounts import (
    Credit,
    LockedAccount,
    apply_allocations,
    credit_points,
    lock_member_account,
    set_account,
)
from loyalty.services.anomalies.suspensions import refuse_if_suspended
from loyalty.services.catalogue import StoreInfo, credit_source, store_info
from loyalty.services.common import member_row, read
from loyalty.services.id_ranges import IdRange, RangeProgress, run_job
from loyalty.services.request_hashes import request_hash
from loyalty.services.schemas import (
    AdjustResult,
    Balance,
    ExpiringBucket,
    ExpiryDate,
    ExpiryResult,
    RedeemResult,
    StatementEntry,
)

BUCKET_DAYS = (30, 60, 90)


def _lot_sums(conn: Connection, account_id: int, now: datetime) -> tuple[int, int]:
    """(spendable lots, pending lots) at `now`; expired-but-unswept lots count as neither."""
    row = conn.execute(
        select(
            func.coalesce(
                func.sum(case((point_lots.c.available_at <= now, point_lots.c.remaining), else_=0)), 0
            ),
            func.coalesce(
                func.sum(case((point_lots.c.available_at > now, point_lots.c.remaining), else_=0)), 0
            ),
        ).where(
            point_lots.c.account_id == account_id, point_lots.c.remaining > 0, point_lots.c.expires_at > now
        )
    ).one()
    return int(row[0]), int(row[1])


def available_in(conn: Connection, member_id: int, now: datetime) -> int:
    """The member's spendable points at `now` (spendable lots less debt, never below 0), in the
    caller's transaction: what `balance(...).available` says."""
    rows = _AVAILABLE.run(conn, {"member_id": member_id, "now": now})
    if not rows:
        raise NotFound("MEMBER_NOT_FOUND", "member {member_id} does not exist", {"member_id": member_id})
    debt, spendable = rows[0]
    return available_points(spendable, debt)


def available_points(spendable: int, debt: int) -> int:
    """Spendable points less debt, never below 0 (`spendable_lots` and the account's debt)."""
    return max(int(spendable) - int(debt), 0)


def spendable_lots(account_id: ColumnElement[Any]) -> ScalarSelect[Any]:
    """The points of the account's lots spendable at the statement's ``now`` parameter, as one
    expression for a statement that reads them beside other things (the quote's, on every scan)."""
    return (
        select(func.coalesce(func.sum(point_lots.c.remaining), 0))
        .where(
            point_lots.c.account_id == account_id,
            point_lots.c.remaining > 0,
            point_lots.c.available_at <= bindparam("now"),
            point_lots.c.expires_at > bindparam("now"),
        )
        .scalar_subquery()
    )


_AVAILABLE = Prepared(
    select(accounts.c.debt, spendable_lots(accounts.c.id)).where(
        accounts.c.member_id == bindparam("member_id")
    )
)


def _available(conn: Connection, acc: LockedAccount, now: datetime) -> int:
    spendable, _ = _lot_sums(conn, acc.id, now)
    return max(spendable - acc.debt, 0)


def _account_id(conn: Connection, member_id: int) -> tuple[int, int, int]:
    row = conn.execute(
        select(accounts.c.id, accounts.c.balance, accounts.c.debt).where(accounts.c.member_id == member_id)
    ).first()
    if row is None:
        raise NotFound("MEMBER_NOT_FOUND", "member {member_id} does not exist", {"member_id": member_id})
    return int(row.id), int(row.balance), int(row.debt)


def balance(ctx: Context, member_id: int, *, as_of: datetime | None = None) -> Balance:
    """Balance (ledger), available, pending and debt, with points expiring within 30/60/90 days and
    the expiry schedule: each business date (programme time zone) with the points expiring on it.

    Both come from one read of the unspent lots grouped by expiry instant; spendable and pending lots
    alike, since a pending lot expires on its date too.
    """
    now = as_of or ctx.now()
    zone = ctx.settings.tz
    with read(ctx) as conn:
        aid, bal, debt = _account_id(conn, member_id)
        spendable, pending = _lot_sums(conn, aid, now)
        due = [
            (expires_at, int(points))
            for expires_at, points in conn.execute(
                select(point_lots.c.expires_at, func.sum(point_lots.c.remaining))
                .where(
                    point_lots.c.account_id == aid,
                    point_lots.c.remaining > 0,
                    point_lots.c.expires_at > now,
                )
                .group_by(point_lots.c.expires_at)
                .order_by(point_lots.c.expires_at)
            )
        ]
    buckets = [
        ExpiringBucket(within_days=days, points=sum(p for at, p in due if at <= now + timedelta(days=days)))
        for days in BUCKET_DAYS
    ]
    by_date: dict[date, int] = {}
    for expires_at, points in due:
        day = expires_at.astimezone(zone).date()
        by_date[day] = by_date.get(day, 0) + points
    return Balance(
        member_id=member_id,
        balance=bal,
        available=max(spendable - debt, 0),
        pending=pending,
        debt=debt,
        expiring_soon=buckets,
        timezone=str(zone.key),
        expiry_schedule=[ExpiryDate(date=d, points=p) for d, p in sorted(by_date.items())],
    )


def statement(ctx: Context, member_id: int, *, limit: int = 1000) -> list[StatementEntry]:
    """Every movement on the member's account, oldest first, with the running balance.

    The balance is spendable points less debt, so a credit that pays off debt moves it from below
    zero: each entry says how much of it went to the debt (`debt_repaid`: the credited lot's
    `debt_paid`) and how much of a return's take-back could not be taken from unspent points and
    became debt (`debt_created`), so −80 followed by +120 reads "80 of these 120 repaid the debt".
    """
    with read(ctx) as conn:
        aid, _, _ = _account_id(conn, member_id)
        rows = conn.execute(
            select(
                transfers.c.id,
                transfers.c.created_at,
                transfers.c.kind,
                postings.c.amount,
                transfers.c.rule,
                transfers.c.reason,
                transfers.c.order_id,
                transfers.c.store_id,
                func.coalesce(returns.c.debt_created, 0).label("debt_created"),
            )
            .join(postings, postings.c.transfer_id == transfers.c.id)
            .outerjoin(returns, returns.c.id == transfers.c.return_id)
            .where(postings.c.account_id == aid)
            .order_by(transfers.c.id)
            .limit(limit)
        ).all()
        # Few credits pay debt: read those of the account's lots (by its index), not one per entry.
        repaid = {
            int(tid): int(paid)
            for tid, paid in conn.execute(
                select(point_lots.c.transfer_id, func.sum(point_lots.c.debt_paid))
                .where(point_lots.c.account_id == aid, point_lots.c.debt_paid > 0)
                .group_by(point_lots.c.transfer_id)
            )
        }
    out: list[StatementEntry] = []
    running = 0
    for r in rows:
        running += r.amount
        out.append(
            StatementEntry(
                transfer_id=r.id,
                at=r.created_at,
                kind=r.kind,
                amount=r.amount,
                balance_after=running,
                debt_repaid=repaid.get(r.id, 0) if r.amount > 0 else 0,
                debt_created=int(r.debt_created) if r.amount < 0 else 0,
                rule=r.rule,
                reason=r.reason,
                order_id=r.order_id,
                store_id=r.store_id,
            )
        )
    return out


def _spend(conn: Connection, acc: LockedAccount, points: int, now: datetime, transfer_id: int) -> None:
    lots = conn.execute(
        select(point_lots.c.id, point_lots.c.remaining)
        .where(
            point_lots.c.account_id == acc.id,
            point_lots.c.remaining > 0,
            point_lots.c.available_at <= now,
            point_lots.c.expires_at > now,
        )
        .order_by(point_lots.c.expires_at, point_lots.c.id)
    ).all()
    allocs, short = allocate_fefo([Lot(r.id, r.remaining) for r in lots], points)
    if short:  # cannot happen after the availability check under the lock; the CHECKs are the backstop
        raise Conflict("POINTS_INSUFFICIENT", "not enough available points")
    apply_allocations(conn, allocs, transfer_id)
    acc.balance -= points
    set_account(conn, acc)


def spend_for_redemption(
    conn: Connection,
    acc: LockedAccount,
    store: StoreInfo,
    points: int,
    now: datetime,
    *,
    rule: str,
    **links: Any,
) -> int:
    """Spend `points` of the locked account at `store` (a `redeem` transfer to the store's merchant's
    redeemed account, lots taken soonest-expiring first); the transfer's id.

    The one debit path of every redemption (points as cash, a reward): POINTS_INSUFFICIENT when the
    available points are short, BELOW_MIN_BALANCE under the programme's minimum. `links` go on the
    transfer (order_id, value_minor, operator, reason). The caller holds the account's lock and has
    refused a suspended member (`refuse_if_suspended`).
    """
    prog = store.programme
    available = _available(conn, acc, now)
    if available < points:
        raise Conflict(
            "POINTS_INSUFFICIENT",
            "{requested} points requested, {available} available",
            {"available": available, "requested": points},
        )
    if available < prog.min_redeem_balance:
        raise Conflict(
            "BELOW_MIN_BALANCE",
            "redeeming needs at least {min_redeem_balance} points",
            {"min_redeem_balance": prog.min_redeem_balance, "available": available},
        )
    tid = post_transfer(
        conn,
        kind="redeem",
        debit_account_id=acc.id,
        credit_account_id=store.redeemed_account_id,
        amount=points,
        at=now,
        rule=rule,
        member_id=acc.member_id,
        store_id=store.id,
        **links,
    )
    _spend(conn, acc, points, now, tid)
    return tid


def redeem(
    ctx: Context,
    member_id: int,
    points: int,
    *,
    store_id: int,
    order_id: str | None = None,
    order_total_minor: int | None = None,
    idempotency_key: str | None = None,
    actor: Actor | None = None,
) -> RedeemResult:
    """Spend points as cash at checkout.

    Raises POINTS_INSUFFICIENT (Conflict) when the available balance is short — never a negative
    balance — REDEEM_CAP_EXCEEDED / BELOW_MIN_BALANCE when the programme's limits forbid it, and
    REDEMPTION_SUSPENDED when a fraud review suspended the member's redemptions (`services.anomalies`).
    Audited as `actor`'s (the system's when None) in the same transaction. With `idempotency_key`
    the key is looked up again once the account is locked, so concurrent uses of one key queue on
    the lock and all but the first replay it.
    """
    if points <= 0:
        raise InvalidInput.field("points", "points must be positive", "POINTS_INVALID")
    body = {
        "member_id": member_id,
        "points": points,
        "store_id": store_id,
        "order_id": order_id,
        "order_total_minor": order_total_minor,
    }
    rhash = request_hash(body)
    scope = f"points.redeem:{member_id}"
    now = ctx.now()
    with ctx.engine.begin() as conn:
        if idempotency_key:
            prior = idempotency.lookup(conn, scope, idempotency_key, rhash)
            if prior is not None:
                return RedeemResult.model_validate({**prior, "replayed": True})
        store = store_info(conn, store_id)
        prog = store.programme
        m = member_row(conn, member_id)
        if m.status != "active":
            raise Conflict(
                "MEMBER_INACTIVE",
                "member {member_id} is not active ({member_status})",
                {"member_id": member_id, "member_status": m.status},
            )
        acc = lock_member_account(conn, member_id)
        if idempotency_key:
            # A concurrent first use of the key (holding the lock until it committed) is seen now.
            prior = idempotency.lookup(conn, scope, idempotency_key, rhash)
            if prior is not None:
                return RedeemResult.model_validate({**prior, "replayed": True})
        refuse_if_suspended(conn, member_id)  # a fraud review's suspension (a replay above still replays)
        value_minor = redeem_value_minor(points, prog.points_per_currency_unit)
        if order_total_minor is not None and not within_cap(
            value_minor, order_total_minor, prog.redeem_cap_pct
        ):
            from loyalty.i18n.formats import Amount  # Babel only when the message needs it

            raise Conflict(
                "REDEEM_CAP_EXCEEDED",
                "points may pay at most {redeem_cap_pct}% of the order ({max_value})",
                {
                    "max_value": Amount(order_total_minor * prog.redeem_cap_pct // 100, prog.currency),
                    "redeem_cap_pct": prog.redeem_cap_pct,
                },
            )
        tid = spend_for_redemption(
            conn,
            acc,
            store,
            points,
            now,
            rule=f"redeem:{prog.points_per_currency_unit}pts/unit",
            order_id=order_id,
            value_minor=value_minor,
            operator=actor.id if actor else None,
        )
        result = RedeemResult(
            transfer_id=tid,
            member_id=member_id,
            points=points,
            value_minor=value_minor,
            balance_after=acc.balance,
        )
        audit.record(
            conn,
            actor or SYSTEM,
            "points.redeem",
            "member",
            member_id,
            None,
            {
                "points": points,
                "value_minor": value_minor,
                "store_id": store_id,
                "order_id": order_id,
                "transfer_id": tid,
            },
            at=now,
        )
        if idempotency_key:
            idempotency.store(conn, scope, idempotency_key, rhash, result.model_dump(mode="json"), now)
    return result


def adjust(
    ctx: Context,
    member_id: int,
    points: int,
    *,
    reason: str,
    operator: str,
    store_id: int | None = None,
    idempotency_key: str | None = None,
    actor: Actor | None = None,
) -> AdjustResult:
    """Manual correction with reason and operator; positive adds a lot, negative spends FEFO."""
    if points == 0:
        raise InvalidInput.field("points", "an adjustment must not be zero", "POINTS_INVALID")
    if not reason.strip():
        raise InvalidInput.field("reason", "an adjustment needs a reason", "REASON_REQUIRED")
    rhash = request_hash({"member_id": member_id, "points": points, "reason": reason, "operator": operator})
    scope = f"points.adjust:{member_id}"
    now = ctx.now()
    with ctx.engine.begin() as conn:
        if idempotency_key:
            prior = idempotency.lookup(conn, scope, idempotency_key, rhash)
            if prior is not None:
                return AdjustResult.model_validate({**prior, "replayed": True})
        m = member_row(conn, member_id)
        if m.status == "merged":
            raise Conflict(
                "MEMBER_MERGED",
                "member {member_id} was merged into {merged_into_id}",
                {"member_id": member_id, "merged_into_id": m.merged_into_id},
            )
        source = credit_source(conn, store_id, ctx.settings.timezone)
        liability, merchant_id, prog = source.liability_account_id, source.merchant_id, source.programme
        acc = lock_member_account(conn, member_id)
        if idempotency_key:  # as for a redemption: a concurrent first use of the key is seen now
            prior = idempotency.lookup(conn, scope, idempotency_key, rhash)
            if prior is not None:
                return AdjustResult.model_validate({**prior, "replayed": True})
        rule = "adjust:manual"
        if points > 0:
            expires = now + timedelta(days=prog.expiry_days)
            credit = Credit("adjust", rule, points, liability, merchant_id, now, expires)
            tid = credit_points(conn, acc, credit, now, reason=reason, operator=operator, store_id=store_id)
        else:
            need = -points
            available = _available(conn, acc, now)
            if available < need:
                raise Conflict(
                    "POINTS_INSUFFICIENT",
                    "cannot remove {requested} points, {available} available",
                    {"available": available, "requested": need},
                )
            tid = post_transfer(
                conn,
                kind="adjust",
                debit_account_id=acc.id,
                credit_account_id=liability,
                amount=need,
                at=now,
                rule=rule,
                member_id=member_id,
                reason=reason,
                operator=operator,
                store_id=store_id,
            )
            _spend(conn, acc, need, now, tid)
        result = AdjustResult(transfer_id=tid, member_id=member_id, points=points, balance_after=acc.balance)
        audit.record(
            conn,
            actor or SYSTEM,
            "points.adjust",
            "member",
            member_id,
            None,
            {"points": points, "reason": reason, "operator": operator, "transfer_id": tid},
            at=now,
        )
        if idempotency_key:
            idempotency.store(conn, scope, idempotency_key, rhash, result.model_dump(mode="json"), now)
    return result


def expire_points(
    ctx: Context,
    as_of: datetime | None = None,
    *,
    range_size: int | None = None,
    workers: int | None = None,
    progress: RangeProgress | None = None,
) -> ExpiryResult:
    """Expire every lot with `expires_at <= as_of` and points left, in a handful of set-based statements.

    The member accounts are cut into id ranges of `range_size` (default: the `job_range_size`
    setting), each expired in its own transaction, `workers` ranges at once on PostgreSQL (see
    `services.id_ranges`). A range's run is one transfer per merchant (kind 'expire', credited to the
    merchant's 'expired' account, no single debit account) with one posting per member account
    (minus that account's expired points) and one on the 'expired' account (plus the total), so it
    sums to zero; every lot it empties names that transfer and the points it took
    (`expired_transfer_id`, `expired_points`), so each posting is explained lot by lot and a lot can
    expire only once.
    PostgreSQL runs each range at REPEATABLE READ, so a spend touching the same lot concurrently makes
    one side fail and retry instead of both succeeding; SQLite's BEGIN IMMEDIATE serialises it with
    all writers. `progress` hears of each range as it commits (a job's progress bar: `services.jobs`).
    """
    as_of = as_of or ctx.now()
    now = ctx.now()

    def expire_range(ids: IdRange) -> ExpiryResult:
        for attempt in range(5):
            try:
                return _expire(ctx, ids, as_of, now)
            except Exception as exc:  # serialization failure or deadlock on PostgreSQL: retry a few times
                msg = str(exc).lower()
                if (
                    ctx.engine.dialect.name == "sqlite"
                    or attempt == 4
                    or not ("serializ" in msg or "deadlock" in msg)
                ):
                    raise
        raise AssertionError("unreachable")

    done = run_job(
        ctx, accounts.c.id, expire_range, range_size=range_size, workers=workers, progress=progress
    )
    return ExpiryResult(
        lots_expired=sum(d.lots_expired for d in done), points_expired=sum(d.points_expired for d in done)
    )


# The due lots of one run, staged in a temporary table: private to the job's connection and never
# written to the WAL on PostgreSQL.
_due = Table(
    "expiry_due",
    MetaData(),
    Column("lot_id", BigInteger),
    Column("account_id", BigInteger),
    Column("merchant_id", BigInteger),
    Column("points", BigInteger),
)


def _scratch(conn: Connection, pg: bool) -> None:
    on_commit = " ON COMMIT DROP" if pg else ""
    conn.execute(text(f"DROP TABLE IF EXISTS {_due.name}"))
    cols = ", ".join(f"{c.name} BIGINT" for c in _due.c)
    conn.execute(text(f"CREATE TEMPORARY TABLE {_due.name} ({cols}){on_commit}"))


def _expire(ctx: Context, ids: IdRange, as_of: datetime, now: datetime) -> ExpiryResult:
    eng = ctx.engine
    pg = eng.dialect.name == "postgresql"
    if pg:
        eng = eng.execution_options(isolation_level="REPEATABLE READ")
    with eng.begin() as conn:
        return _expire_in(conn, ids, as_of, now)


#: PostgreSQL advisory lock class of expiry ranges: two runs over the same range queue up
_EXPIRY_LOCK = 7001

#: each merchant's 'expired' account, read from the merchants' (merchant, kind) key: `kind` alone would
#: scan every member's account, in every range of the run
EXPIRED_ACCOUNTS = select(accounts.c.merchant_id, accounts.c.id).where(
    accounts.c.merchant_id.is_not(None), accounts.c.kind == "expired"
)


def _expire_in(conn: Connection, ids: IdRange, as_of: datetime, now: datetime) -> ExpiryResult:
    pg = conn.dialect.name == "postgresql"
    if pg:
        # The lock's key is an int4; two ranges folded onto one key only queue up needlessly.
        lock = text("SELECT pg_advisory_xact_lock(:cls, :key)")
        conn.execute(lock, {"cls": _EXPIRY_LOCK, "key": ids.number % 2**31})
        # This transaction only: hash aggregates over 10^6 rows in memory, and no JIT (compiling
        # these simple statements costs more than it saves).
        conn.execute(text("SET LOCAL work_mem = '64MB'"))
        conn.execute(text("SET LOCAL jit = off"))
    _scratch(conn, pg)
    conn.execute(
        insert(_due).from_select(
            ["lot_id", "account_id", "merchant_id", "points"],
            select(
                point_lots.c.id, point_lots.c.account_id, point_lots.c.merchant_id, point_lots.c.remaining
            ).where(
                ids.holds(point_lots.c.account_id),
                point_lots.c.expires_at <= as_of,
                point_lots.c.remaining > 0,
            ),
        )
    )
    expired_accounts = {int(merchant): int(account) for merchant, account in conn.execute(EXPIRED_ACCOUNTS)}
    # One run transfer per merchant: its legs are the due lots, debited per member account.
    legs = select(
        _due.c.merchant_id.label("group_key"), _due.c.account_id, _due.c.points.label("amount")
    ).subquery()
    run = CollectedTransfer.open(
        conn,
        kind="expire",
        rule="expiry:run",
        at=now,
        legs=legs,
        credit_accounts=expired_accounts,
        describe=lambda lots: f"{lots} lots expiring on or before {as_of.isoformat()}",
    )
    if run.groups:
        if pg:
            # Temporary tables have no statistics until analysed: without them the planner guessed a
            # few hundred due lots and looped over an index per account, twice as slow as a hash join.
            conn.execute(text(f"ANALYZE {_due.name}"))
        _expire_lots(conn, ids, run)
    return ExpiryResult(
        lots_expired=sum(g.legs for g in run.groups), points_expired=sum(g.amount for g in run.groups)
    )


def _expire_lots(conn: Connection, ids: IdRange, run: CollectedTransfer) -> None:
    """Move the balances, post each member leg, and empty the staged lots, each naming its run.

    Member accounts first, then lots: the order every spend takes its locks in, so a spend and a run
    touching the same member queue up (or one retries) instead of deadlocking.
    """
    per_acc = (
        select(_due.c.account_id.label("aid"), func.sum(_due.c.points).label("s"))
        .group_by(_due.c.account_id)
        .subquery()
    )
    conn.execute(
        update(accounts)
        .values(balance=accounts.c.balance - per_acc.c.s)
        # The range bound lets the planner read only this range's accounts, not all of them.
        .where(accounts.c.id == per_acc.c.aid, ids.holds(accounts.c.id))
    )
    run.close(conn)
    runs = CollectedTransfer.runs
    conn.execute(
        update(point_lots)
        .values(remaining=0, expired_transfer_id=runs.c.transfer_id, expired_points=_due.c.points)
        .where(
            point_lots.c.id == _due.c.lot_id,
            runs.c.group_key == _due.c.merchant_id,
            ids.holds(point_lots.c.account_id),  # as for the accounts: only this range's lots
        )
    )


def verify_ledger(ctx: Context) -> dict[str, Any]:
    """Check the ledger invariants (used by `loyalty ledger verify`): {"ok", "problems", "members"}."""
    problems: list[str] = []
    with read(ctx) as conn:
        total = conn.execute(select(func.coalesce(func.sum(postings.c.amount), 0))).scalar_one()
        if total != 0:
            problems.append(f"postings sum to {total}, not 0")
        bad_transfers = (
            conn.execute(
                select(postings.c.transfer_id)
                .group_by(postings.c.transfer_id)
                .having(func.sum(postings.c.amount) != 0)
                .limit(10)
            )
            .scalars()
            .all()
        )
        if bad_transfers:
            problems.append(f"transfers not balanced: {list(bad_transfers)}")
        sums = (
            select(postings.c.account_id, func.sum(postings.c.amount).label("s"))
            .group_by(postings.c.account_id)
            .subquery()
        )
        cached = conn.execute(
            select(accounts.c.id, accounts.c.balance, func.coalesce(sums.c.s, 0))
            .select_from(accounts.outerjoin(sums, sums.c.account_id == accounts.c.id))
            .where(accounts.c.kind == "member", accounts.c.balance != func.coalesce(sums.c.s, 0))
            .limit(10)
        ).all()
        for r in cached:
            problems.append(f"account {r[0]}: cached balance {r[1]} != postings {r[2]}")
        lots = (
            select(point_lots.c.account_id, func.sum(point_lots.c.remaining).label("r"))
            .group_by(point_lots.c.account_id)
            .subquery()
        )
        mism = conn.execute(
            select(accounts.c.id, accounts.c.balance, accounts.c.debt, func.coalesce(lots.c.r, 0))
            .select_from(accounts.outerjoin(lots, lots.c.account_id == accounts.c.id))
            .where(
                accounts.c.kind == "member",
                accounts.c.balance != func.coalesce(lots.c.r, 0) - accounts.c.debt,
            )
            .limit(10)
        ).all()
        for r in mism:
            problems.append(f"account {r[0]}: balance {r[1]} != unspent lots {r[3]} - debt {r[2]}")
        neg = conn.execute(
            select(func.count()).select_from(point_lots).where(point_lots.c.remaining < 0)
        ).scalar_one()
        if neg:
            problems.append(f"{neg} lots below zero")
        # Every expiry transfer is explained by the lots that name it (lots may have moved to another
        # account by a merge since, so the check is per transfer, not per leg).
        explained = func.coalesce(func.sum(point_lots.c.expired_points), 0)
        unexplained = conn.execute(
            select(transfers.c.id, transfers.c.amount, explained)
            .select_from(transfers.outerjoin(point_lots, point_lots.c.expired_transfer_id == transfers.c.id))
            .where(transfers.c.kind == "expire")
            .group_by(transfers.c.id, transfers.c.amount)
            .having(transfers.c.amount != explained)
            .limit(10)
        ).all()
        for r in unexplained:
            problems.append(f"expiry transfer {r[0]}: {r[1]} points but its lots explain {r[2]}")
        dup = (
            conn.execute(
                select(transfers.c.purchase_id)
                .where(transfers.c.kind == "earn")
                .group_by(transfers.c.purchase_id)
                .having(func.count() > 1)
                .limit(10)
            )
            .scalars()
            .all()
        )
        if dup:
            problems.append(f"purchases earned twice: {list(dup)}")
        over = conn.execute(
            select(func.count())
            .select_from(purchases)
            .where(purchases.c.points_reversed > purchases.c.points_earned)
        ).scalar_one()
        if over:
            problems.append(f"{over} purchases reversed more than earned")
        n_members = conn.execute(select(func.count()).select_from(members)).scalar_one()
    return {"ok": not problems, "problems": problems, "members": int(n_members)}


__all__ = [
    "adjust",
    "balance",
    "expire_points",
    "redeem",
    "spend_for_redemption",
    "statement",
    "verify_ledger",
]
