"""KPIs by staff: what each cashier rang and signed up at a store (or several, or the chain) over a
range of business days.

Who rang a sale is its `staff` code (the till's, an import file's, or the username of the staff account
that posted it, `domain.staff`), who signed a member up their `registered_by`. Per staff code:

* sales: the receipts they rang at the scope's stores on the range's business days (each store's own),
  anonymous ones included; a receipt is a member's when it names a member (a claimed one included);
* refunds: returns taken back at the scope's stores on the range's days, against receipts they rang
  (the store's KPIs' rule: at the store that took the return, on its day), so net sales are sales
  less refunds, and every staff row (with the one of nobody named) adds up to the store's figures;
* new members: the scope's active members they signed up on the range's days;
* coupons used at their sales (those given back by a full return left out) and what they took off;
* points redeemed: points spent as payment at the scope's stores on the range's days, by
  redemptions naming an order they rang;
* satisfaction: members' ratings of the sales they rang in the range (`kpis.satisfaction`), the
  response rate against their members' receipts.

Sales, sign-ups and redemptions that name nobody (or no order) make one row of their own, `staff`
None, listed last. Money in minor units; rates as `kpis.schemas.rate`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, select

from loyalty.bootstrap import Context
from loyalty.db.core_tables import members, postings, purchases, returns, transfers
from loyalty.db.offer_tables import coupon_uses
from loyalty.domain.errors import InvalidInput, NotFound
from loyalty.services.common import read
from loyalty.services.kpis.members import ACTIVE
from loyalty.services.kpis.periods import CODE, EARLIEST, Calendar, check_order, range_end, today_in
from loyalty.services.kpis.points import accounts_of_kind
from loyalty.services.kpis.report import report_currency
from loyalty.services.kpis.satisfaction import Ratings, staff_ratings
from loyalty.services.kpis.schemas import StaffFigures, StaffReport, mean_minor, rate
from loyalty.services.kpis.scope import Scope, make_scope, store_refs

#: the longest range of the KPIs by staff, in days (five years, as a monthly KPI report's)
MAX_DAYS = 1_830
#: the range shown when no `from` is given, in days up to `to`
DEFAULT_DAYS = 30


def _days(start: date | None, end: date | None, today: date) -> Calendar:
    """The business days [start, end], checked as a KPI report's range is (`periods.calendar`, the
    same errors) but as one stretch without buckets, so up to `MAX_DAYS` days long."""
    last = range_end(start, end, today)
    first = max(last - timedelta(days=DEFAULT_DAYS - 1), EARLIEST) if start is None else start
    check_order(first, last)
    days = (last - first).days + 1
    if days > MAX_DAYS:
        raise InvalidInput.field(
            "from",
            "the range holds {count} days; at most {max} are allowed",
            CODE,
            {"count": days, "max": MAX_DAYS},
        )
    return Calendar("day", first, last)


@dataclass
class _Tally:
    """One staff code's sums over the range."""

    tickets: int = 0
    member_tickets: int = 0
    sales_minor: int = 0
    member_sales_minor: int = 0
    refunds_minor: int = 0
    member_refunds_minor: int = 0
    new_members: int = 0
    coupons_used: int = 0
    coupon_discount_minor: int = 0
    points_redeemed: int = 0
    ratings: Ratings = field(default_factory=Ratings)

    def figures(self, staff: str | None) -> StaffFigures:
        net = self.sales_minor - self.refunds_minor
        member_net = self.member_sales_minor - self.member_refunds_minor
        return StaffFigures(
            staff=staff,
            tickets=self.tickets,
            member_tickets=self.member_tickets,
            sales_minor=self.sales_minor,
            member_sales_minor=self.member_sales_minor,
            refunds_minor=self.refunds_minor,
            member_refunds_minor=self.member_refunds_minor,
            net_sales_minor=net,
            member_net_sales_minor=member_net,
            member_sales_share=rate(member_net, net),
            average_ticket_minor=mean_minor(self.sales_minor, self.tickets),
            new_members=self.new_members,
            coupons_used=self.coupons_used,
            coupon_discount_minor=self.coupon_discount_minor,
            points_redeemed=self.points_redeemed,
            satisfaction=self.ratings.figures(self.member_tickets),
        )


def staff_kpis(
    ctx: Context,
    store_ids: Sequence[int] | None = None,
    *,
    start: date | None = None,
    end: date | None = None,
) -> StaffReport:
    """Each staff code's figures at `store_ids` (None: every store, and sign-ups at no store) over the
    business days [start, end]: one store's days in its zone; several stores' each on its own days,
    the dates in the programme's zone. `end` defaults to today, `start` to 29 days before it (30
    days); STORE_NOT_FOUND for an unknown store, KPI_QUERY_INVALID naming a bad `from` or `to`
    (after today, `from` after `to`, more than `MAX_DAYS` days)."""
    with read(ctx) as conn:
        every = store_refs(conn)
        chosen = every
        if store_ids is not None:
            known = {s.id: s for s in every}
            for store_id in store_ids:
                if store_id not in known:
                    raise NotFound(
                        "STORE_NOT_FOUND", "store {store_id} does not exist", {"store_id": store_id}
                    )
            chosen = [known[i] for i in sorted(set(store_ids))]
        store = chosen[0] if store_ids is not None and len(chosen) == 1 else None
        zone = store.timezone if store is not None else ctx.settings.timezone
        now = ctx.now()
        cal = _days(start, end, today_in(zone, now))
        scope = make_scope(chosen, store, cal, zone, conn.dialect.name, chain=store_ids is None)
        tally: dict[str | None, _Tally] = defaultdict(_Tally)
        _receipts(conn, scope, tally)
        _refunds(conn, scope, tally)
        _sign_ups(conn, scope, tally)
        _coupons(conn, scope, tally)
        _redeemed(conn, scope, tally)
        for code, rated in staff_ratings(conn, scope).items():
            tally[code].ratings.add(rated)
        currency = report_currency(conn, ctx)
    rows = [t.figures(code) for code, t in tally.items()]
    rows.sort(key=lambda f: (f.staff is None, -f.net_sales_minor, -f.new_members, f.staff or ""))
    return StaffReport(
        store=store,
        store_ids=None if store_ids is None else [s.id for s in chosen],
        start=cal.first,
        end=cal.last,
        timezone=zone,
        currency=currency,
        as_of=now,
        staff=rows,
    )


