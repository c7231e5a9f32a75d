"""The core KPIs of a chain, a region or a store, as Ibis expressions over exported sales and members.

Why beside `loyalty.services.kpis`: the services answer the console and the API from the product
database in set-based SQL (SQLAlchemy), bucket by bucket, fast on one database. A chain that keeps years
of receipts in a lake (Parquet) asks the same headline figures of hundreds of millions of rows; written
once in Ibis they run on embedded DuckDB or on a Spark cluster (`loyalty.analytics.backends`), with
the same definitions as the services (`services.kpis.schemas`):

* **members**: active memberships registered by the last day (at the scope's stores, or anywhere for
  the chain), **new members** those registered within the range, growth against those before it;
* **active rate**: members who bought anywhere in the chain in the ``active_days`` days up to the last
  day, against the members;
* **repurchase rate**: members who bought at the scope's stores twice or more in the range, against
  those who bought there at all;
* **member sales share**: members' sales less their refunds, against all sales less all refunds;
* **average ticket**: sales (before refunds) per receipt, in minor units.

The inputs are tables of the engine (exports, one row each): **sales** ``store_id, day, member_id,
total_minor`` (``day`` the store's business day, ``member_id`` null for an anonymous sale), optional
**refunds** ``store_id, day, member_id, refund_minor`` (the day of the return, the member of the sale),
and **members** ``member_id, store_id, joined_day, status``. Sales and refunds partitioned by a
``month`` column (``month=YYYY-MM`` folders) are read only for the months of the range. Money stays
in integer minor units; every figure is an integer sum or count, so both engines give the same
numbers, and the rates are worked out from them in Python as the services do (four decimals, half to
even).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING

from loyalty.analytics.errors import InputError

if TYPE_CHECKING:
    import ibis.expr.types as ir

#: as the services count them (`services.kpis.report.DEFAULT_ACTIVE_DAYS`)
DEFAULT_ACTIVE_DAYS = 90
ACTIVE = "active"
_RATE_PLACES = Decimal("0.0001")

SALES_COLUMNS = ("store_id", "day", "member_id", "total_minor")
REFUND_COLUMNS = ("store_id", "day", "member_id", "refund_minor")
MEMBER_COLUMNS = ("member_id", "store_id", "joined_day", "status")


def _rate(part: int, whole: int) -> Decimal | None:
    """`services.kpis.schemas.rate`: four decimals, half to even; None without a denominator."""
    if whole <= 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(_RATE_PLACES, rounding=ROUND_HALF_EVEN)


def _mean_minor(total: int, count: int) -> int | None:
    """`services.kpis.schemas.mean_minor`: to the minor unit, half to even."""
    if count <= 0:
        return None
    return int((Decimal(total) / Decimal(count)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True)
class KpiTotals:
    """The integer figures of a range (money in minor units), and the rates read off them."""

    members_before: int
    new_members: int
    members: int
    active_members: int
    tickets: int
    member_tickets: int
    sales_minor: int
    member_sales_minor: int
    refunds_minor: int
    member_refunds_minor: int
    buyers: int
    repeat_buyers: int

    @property
    def member_growth_rate(self) -> Decimal | None:
        return _rate(self.new_members, self.members_before)

    @property
    def active_rate(self) -> Decimal | None:
        return _rate(self.active_members, self.members)

    @property
    def repurchase_rate(self) -> Decimal | None:
        return _rate(self.repeat_buyers, self.buyers)

    @property
    def member_sales_share(self) -> Decimal | None:
        return _rate(
            self.member_sales_minor - self.member_refunds_minor, self.sales_minor - self.refunds_minor
        )

    @property
    def average_ticket_minor(self) -> int | None:
        return _mean_minor(self.sales_minor, self.tickets)

    @property
    def member_average_ticket_minor(self) -> int | None:
        return _mean_minor(self.member_sales_minor, self.member_tickets)

    def as_dict(self) -> dict[str, int | str | None]:
        """Every figure and rate (rates as text, to keep their four decimals exact in JSON)."""
        out: dict[str, int | str | None] = dict(vars(self))
        for name in (
            "member_growth_rate",
            "active_rate",
            "repurchase_rate",
            "member_sales_share",
        ):
            value = getattr(self, name)
            out[name] = None if value is None else str(value)
        out["average_ticket_minor"] = self.average_ticket_minor
        out["member_average_ticket_minor"] = self.member_average_ticket_minor
        return out


def _check(table: ir.Table, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(
            f"{what}: missing column(s) {', '.join(missing)} (available: {', '.join(table.columns)})",
            {"missing": missing},
        )


def _in_scope(table: ir.Table, stores: Sequence[int] | None) -> ir.BooleanValue:
    import ibis

    return ibis.literal(True) if stores is None else table.store_id.isin(list(stores))


def _within(table: ir.Table, first: dt.date, last: dt.date) -> list[ir.BooleanValue]:
    """Rows of the business days [first, last]; where the export is partitioned by ``month``
    (``YYYY-MM`` folders, docs/analytics-spark.md) the months too, so an engine reads only theirs."""
    out = [table.day.between(first, last)]
    if "month" in table.columns:
        out.append(table.month.cast("string").between(f"{first:%Y-%m}", f"{last:%Y-%m}"))
    return out


def _sum(value: ir.NumericValue) -> ir.IntegerScalar:
    """An integer sum that is 0, not null, over no rows."""
    return value.cast("int64").sum().fill_null(0)


def sales_figures(sales: ir.Table, start: dt.date, end: dt.date, stores: Sequence[int] | None) -> ir.Table:
    """One row: ``tickets, member_tickets, sales_minor, member_sales_minor`` of the scope's range."""
    import ibis

    s = sales.filter(*_within(sales, start, end), _in_scope(sales, stores))
    member = s.member_id.notnull()
    return s.aggregate(
        tickets=s.count(),
        member_tickets=_sum(ibis.ifelse(member, 1, 0)),
        sales_minor=_sum(s.total_minor),
        member_sales_minor=_sum(ibis.ifelse(member, s.total_minor, 0)),
    )


