"""Content-based scoring from the items' attributes: for new members and for new items.

Each item is a vector of its attributes: its category (weight 1) and the price band of its median
unit price (weight ``PRICE_WEIGHT``), scaled to unit length. A member's profile is the sum of the
vectors of what they bought, each weighted by the member's confidence in it (the same
1 + α·log(1 + purchases) as ALS), scaled to unit length: a member who bought coffee and bread, mostly
coffee, points mostly at "coffee". The content score of an item is the cosine of the two, times the
item's appeal:

* appeal = ½ + ½·log(1 + buyers) / log(1 + most buyers of an item in its category): of two coffees,
  the one more members bought comes first;
* a new item (first sold within ``new_item_days`` of the end) that few have bought yet gets at least
  its category's median appeal, so that it reaches the members whose profile matches its category
  before collaborative filtering has the purchases to place it (the "new item" cold start).

So a member with a single purchase already gets items of the categories they buy, and a week-old
item reaches those members, where ALS has little or nothing to go on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from loyalty.analytics.recommend.data import PRICE_BANDS, Catalogue

PRICE_WEIGHT = 0.5


def item_features(cat: Catalogue) -> sp.csr_matrix:
    """Items × attributes (categories, then price bands), rows of unit length (an item with neither
    attribute is a zero row: it gets no content score)."""
    codes, names = pd.factorize(pd.Series(cat.category, dtype=object), sort=True)
    n = len(cat)
    rows, cols, vals = [], [], []
    has_cat = codes >= 0
    rows.append(np.flatnonzero(has_cat))
    cols.append(codes[has_cat])
    vals.append(np.ones(int(has_cat.sum())))
    banded = cat.price_band >= 0
    rows.append(np.flatnonzero(banded))
    cols.append(len(names) + cat.price_band[banded].astype(np.int64))
    vals.append(np.full(int(banded.sum()), PRICE_WEIGHT))
    f = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n, len(names) + PRICE_BANDS),
        dtype=np.float32,
    )
    return _unit_rows(f)


def _unit_rows(m: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms).astype(np.float32) @ m, dtype=np.float32)


def member_profiles(confidence: sp.csr_matrix, features: sp.csr_matrix) -> np.ndarray:
    """Members × attributes, dense (a handful of attributes), rows of unit length."""
    profiles = _unit_rows(sp.csr_matrix(confidence @ features, dtype=np.float32))
    return np.asarray(profiles.toarray(), dtype=np.float32)


def appeal(cat: Catalogue, buyers: np.ndarray, end: np.datetime64, new_item_days: int) -> np.ndarray:
    """Each item's appeal in [½, 1] within its category, new items lifted to the category median."""
    n = len(cat)
    group = pd.Series(cat.category, dtype=object).fillna("\x00").to_numpy()
    logb = np.log1p(buyers.astype(np.float64))
    top = pd.Series(logb).groupby(group).transform("max").to_numpy()
    out = 0.5 + 0.5 * np.divide(logb, top, out=np.zeros(n), where=top > 0)
    new = cat.first_day > end - np.timedelta64(new_item_days, "D")
    if new.any():
        median = pd.Series(out).groupby(group).transform("median").to_numpy()
        out = np.where(new, np.maximum(out, median), out)
    result: np.ndarray = out.astype(np.float32)
    return result
