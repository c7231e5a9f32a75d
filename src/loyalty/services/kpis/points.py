"""Points redeemed and expired per business day, from the ledger's postings.

Redemptions land on the merchants' `redeemed` accounts and each expiry run on their `expired` ones:
those accounts' postings (by `ix_postings_account`) name the transfers, so neither needs a scan of
the ledger. A redemption counts at the store it was made at; expired points count for the members'
own stores, on the day the expiry run took them (each run's member legs by `ix_postings_transfer`).
Points earned and taken back by returns are read with the sales (`kpis.sales`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import Connection, and_, func, select

from loyalty.db.core_tables import accounts, members, postings, transfers
from loyalty.services.kpis.local_days import as_date
from loyalty.services.kpis.scope import Scope


def accounts_of_kind(conn: Connection, kind: str) -> list[int]:
    """The ids of every merchant's system account of `kind` (`redeemed`, `expired`): a range of the
    merchants' accounts (`uq_accounts_merchant_kind`), not a scan of every member's."""
    found = select(accounts.c.id).where(accounts.c.merchant_id.is_not(None), accounts.c.kind == kind)
    return [int(i) for i in conn.execute(found).scalars()]


def daily_redeemed(conn: Connection, scope: Scope) -> dict[date, int]:
    """Points spent as payment at the scope's stores on each business day (net of any posting that
    took points back off a `redeemed` account)."""
    out: dict[date, int] = defaultdict(int)
    redeemed = accounts_of_kind(conn, "redeemed")
    if not redeemed:
        return {}
    for zone in scope.zones:
        if not zone.store_ids:
            continue
        spent = (
            select(scope.day(postings.c.created_at, zone).label("day"), postings.c.amount)
            .join(transfers, transfers.c.id == postings.c.transfer_id)
            .where(
                postings.c.account_id.in_(redeemed),
                postings.c.created_at >= zone.lo,
                postings.c.created_at < zone.hi,
                transfers.c.store_id.in_(zone.store_ids),
            )
            .subquery()
        )
        for day, points in conn.execute(select(spent.c.day, func.sum(spent.c.amount)).group_by(spent.c.day)):
            out[as_date(day)] += int(points)
    return dict(out)


def daily_expired(conn: Connection, scope: Scope) -> dict[date, int]:
    """Points of the scope's members that expiry runs took on each business day (in the zone of each
    member's store): one pass over the runs' member legs for every zone."""
    out: dict[date, int] = defaultdict(int)
    expired = accounts_of_kind(conn, "expired")
    if not expired:
        return {}
    run = postings.alias("run")
    leg = postings.alias("leg")
    taken = (
        select(scope.by_member_zone(lambda z: scope.day(run.c.created_at, z)).label("day"), leg.c.amount)
        .select_from(
            run.join(leg, and_(leg.c.transfer_id == run.c.transfer_id, leg.c.amount < 0))
            .join(accounts, and_(accounts.c.id == leg.c.account_id, accounts.c.kind == "member"))
            .join(members, members.c.id == accounts.c.member_id)
        )
        .where(
            run.c.account_id.in_(expired),
            run.c.created_at >= min(z.lo for z in scope.zones),
            run.c.created_at < max(z.hi for z in scope.zones),
            scope.members_within(lambda z: and_(run.c.created_at >= z.lo, run.c.created_at < z.hi)),
        )
        .subquery()
    )
    for day, points in conn.execute(select(taken.c.day, -func.sum(taken.c.amount)).group_by(taken.c.day)):
        out[as_date(day)] += int(points)
    return dict(out)