def refund_figures(refunds: ir.Table, start: dt.date, end: dt.date, stores: Sequence[int] | None) -> ir.Table:
    """One row: ``refunds_minor, member_refunds_minor`` paid by the scope's stores in the range."""
    import ibis

    r = refunds.filter(*_within(refunds, start, end), _in_scope(refunds, stores))
    return r.aggregate(
        refunds_minor=_sum(r.refund_minor),
        member_refunds_minor=_sum(ibis.ifelse(r.member_id.notnull(), r.refund_minor, 0)),
    )


def buyer_figures(sales: ir.Table, start: dt.date, end: dt.date, stores: Sequence[int] | None) -> ir.Table:
    """One row: ``buyers`` (members who bought at the scope's stores in the range) and ``repeat_buyers``
    (those of them with two receipts or more)."""
    import ibis

    s = sales.filter(*_within(sales, start, end), _in_scope(sales, stores), sales.member_id.notnull())
    per = s.group_by("member_id").aggregate(n=s.count())
    return per.aggregate(buyers=per.count(), repeat_buyers=_sum(ibis.ifelse(per.n >= 2, 1, 0)))


def member_figures(
    members: ir.Table,
    sales: ir.Table,
    start: dt.date,
    end: dt.date,
    stores: Sequence[int] | None,
    active_days: int,
) -> ir.Table:
    """One row: ``members_before, new_members, members`` (active memberships of the scope registered
    before the range, in it, by its end) and ``active_members`` (of those at the end, the ones who
    bought anywhere in the chain in the ``active_days`` days up to it)."""
    import ibis

    m = members.filter(members.status == ACTIVE, members.joined_day <= end, _in_scope(members, stores))
    since = end - dt.timedelta(days=active_days - 1)
    recent = sales.filter(*_within(sales, since, end), sales.member_id.notnull())
    bought = recent.select(buyer=recent.member_id).distinct()
    flagged = m.left_join(bought, m.member_id == bought.buyer).select(
        joined_day=m.joined_day, active=bought.buyer.notnull()
    )
    return flagged.aggregate(
        members_before=_sum(ibis.ifelse(flagged.joined_day < start, 1, 0)),
        new_members=_sum(ibis.ifelse(flagged.joined_day >= start, 1, 0)),
        members=flagged.count(),
        active_members=_sum(ibis.ifelse(flagged.active, 1, 0)),
    )


def kpi_expr(
    sales: ir.Table,
    members: ir.Table,
    *,
    start: dt.date,
    end: dt.date,
    refunds: ir.Table | None = None,
    stores: Sequence[int] | None = None,
    active_days: int = DEFAULT_ACTIVE_DAYS,
) -> ir.Table:
    """Every figure of :class:`KpiTotals` as one row: the four one-row aggregates side by side, so an
    engine answers them in one query (one Spark job)."""
    if start > end:
        raise InputError(f"the range starts ({start}) after it ends ({end})")
    if not 1 <= active_days <= 3660:
        raise InputError(f"active_days must be between 1 and 3660, not {active_days}")
    _check(sales, SALES_COLUMNS, "sales")
    _check(members, MEMBER_COLUMNS, "members")
    parts = [
        member_figures(members, sales, start, end, stores, active_days),
        sales_figures(sales, start, end, stores),
        buyer_figures(sales, start, end, stores),
    ]
    if refunds is not None:
        _check(refunds, REFUND_COLUMNS, "refunds")
        parts.append(refund_figures(refunds, start, end, stores))
    out = parts[0]
    for part in parts[1:]:
        out = out.cross_join(part)
    return out


def kpi_totals(
    sales: ir.Table,
    members: ir.Table,
    *,
    start: dt.date,
    end: dt.date,
    refunds: ir.Table | None = None,
    stores: Sequence[int] | None = None,
    active_days: int = DEFAULT_ACTIVE_DAYS,
) -> KpiTotals:
    """The scope's figures over the business days [start, end], run where the tables live."""
    row = (
        kpi_expr(
            sales,
            members,
            start=start,
            end=end,
            refunds=refunds,
            stores=stores,
            active_days=active_days,
        )
        .execute()
        .iloc[0]
    )
    values = {name: int(row[name]) for name in row.index}
    values.setdefault("refunds_minor", 0)
    values.setdefault("member_refunds_minor", 0)
    return KpiTotals(**values)
