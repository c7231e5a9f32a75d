"""A member's purchase history: their receipts newest first, each with its store, business date,
total, points, channel, the returns made against it and, on request, its lines.

For the member's own app (`/me/purchases`) and the staff who serve them (`/members/{id}/purchases`,
`loyalty members purchases`); store staff pass their stores and see only the receipts of those.
Keyset-paginated on (time of sale, id), which the purchases-by-member index serves, so a page costs the
same at the first receipt and the thousandth. One read per page: the receipts with their stores, then
the page's returns and lines by purchase id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, and_, func, or_, select

from loyalty.bootstrap import Context
from loyalty.db.core_tables import members, purchase_lines, purchases, returns, stores, tiers
from loyalty.domain import cursors
from loyalty.domain.errors import InvalidInput, NotFound
from loyalty.services.common import read
from loyalty.services.purchases import SALE_COLUMNS

MAX_LIMIT = 200


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LineRecord(_Model):
    line_no: int
    sku: str
    category: str | None
    quantity: int
    unit_price_minor: int
    discount_minor: int
    amount_minor: int
    points: int
    returned_quantity: int
    brand: str | None = None


class ReturnRecord(_Model):
    id: int
    return_id: str
    store_id: int
    occurred_at: datetime
    refund_minor: int
    points_reversed: int
    debt_created: int


class PurchaseRecord(_Model):
    """One receipt as its member's history shows it; `lines` is None unless asked for."""

    id: int
    member_id: int
    store_id: int
    store_code: str
    store_name: str
    store_timezone: str
    order_id: str
    channel: str
    occurred_at: datetime
    #: the day of the sale in its store's time zone
    business_date: date
    currency: str
    total_minor: int
    refunded_minor: int
    points_earned: int
    points_reversed: int
    claimed_at: datetime | None
    #: the member's tier as the sale (or its claim) left it, and the tier it upgraded them to
    tier_code: str
    upgraded_to: str | None
    returns: list[ReturnRecord]
    lines: list[LineRecord] | None


class PurchasePage(_Model):
    items: list[PurchaseRecord]
    next_cursor: str | None


def member_purchases(
    ctx: Context,
    member_id: int,
    *,
    store_ids: Sequence[int] | None = None,
    cursor: str | None = None,
    limit: int = 50,
    lines: bool = False,
) -> PurchasePage:
    """The member's receipts, newest first (at `store_ids` only, when given); MEMBER_NOT_FOUND when
    there is no such member, FILTER_INVALID for a cursor this listing did not hand out or a bad limit."""
    after = _parse_cursor(cursor)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput.field(
            "limit", "limit must be between 1 and {max}", "FILTER_INVALID", {"max": MAX_LIMIT}
        )
    with read(ctx) as conn:
        _require_member(conn, member_id)
        stmt = _receipts().where(purchases.c.member_id == member_id)
        if store_ids is not None:
            stmt = stmt.where(purchases.c.store_id.in_(list(store_ids)))
        if after is not None:
            at, pid = after
            stmt = stmt.where(
                or_(
                    purchases.c.occurred_at < at,
                    and_(purchases.c.occurred_at == at, purchases.c.id < pid),
                )
            )
        rows = conn.execute(
            stmt.order_by(purchases.c.occurred_at.desc(), purchases.c.id.desc()).limit(limit + 1)
        ).all()
        page = rows[:limit]
        items = _records(conn, page, lines)
    more = len(rows) > limit
    return PurchasePage(items=items, next_cursor=_cursor(items[-1]) if more and items else None)


def member_purchase(ctx: Context, member_id: int, purchase_id: int) -> PurchaseRecord:
    """One of the member's receipts with its lines; PURCHASE_NOT_FOUND when it is not theirs."""
    with read(ctx) as conn:
        row = conn.execute(
            _receipts().where(purchases.c.id == purchase_id, purchases.c.member_id == member_id)
        ).first()
        if row is None:
            raise NotFound(
                "PURCHASE_NOT_FOUND",
                "member {member_id} has no purchase {purchase_id}",
                {"member_id": member_id, "purchase_id": purchase_id},
            )
        return _records(conn, [row], True)[0]


def _receipts() -> Any:
    # A sale posted before core_0013 that kept no tier is shown with the member's tier now.
    tier_now = (
        select(tiers.c.code)
        .join(members, members.c.tier_id == tiers.c.id)
        .where(members.c.id == purchases.c.member_id)
        .scalar_subquery()
    )
    return select(
        *SALE_COLUMNS,
        stores.c.code.label("store_code"),
        stores.c.name.label("store_name"),
        stores.c.timezone.label("store_timezone"),
        func.coalesce(purchases.c.tier_code, tier_now).label("tier_code"),
        purchases.c.upgraded_to,
    ).join(stores, stores.c.id == purchases.c.store_id)


def _require_member(conn: Connection, member_id: int) -> None:
    if conn.execute(select(members.c.id).where(members.c.id == member_id)).first() is None:
        raise NotFound("MEMBER_NOT_FOUND", "member {member_id} does not exist", {"member_id": member_id})


def _records(conn: Connection, rows: Sequence[Any], with_lines: bool) -> list[PurchaseRecord]:
    ids = [int(r.id) for r in rows]
    returned: dict[int, list[ReturnRecord]] = {i: [] for i in ids}
    if ids:
        for r in conn.execute(
            select(returns)
            .where(returns.c.purchase_id.in_(ids))
            .order_by(returns.c.occurred_at, returns.c.id)
        ):
            returned[int(r.purchase_id)].append(
                ReturnRecord(
                    id=r.id,
                    return_id=r.return_id,
                    store_id=r.store_id,
                    occurred_at=r.occurred_at,
                    refund_minor=r.refund_minor,
                    points_reversed=r.points_reversed,
                    debt_created=r.debt_created,
                )
            )
    line_rows: dict[int, list[LineRecord]] | None = None
    if with_lines:
        line_rows = {i: [] for i in ids}
        if ids:
            for ln in conn.execute(
                select(purchase_lines)
                .where(purchase_lines.c.purchase_id.in_(ids))
                .order_by(purchase_lines.c.purchase_id, purchase_lines.c.line_no)
            ):
                line_rows[int(ln.purchase_id)].append(
                    LineRecord.model_validate({k: ln._mapping[k] for k in LineRecord.model_fields})
                )
    return [
        PurchaseRecord(
            **r._asdict(),
            business_date=r.occurred_at.astimezone(_zone(r.store_timezone)).date(),
            returns=returned[int(r.id)],
            lines=line_rows[int(r.id)] if line_rows is not None else None,
        )
        for r in rows
    ]


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _cursor(last: PurchaseRecord) -> str:
    """Where the next page starts: after this receipt's (time of sale, id)."""
    return cursors.time_id_cursor(last.occurred_at, last.id)


def _parse_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    return cursors.after_time_id(cursor)
