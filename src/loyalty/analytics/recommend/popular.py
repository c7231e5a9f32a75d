"""What sells lately, per store: the fallback for members without history, and a part of every blend.

An item's popularity at a store is the number of receipts with it (members' and anonymous sales
alike) in the ``days`` up to the end of the data, at that store. A store with few receipts in the
window would give a list from a handful of sales, so each store's shares are shrunk towards the
chain's: score = w·store share + (1 − w)·chain share, w = receipts at the store / (receipts + prior),
then scaled so that the store's top item scores 1. Row 0 is the chain's own list (members whose store
is unknown, and stores that sold nothing in the window).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from loyalty.analytics.recommend.data import Lines


@dataclass(frozen=True)
class Popularity:
    """Row 0: the chain; row 1 + i: ``stores[i]``. Scores in [0, 1], each row's best item at 1."""

    stores: np.ndarray  # int64 store ids, sorted
    scores: np.ndarray  # float32 (1 + stores) × items
    receipts: np.ndarray  # int64 receipts in the window per row (chain first)
    start: np.datetime64
    end: np.datetime64

    def rows_of(self, store_ids: np.ndarray) -> np.ndarray:
        """Row of each store id (0, the chain's, for an unknown store or -1)."""
        ids = np.asarray(store_ids, dtype=np.int64)
        if len(self.stores) == 0:
            return np.zeros(len(ids), dtype=np.int64)
        pos = np.clip(np.searchsorted(self.stores, ids), 0, len(self.stores) - 1)
        return np.where(self.stores[pos] == ids, pos + 1, 0).astype(np.int64)


def _scaled(rows: np.ndarray) -> np.ndarray:
    top = rows.max(axis=1, keepdims=True)
    out: np.ndarray = np.divide(rows, top, out=np.zeros_like(rows), where=top > 0)
    return out


def popularity(lines: Lines, n_items: int, *, end: np.datetime64, days: int, prior: float) -> Popularity:
    """Receipts per item in the window ``(end − days, end]``, per store and for the chain."""
    start = end - np.timedelta64(days, "D")
    inside = (lines.day > start) & (lines.day <= end)
    item, store, ticket = lines.item[inside], lines.store[inside], lines.ticket[inside]
    stores = np.unique(store[store >= 0])
    counts = np.zeros((1 + len(stores), n_items), dtype=np.float64)
    np.add.at(counts[0], item, 1.0)  # lines are distinct (ticket, item): one count per receipt
    receipts = np.zeros(1 + len(stores), dtype=np.int64)
    receipts[0] = len(np.unique(ticket))
    if len(stores):
        row = np.searchsorted(stores, store[store >= 0]) + 1
        np.add.at(counts, (row, item[store >= 0]), 1.0)
        per = pd.Series(ticket[store >= 0]).groupby(row).nunique()
        receipts[per.index.to_numpy()] = per.to_numpy()
    chain = counts[0] / max(receipts[0], 1)
    shares = counts / np.maximum(receipts, 1)[:, None]
    w = (receipts / (receipts + prior))[:, None]
    blended = w * shares + (1 - w) * chain[None, :]
    blended[0] = chain
    return Popularity(stores, _scaled(blended).astype(np.float32), receipts, start, end)
