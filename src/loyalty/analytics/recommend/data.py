"""Sales lines as the recommender reads them: the catalogue, each member's history, per-store demand.

The input is one row per sold line (a pandas DataFrame):

==============  =============================================================================
``ticket``      the purchase (receipt) the line is on; any hashable id
``member_id``   the buyer; null (or negative) for an anonymous sale
``store_id``    where it was sold; null where unknown
``day``         when (a date or timestamp; the store's business day where the caller knows it)
``item``        the product (SKU); text
``category``    the product's category; null where unknown (optional column)
``price``       the unit price in minor units (optional column; the item's attribute "price band")
==============  =============================================================================

A (ticket, item) pair counts once, however many lines or units: the recommender learns from how
many *purchases* of an item a member made, not how many units (a wholesaler's 480 mugs are one
purchase). Anonymous sales feed the catalogue and the popularity counts, never a member's history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from loyalty.analytics.errors import InputError

REQUIRED = ("ticket", "member_id", "store_id", "day", "item")
#: the item attributes the content model reads, beside the category: the price band of the item's
#: median unit price (low / middle / high, by the catalogue's terciles)
PRICE_BANDS = 3


@dataclass(frozen=True)
class Lines:
    """The input lines, encoded: one entry per distinct (ticket, item), as integer codes."""

    item: np.ndarray  # item code (index into Catalogue.items)
    member: np.ndarray  # member id (int64), -1 for anonymous
    store: np.ndarray  # store id (int64), -1 where unknown
    ticket: np.ndarray  # ticket code
    day: np.ndarray  # datetime64[D]
    price: np.ndarray  # float64 unit price (NaN where unknown)


@dataclass(frozen=True)
class Catalogue:
    """Every item sold, sorted by key, with its attributes and when it was first and last sold."""

    items: np.ndarray  # object: the item keys (SKUs)
    category: np.ndarray  # object: category or None
    price_band: np.ndarray  # int8: 0..PRICE_BANDS-1, -1 where no price is known
    first_day: np.ndarray  # datetime64[D]
    last_day: np.ndarray  # datetime64[D]

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class History:
    """Members × items: how many purchases of each item a member made, and the day of the last."""

    members: np.ndarray  # int64 member ids, sorted (row order)
    counts: sp.csr_matrix  # float32 purchases per (member, item)
    last_day: sp.csr_matrix  # int32 days since 1970-01-01 of the last purchase (same pattern as counts)
    home_store: np.ndarray  # int64: the store where the member made most purchases (-1: unknown)

    @property
    def distinct_items(self) -> np.ndarray:
        """Distinct items each member bought (the measure of history the blend weights by)."""
        out: np.ndarray = np.diff(self.counts.indptr).astype(np.int64)
        return out

    def rows_of(self, member_ids: np.ndarray) -> np.ndarray:
        """Row of each member id (-1 for a member without history)."""
        ids = np.asarray(member_ids, dtype=np.int64)
        if len(self.members) == 0:
            return np.full(len(ids), -1, dtype=np.int64)
        pos = np.clip(np.searchsorted(self.members, ids), 0, len(self.members) - 1)
        return np.where(self.members[pos] == ids, pos, -1).astype(np.int64)


def _int_or_missing(values: pd.Series) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce")
    return np.asarray(numbers.fillna(-1), dtype=np.float64).astype(np.int64)


def encode(frame: pd.DataFrame) -> tuple[Lines, np.ndarray]:
    """Check and encode the lines; returns them and the sorted item keys their codes index."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InputError(f"sales lines lack the columns {', '.join(missing)}", {"missing": missing})
    items = frame["item"]
    if items.isna().any():
        raise InputError("sales lines with no item", {"rows": int(items.isna().sum())})
    days = pd.to_datetime(frame["day"], errors="coerce")
    if getattr(days.dt, "tz", None) is not None:
        days = days.dt.tz_localize(None)
    if days.isna().any():
        raise InputError("sales lines with no date", {"rows": int(days.isna().sum())})
    item_codes, item_keys = pd.factorize(items.astype(str), sort=True)
    ticket_codes, _ = pd.factorize(frame["ticket"])
    price = (
        pd.to_numeric(frame["price"], errors="coerce").to_numpy(dtype=np.float64)
        if "price" in frame.columns
        else np.full(len(frame), np.nan)
    )
    lines = Lines(
        item=item_codes.astype(np.int64),
        member=_int_or_missing(frame["member_id"]),
        store=_int_or_missing(frame["store_id"]),
        ticket=ticket_codes.astype(np.int64),
        day=days.to_numpy().astype("datetime64[D]"),
        price=price,
    )
    return _distinct(lines), np.asarray(item_keys, dtype=object)


