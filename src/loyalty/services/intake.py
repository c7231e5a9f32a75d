"""What a live sale, return, redemption or claim must satisfy beyond its shape before it is posted.

Its money is in the programme's currency: a sale in USD on a CNY programme would earn as if the
amounts were yuan, so any other currency is refused (CURRENCY_MISMATCH naming the field), never
converted silently. Its time is plausible for a till: at most `LOYALTY_CLOCK_SKEW_SECONDS` ahead of
the server's clock (a till's clock that runs fast) and at most `LOYALTY_BACKDATE_DAYS` behind it (a
till that was offline); a sale dated a year ahead would otherwise earn points and move tiers now.
Older history comes in by import, which refuses only the future (`imports.validate`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from loyalty.bootstrap import Context
from loyalty.db.core_tables import purchases, returns, stores
from loyalty.domain.errors import InvalidInput, NotFound
from loyalty.services.catalogue import store_of
from loyalty.services.common import read

_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def programme_currency(ctx: Context, store_id: int) -> str:
    """The currency of the programme `store_id` belongs to (STORE_NOT_FOUND when there is no such store)."""
    return store_of(ctx, store_id).programme.currency


def currency_mismatch(field: str, currency: str, expected: str) -> InvalidInput:
    """CURRENCY_MISMATCH naming `field`, saying which currency the programme uses."""
    return InvalidInput.field(
        field,
        "the programme's currency is {expected}, not {currency}",
        "CURRENCY_MISMATCH",
        {"currency": currency, "expected": expected},
    )


def check_currency(ctx: Context, store_id: int, currency: str | None, field: str = "currency") -> str:
    """The programme's currency at `store_id`; CURRENCY_MISMATCH when `currency` (given) is another."""
    expected = programme_currency(ctx, store_id)
    if currency is not None and currency.upper() != expected:
        raise currency_mismatch(field, currency, expected)
    return expected


def accepted_times(ctx: Context) -> tuple[datetime, datetime]:
    """The earliest and latest time a live sale or return may carry, now."""
    now = ctx.now()
    settings = ctx.settings
    return now - timedelta(days=settings.backdate_days), now + timedelta(seconds=settings.clock_skew_seconds)


def check_live_time(
    ctx: Context,
    store_id: int,
    occurred_at: datetime,
    *,
    order_id: str | None = None,
    return_id: str | None = None,
    field: str = "occurred_at",
) -> None:
    """OCCURRED_AT_OUT_OF_RANGE when `occurred_at` is outside `accepted_times`, naming `field` and the
    range in the store's time zone.

    A time older than the window is still accepted for an order (`order_id`) or return (`return_id`)
    already posted at the store: that is a till's retry, which replays what was posted.
    """
    earliest, latest = accepted_times(ctx)
    if earliest <= occurred_at <= latest:
        return
    if occurred_at < earliest and _already_posted(ctx, store_id, order_id, return_id):
        return
    try:
        zone = ZoneInfo(_store_timezone(ctx, store_id))
    except NotFound:
        return  # the posting names the unknown store in its own error
    bounds = {
        "earliest": earliest.astimezone(zone).strftime(_TIME_FORMAT),
        "latest": latest.astimezone(zone).strftime(_TIME_FORMAT),
        "timezone": zone.key,
    }
    if occurred_at > latest:
        raise InvalidInput.field(
            field,
            "the time must be between {earliest} and {latest} ({timezone})",
            "OCCURRED_AT_OUT_OF_RANGE",
            bounds,
        )
    raise InvalidInput.field(
        field,
        "the time must be between {earliest} and {latest} ({timezone}); older history comes in by import",
        "OCCURRED_AT_OUT_OF_RANGE",
        bounds,
    )


def _store_timezone(ctx: Context, store_id: int) -> str:
    with read(ctx) as conn:
        tz = conn.execute(select(stores.c.timezone).where(stores.c.id == store_id)).scalar()
    if tz is None:
        raise NotFound("STORE_NOT_FOUND", "store {store_id} does not exist", {"store_id": store_id})
    return str(tz)


def _already_posted(ctx: Context, store_id: int, order_id: str | None, return_id: str | None) -> bool:
    if order_id is None and return_id is None:
        return False
    if return_id is not None:
        stmt = select(returns.c.id).where(returns.c.store_id == store_id, returns.c.return_id == return_id)
    else:
        stmt = select(purchases.c.id).where(
            purchases.c.store_id == store_id, purchases.c.order_id == order_id
        )
    with read(ctx) as conn:
        return conn.execute(stmt).first() is not None
