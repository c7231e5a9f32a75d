"""The product database's sales lines as the recommender's input (:mod:`loyalty.analytics.recommend.data`).

One statement on SQLite and PostgreSQL: every line still kept (more units sold than returned) of
every sale, members' and anonymous, with its receipt, store, business day (the store's time zone)
and category. The synthetic line of an order-level import (SKU ``ORDER``) is not a product and is
left out. A sale of a member whose personal data was erased (`services.privacy`) is read as an
anonymous one: it still counts in what sells at its store, but nothing is learnt or stored about
that member.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sqlalchemy import BigInteger, ColumnElement, cast, func, select

from loyalty.db.core_tables import purchase_lines, purchases, stores
from loyalty.db.rows import fetch
from loyalty.services.common import read

if TYPE_CHECKING:
    from loyalty.bootstrap import Context

#: SKUs that are not products: the one line an order-level import gives an order
NON_PRODUCTS = ("ORDER",)
COLUMNS = ["ticket", "member_id", "store_id", "occurred_at", "item"]


def _epoch(ctx: Context) -> ColumnElement[int]:
    """The sale's instant as whole seconds since 1970 (UTC): an integer is read several times faster
    than a timestamp, and pandas converts a million of them at once."""
    if ctx.engine.dialect.name == "sqlite":  # stored as UTC text
        return cast(func.strftime("%s", purchases.c.occurred_at), BigInteger)
    return cast(func.floor(func.extract("epoch", purchases.c.occurred_at)), BigInteger)


def _local_days(epoch: pd.Series, zones: pd.Series) -> pd.Series:
    """Instants (seconds since 1970, UTC) as calendar days in their zones (one conversion per zone)."""
    stamps = pd.to_datetime(epoch.astype("int64"), unit="s", utc=True)
    out = pd.Series(pd.NaT, index=epoch.index, dtype="datetime64[ns]")
    for zone, rows in zones.groupby(zones).groups.items():
        out[rows] = stamps[rows].dt.tz_convert(str(zone)).dt.tz_localize(None).dt.normalize()
    return out


def load_lines(ctx: Context) -> pd.DataFrame:
    """The sales lines: ticket, member_id (None: anonymous or erased), store_id, day, item, category,
    price (the item's mean unit price in minor units).

    Three reads: the lines themselves (five integer or short text columns: a chain's millions of
    lines cost their fetch and little else), each item's categories and prices (a handful of rows
    per item; an item's category is the one most of its lines give), and the erased members.
    """
    from loyalty.analytics.store import erased_member_ids

    kept = (purchase_lines.c.quantity > purchase_lines.c.returned_quantity) & purchase_lines.c.sku.not_in(
        NON_PRODUCTS
    )
    lines_q = (
        select(
            purchase_lines.c.purchase_id,
            purchases.c.member_id,
            purchases.c.store_id,
            _epoch(ctx).label("occurred_at"),
            purchase_lines.c.sku,
        )
        .select_from(purchase_lines.join(purchases, purchases.c.id == purchase_lines.c.purchase_id))
        .where(kept)
    )
    items_q = (
        select(
            purchase_lines.c.sku,
            purchase_lines.c.category,
            func.count().label("lines"),
            func.sum(purchase_lines.c.unit_price_minor).label("price_sum"),
        )
        .where(kept)
        .group_by(purchase_lines.c.sku, purchase_lines.c.category)
    )
    with read(ctx) as conn:
        zone_of = dict(conn.execute(select(stores.c.id, stores.c.timezone)).tuples().all())
        items = pd.DataFrame(
            conn.execute(items_q).tuples().all(), columns=["item", "category", "lines", "price_sum"]
        )
        # straight from the driver: SQLAlchemy's row objects would cost more than the read itself
        sql = str(lines_q.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        rows = fetch(conn, sql)
    erased = erased_member_ids(ctx.engine)
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(COLUMNS)
    raw = dict(zip(COLUMNS, columns, strict=True))
    # None (an anonymous sale) becomes NaN, then <NA>
    member = pd.array(np.array(raw["member_id"], dtype=np.float64), dtype="Int64")
    if erased:
        member[np.isin(member.to_numpy(dtype=np.float64, na_value=np.nan), erased)] = pd.NA
    store = pd.Series(np.array(raw["store_id"], dtype=np.int64))
    epoch = pd.Series(np.array(raw["occurred_at"], dtype=np.int64))
    item = pd.Series(np.array(raw["item"], dtype=object)).astype(str)
    category, price = _item_attributes(items)
    return pd.DataFrame(
        {
            "ticket": np.array(raw["ticket"], dtype=np.int64),
            "member_id": member,
            "store_id": store,
            "day": _local_days(epoch, store.map(zone_of).astype(str)),
            "item": item,
            "category": item.map(category).astype(object),
            "price": item.map(price).astype("float64"),
        }
    )


def _item_attributes(items: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each item's category (the most lines'; ties: the first by name) and mean unit price."""
    if items.empty:
        return pd.Series(dtype=object), pd.Series(dtype="float64")
    items = items.astype({"lines": "int64", "price_sum": "float64"})
    items["item"] = items["item"].astype(str)
    totals = items.groupby("item")[["lines", "price_sum"]].sum()
    price = totals["price_sum"] / totals["lines"]
    named = items.dropna(subset=["category"]).sort_values(
        ["item", "lines", "category"], ascending=[True, False, True]
    )
    category = named.drop_duplicates("item").set_index("item")["category"].astype(object)
    return category, price