def _distinct(lines: Lines) -> Lines:
    """One entry per (ticket, item): the first line's member, store, day and price."""
    order = np.lexsort((lines.item, lines.ticket))
    t, i = lines.ticket[order], lines.item[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (t[1:] != t[:-1]) | (i[1:] != i[:-1])
    keep = order[first]
    return Lines(
        item=lines.item[keep],
        member=lines.member[keep],
        store=lines.store[keep],
        ticket=lines.ticket[keep],
        day=lines.day[keep],
        price=lines.price[keep],
    )


def catalogue(frame: pd.DataFrame, lines: Lines, keys: np.ndarray) -> Catalogue:
    """The items with their category (the most frequent one given), price band and sale span."""
    n = len(keys)
    category = np.full(n, None, dtype=object)
    if "category" in frame.columns:
        cats = pd.DataFrame({"item": frame["item"].astype(str), "category": frame["category"]}).dropna()
        if not cats.empty:
            top = cats.groupby(["item", "category"]).size().reset_index(name="n")
            top = top.sort_values(["item", "n", "category"], ascending=[True, False, True])
            top = top.drop_duplicates("item")
            pos = np.searchsorted(keys, top["item"].to_numpy(dtype=object))
            category[pos] = top["category"].astype(str).to_numpy(dtype=object)
    day_int = lines.day.astype(np.int64)
    first = np.full(n, np.iinfo(np.int64).max)
    last = np.full(n, np.iinfo(np.int64).min)
    np.minimum.at(first, lines.item, day_int)
    np.maximum.at(last, lines.item, day_int)
    band = np.full(n, -1, dtype=np.int8)
    priced = ~np.isnan(lines.price)
    if priced.any():
        med = (
            pd.Series(lines.price[priced]).groupby(lines.item[priced]).median()
        )  # the item's median unit price
        edges = np.quantile(med.to_numpy(), [k / PRICE_BANDS for k in range(1, PRICE_BANDS)])
        band[med.index.to_numpy()] = np.searchsorted(edges, med.to_numpy(), side="right").astype(np.int8)
    return Catalogue(
        items=keys,
        category=category,
        price_band=band,
        first_day=first.astype("datetime64[D]"),
        last_day=last.astype("datetime64[D]"),
    )


def history(lines: Lines, n_items: int) -> History:
    """Each member's purchases per item (anonymous lines left out) and their most frequent store."""
    own = lines.member >= 0
    member, item, day = lines.member[own], lines.item[own], lines.day[own].astype(np.int64)
    members, rows = np.unique(member, return_inverse=True)
    shape = (len(members), n_items)
    counts = sp.csr_matrix((np.ones(len(item), dtype=np.float32), (rows, item)), shape=shape)
    counts.sum_duplicates()
    # the last day per (member, item): sort so that the latest comes last, keep the last per pair
    order = np.lexsort((day, item, rows))
    r, i, d = rows[order], item[order], day[order]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = (r[1:] != r[:-1]) | (i[1:] != i[:-1])
    last_day = sp.csr_matrix((d[last].astype(np.int32), (r[last], i[last])), shape=shape)
    last_day.sort_indices()
    counts.sort_indices()
    return History(
        members, counts, last_day, _home_stores(rows, lines.store[own], lines.ticket[own], shape[0])
    )


def _home_stores(rows: np.ndarray, store: np.ndarray, ticket: np.ndarray, n: int) -> np.ndarray:
    """The store of most of each member's tickets (ties: the lowest store id); -1 if none known."""
    home = np.full(n, -1, dtype=np.int64)
    known = store >= 0
    if not known.any():
        return home
    visits = pd.DataFrame({"row": rows[known], "store": store[known], "ticket": ticket[known]})
    per = visits.drop_duplicates(["row", "ticket"]).groupby(["row", "store"]).size().reset_index(name="n")
    per = per.sort_values(["row", "n", "store"], ascending=[True, False, True]).drop_duplicates("row")
    home[per["row"].to_numpy()] = per["store"].to_numpy()
    return home