def _receipts(conn: Connection, scope: Scope, tally: dict[str | None, _Tally]) -> None:
    """Receipts per staff code: each zone's stores over its stretch (`ix_purchases_store_occurred`)."""
    member = purchases.c.member_id.is_not(None)
    for zone in scope.zones:
        if not zone.store_ids:
            continue
        rows = conn.execute(
            select(
                purchases.c.staff,
                func.count(),
                func.count(purchases.c.member_id),
                func.coalesce(func.sum(purchases.c.total_minor), 0),
                func.coalesce(func.sum(purchases.c.total_minor).filter(member), 0),
            )
            .where(*_sold_in(zone))
            .group_by(purchases.c.staff)
        )
        for staff, tickets, member_tickets, total, member_total in rows:
            t = tally[staff]
            t.tickets += int(tickets)
            t.member_tickets += int(member_tickets)
            t.sales_minor += int(total)
            t.member_sales_minor += int(member_total)


def _sold_in(zone: Any) -> list[Any]:
    return [
        purchases.c.store_id.in_(zone.store_ids),
        purchases.c.occurred_at >= zone.lo,
        purchases.c.occurred_at < zone.hi,
    ]


def _refunds(conn: Connection, scope: Scope, tally: dict[str | None, _Tally]) -> None:
    """Refunds the scope's stores paid on the range's days, per staff code of the sale refunded."""
    member = purchases.c.member_id.is_not(None)
    for zone in scope.zones:
        if not zone.store_ids:
            continue
        rows = conn.execute(
            select(
                purchases.c.staff,
                func.sum(returns.c.refund_minor),
                func.coalesce(func.sum(returns.c.refund_minor).filter(member), 0),
            )
            .select_from(returns.join(purchases, purchases.c.id == returns.c.purchase_id))
            .where(
                returns.c.store_id.in_(zone.store_ids),
                returns.c.occurred_at >= zone.lo,
                returns.c.occurred_at < zone.hi,
            )
            .group_by(purchases.c.staff)
        )
        for staff, refunds, member_refunds in rows:
            t = tally[staff]
            t.refunds_minor += int(refunds)
            t.member_refunds_minor += int(member_refunds)


def _sign_ups(conn: Connection, scope: Scope, tally: dict[str | None, _Tally]) -> None:
    """The scope's members (active ones, as the store's KPIs count them) signed up on the range's
    days, per who signed them up."""
    for zone in scope.zones:
        rows = conn.execute(
            select(members.c.registered_by, func.count())
            .where(
                scope.members_of(zone),
                members.c.status == ACTIVE,
                members.c.created_at >= zone.lo,
                members.c.created_at < zone.hi,
            )
            .group_by(members.c.registered_by)
        )
        for staff, count in rows:
            tally[staff].new_members += int(count)


def _coupons(conn: Connection, scope: Scope, tally: dict[str | None, _Tally]) -> None:
    """Coupons the range's sales used (not given back by a full return), per staff code of the sale."""
    for zone in scope.zones:
        if not zone.store_ids:
            continue
        rows = conn.execute(
            select(purchases.c.staff, func.count(), func.sum(coupon_uses.c.discount_minor))
            .select_from(coupon_uses.join(purchases, purchases.c.id == coupon_uses.c.purchase_id))
            .where(*_sold_in(zone), coupon_uses.c.released_at.is_(None))
            .group_by(purchases.c.staff)
        )
        for staff, used, off in rows:
            t = tally[staff]
            t.coupons_used += int(used)
            t.coupon_discount_minor += int(off or 0)


def _redeemed(conn: Connection, scope: Scope, tally: dict[str | None, _Tally]) -> None:
    """Points spent as payment at the scope's stores on the range's days (the merchants' `redeemed`
    accounts' postings, as the store's KPIs read them), per staff code of the order each redemption
    names (none: the row of nobody named)."""
    redeemed = accounts_of_kind(conn, "redeemed")
    if not redeemed:
        return
    sale = and_(purchases.c.store_id == transfers.c.store_id, purchases.c.order_id == transfers.c.order_id)
    for zone in scope.zones:
        if not zone.store_ids:
            continue
        rows = conn.execute(
            select(purchases.c.staff, func.sum(postings.c.amount))
            .select_from(
                postings.join(transfers, transfers.c.id == postings.c.transfer_id).outerjoin(purchases, sale)
            )
            .where(
                postings.c.account_id.in_(redeemed),
                postings.c.created_at >= zone.lo,
                postings.c.created_at < zone.hi,
                transfers.c.store_id.in_(zone.store_ids),
            )
            .group_by(purchases.c.staff)
        )
        for staff, points in rows:
            tally[staff].points_redeemed += int(points)
