"""The recommender: collaborative filtering, content and popularity, blended by how much history a
member has.

Three scores per (member, item), each scaled to [0, 1] per member (divided by the member's best):

* **cf**: ALS (:mod:`.als`): the member's factors · the item's (negative scores count as 0);
* **content**: the member's category and price-band profile against the item's (:mod:`.content`);
* **popular**: what sells lately at the member's store (:mod:`.popular`).

Blended with weights that follow the member's history, h = the distinct items they bought::

    w_cf      = cf_weight · h / (h + history_half)        (defaults 1 and 3: ¼ at 1 item, ½ at 3, 0.9 at 27)
    w_content = (1 − w_cf) · content_share                (0.35 of the rest, when the member has a profile)
    w_popular = 1 − w_cf − w_content

so a member with one purchase is recommended mostly from what sells at their store and the categories
they buy, a regular mostly from what members like them buy. The three constants are the blend's
*shape*; a refresh picks them from :data:`GRID` by MAP@10 on its holdout (:mod:`.evaluate`), because
how much a chain's members follow their own taste rather than the crowd differs from chain to chain
(on Online Retail collaborative filtering is 1.7× popularity's precision; on a chain where everybody
buys the same best-sellers popularity wins, and the holdout says so). A member with no purchase at
all is not in the model: they get the store's popular list (reason ``popular``). Each
recommendation's reason is the part that contributed most to its score: ``cf``, ``content`` or
``popular``.

Not recommended: what the member bought in the last ``exclude_days`` (30) of the data (they have it;
a repeat can come later); items nobody bought in the last ``retire_days`` (180): no longer sold; and
an item no source speaks for (a blended score of 0): a member may get fewer than ``top_n``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from loyalty.analytics.errors import InputError
from loyalty.analytics.recommend import content as content_model
from loyalty.analytics.recommend.als import Factors, confidence, fit_als
from loyalty.analytics.recommend.data import Catalogue, catalogue, encode, history
from loyalty.analytics.recommend.popular import Popularity, popularity

REASONS = ("cf", "content", "popular")
CF, CONTENT, POPULAR = 0, 1, 2
#: the seed of the factors' start (any fixed number: the same data give the same recommendations)
SEED = 26
#: scores held at once while recommending (members × items per chunk)
CHUNK_CELLS = 4_000_000

Exclude = Literal["recent", "all", "none"]
Blend = tuple[float, float, float]

#: the blend shapes a refresh chooses from, (cf_weight, history_half, content_share); the first is
#: the default, kept on a tie
GRID: tuple[Blend, ...] = (
    (1.0, 3.0, 0.35),
    *((1.0, half, share) for half in (1.0, 3.0, 10.0, 30.0) for share in (0.0, 0.35, 0.7)),
    *((0.0, 3.0, share) for share in (0.0, 0.35, 0.7)),
)


@dataclass(frozen=True)
class Settings:
    """The recommender's knobs, with the defaults the product uses (docs/analytics-recommendations.md)."""

    factors: int = 48
    regularization: float = 0.1
    iterations: int = 10
    alpha: float = 2.0
    seed: int = SEED
    #: worker threads of ALS; 0: one below a million purchases (threads cost more than they save
    #: there), every core above. The result does not depend on it
    threads: int = 0
    #: collaborative filtering's weight for a member with a long history (0: not used)
    cf_weight: float = 1.0
    #: distinct items at which collaborative filtering gets half its weight
    history_half: float = 3.0
    #: content's share of the weight collaborative filtering leaves
    content_share: float = 0.35
    popular_days: int = 90
    #: receipts at which a store's own list counts as much as the chain's
    store_prior: float = 50.0
    exclude_days: int = 30
    new_item_days: int = 30
    retire_days: int = 180
    #: recommendations kept per member
    top_n: int = 20

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def blend(self) -> tuple[float, float, float]:
        """(cf_weight, history_half, content_share): the blend's shape."""
        return (self.cf_weight, self.history_half, self.content_share)

    @classmethod
    def from_dict(cls, data: dict[str, float | int]) -> Settings:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Recommended:
    """Top-n per member: item codes (-1 where fewer), blended scores and reason codes (0 cf, 1
    content, 2 popular), one row per member of ``members``."""

    members: np.ndarray
    items: np.ndarray
    scores: np.ndarray
    reasons: np.ndarray

    def frame(self, cat: Catalogue) -> pd.DataFrame:
        """Long form: member_id, rank (1…), item, category, score, reason."""
        n, k = self.items.shape
        valid = self.items.ravel() >= 0
        codes = self.items.ravel()[valid]
        return pd.DataFrame(
            {
                "member_id": np.repeat(self.members, k)[valid],
                "rank": np.tile(np.arange(1, k + 1), n)[valid],
                "item": cat.items[codes],
                "category": cat.category[codes],
                "score": self.scores.ravel()[valid].astype(np.float64),
                "reason": np.asarray(REASONS, dtype=object)[self.reasons.ravel()[valid]],
            }
        )


def _scaled(scores: np.ndarray) -> np.ndarray:
    """Each row divided by its maximum (negative scores count as 0; an all-zero row stays 0)."""
    s = np.maximum(scores, 0.0)
    top = s.max(axis=1, keepdims=True) if s.shape[1] else np.zeros((s.shape[0], 1))
    out: np.ndarray = np.divide(s, top, out=np.zeros_like(s), where=top > 0)
    return out


def top_n(scores: np.ndarray, n: int) -> np.ndarray:
    """Column indices of the n best finite scores per row, best first (ties: the lower index), -1
    where a row has fewer than n finite scores."""
    rows, cols = scores.shape
    n_eff = min(n, cols)
    if n_eff == 0:
        return np.full((rows, n), -1, dtype=np.int64)
    if n_eff < cols:
        part = np.argpartition(-scores, n_eff - 1, axis=1)[:, :n_eff]
    else:
        part = np.tile(np.arange(cols), (rows, 1))
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    best = np.take_along_axis(part, order, axis=1)
    best = np.where(np.isfinite(np.take_along_axis(scores, best, axis=1)), best, -1)
    if n_eff < n:
        best = np.hstack([best, np.full((rows, n - n_eff), -1, dtype=best.dtype)])
    return best.astype(np.int64)


def mask_rows(scores: np.ndarray, matrix: sp.csr_matrix, rows: np.ndarray) -> None:
    """Set to −inf, in place, every (row, item) stored in ``matrix`` for the given member rows."""
    sub = matrix[rows]
    r = np.repeat(np.arange(len(rows)), np.diff(sub.indptr))
    scores[r, sub.indices] = -np.inf


class Recommender:
    """Fit on sales lines (:mod:`.data`), then recommend to the members with a history, or read the
    popular lists. Learned values end in ``_`` (scikit-learn's convention)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()

    # --- fitting ----------------------------------------------------------------------------------

    def fit(self, frame: pd.DataFrame, *, end: date | str | None = None) -> Recommender:
        """Learn from the lines up to ``end`` (default: the last day sold); later lines are ignored."""
        s = self.settings
        started = time.perf_counter()
        if end is not None:
            self.end_ = np.datetime64(pd.Timestamp(end).date()).astype("datetime64[D]")
            days = pd.to_datetime(frame["day"])
            if getattr(days.dt, "tz", None) is not None:
                days = days.dt.tz_localize(None)
            frame = frame[(days < _next(self.end_)).to_numpy()]
        lines, keys = encode(frame)
        if len(lines.item) == 0:
            raise InputError("there are no sales lines to learn from")
        if end is None:
            self.end_ = lines.day.max()
        self.catalogue_ = catalogue(frame, lines, keys)
        self.history_ = history(lines, len(keys))
        h = self.history_
        conf = confidence(h.counts, s.alpha)
        self.cf_ok_ = h.counts.shape[0] >= 2 and len(keys) >= 2 and h.counts.nnz > 0
        als_started = time.perf_counter()
        if self.cf_ok_:
            self.factors_ = fit_als(
                h.counts,
                factors=s.factors,
                regularization=s.regularization,
                iterations=s.iterations,
                alpha=s.alpha,
                seed=s.seed,
                threads=s.threads or (1 if h.counts.nnz < 1_000_000 else 0),
            )
        else:
            self.factors_ = Factors(
                np.zeros((h.counts.shape[0], 1), np.float32), np.zeros((len(keys), 1), np.float32)
            )
        self.als_seconds_ = time.perf_counter() - als_started
        self.features_ = content_model.item_features(self.catalogue_)
        self.item_attributes_ = np.asarray(self.features_.T.toarray(), dtype=np.float32)
        self.profiles_ = content_model.member_profiles(conf, self.features_)
        buyers = np.asarray((h.counts > 0).sum(axis=0)).ravel()
        self.appeal_ = content_model.appeal(self.catalogue_, buyers, self.end_, s.new_item_days)
        popular_started = time.perf_counter()
        self.popularity_: Popularity = popularity(
            lines, len(keys), end=self.end_, days=s.popular_days, prior=s.store_prior
        )
        self.popular_seconds_ = time.perf_counter() - popular_started
        self.retired_ = self.catalogue_.last_day <= self.end_ - np.timedelta64(s.retire_days, "D")
        self.fit_seconds_ = time.perf_counter() - started
        return self

    # --- scoring ----------------------------------------------------------------------------------

    def weights(self, rows: np.ndarray, blend: Blend | None = None) -> np.ndarray:
        """(members × 3) weights of cf, content and popular for the given history rows (the
        settings' blend, or ``blend`` = (cf_weight, history_half, content_share))."""
        cf_weight, half, share = blend or self.settings.blend()
        h = self.history_.distinct_items[rows].astype(np.float64)
        w_cf = cf_weight * h / (h + half) if self.cf_ok_ else np.zeros_like(h)
        has_profile = self.profiles_[rows].any(axis=1)
        w_content = np.where(has_profile, (1.0 - w_cf) * share, 0.0)
        return np.stack([w_cf, w_content, 1.0 - w_cf - w_content], axis=1)

    def cf_scores(self, rows: np.ndarray) -> np.ndarray:
        """Raw ALS scores (members × items)."""
        return np.asarray(self.factors_.members[rows] @ self.factors_.items.T, dtype=np.float32)

    def popular_scores(self, rows: np.ndarray) -> np.ndarray:
        """The popularity row of each member's store (members × items)."""
        out: np.ndarray = self.popularity_.scores[self.popularity_.rows_of(self.history_.home_store[rows])]
        return out

    def components(self, rows: np.ndarray, excluded: np.ndarray | None = None) -> np.ndarray:
        """(3 × members × items): cf, content and popular scores, each scaled to [0, 1] per member
        over the items not ``excluded`` (a members × items boolean mask; excluded items score 0)."""
        n_items = len(self.catalogue_)
        cf = self.cf_scores(rows) if self.cf_ok_ else np.zeros((len(rows), n_items), np.float32)
        content = (self.profiles_[rows] @ self.item_attributes_) * self.appeal_[None, :]
        parts = [cf, content, self.popular_scores(rows)]
        if excluded is not None:
            parts = [np.where(excluded, 0.0, p) for p in parts]
        return np.stack([_scaled(p) for p in parts]).astype(np.float32)

    def excluded(self, rows: np.ndarray, exclude: Exclude) -> np.ndarray:
        """Members × items: True where an item may not be recommended to the member (retired, and
        bought: recently, ever, or neither as ``exclude`` says)."""
        out = np.zeros((len(rows), len(self.catalogue_)), dtype=bool)
        out[:, self.retired_] = True
        if exclude == "none":
            return out
        bought = self.history_.last_day[rows].tocoo()
        keep = np.ones(bought.nnz, dtype=bool)
        if exclude == "recent":
            since = (self.end_ - np.timedelta64(self.settings.exclude_days, "D")).astype(np.int64)
            keep = bought.data > since
        out[bought.row[keep], bought.col[keep]] = True
        return out

    def _chunks(self, rows: np.ndarray) -> Iterator[np.ndarray]:
        size = max(16, CHUNK_CELLS // max(len(self.catalogue_), 1))
        for start in range(0, len(rows), size):
            yield rows[start : start + size]

    def recommend(
        self, rows: np.ndarray | None = None, *, n: int | None = None, exclude: Exclude = "recent"
    ) -> Recommended:
        """Top-n blended recommendations for the given history rows (default: every member)."""
        return self.recommend_each((self.settings.blend(),), rows, n=n, exclude=exclude)[0]

    def recommend_each(
        self,
        blends: tuple[Blend, ...],
        rows: np.ndarray | None = None,
        *,
        n: int | None = None,
        exclude: Exclude = "recent",
    ) -> list[Recommended]:
        """:meth:`recommend` once per blend shape, the scores computed once for all."""
        rows = np.arange(len(self.history_.members)) if rows is None else np.asarray(rows, dtype=np.int64)
        n = n or self.settings.top_n
        shapes = blends
        items: list[list[np.ndarray]] = [[] for _ in shapes]
        scores: list[list[np.ndarray]] = [[] for _ in shapes]
        reasons: list[list[np.ndarray]] = [[] for _ in shapes]
        for chunk in self._chunks(rows):
            excluded = self.excluded(chunk, exclude)
            parts = self.components(chunk, excluded)
            for i, shape in enumerate(shapes):
                w = self.weights(chunk, shape).T.astype(np.float32)[:, :, None]
                weighted = parts * w
                total = weighted.sum(axis=0)
                total[excluded | (total <= 0)] = -np.inf  # no source speaks for it: not recommended
                best = top_n(total, n)
                safe = np.maximum(best, 0)
                items[i].append(best)
                scores[i].append(np.where(best >= 0, np.take_along_axis(total, safe, axis=1), 0.0))
                contrib = np.take_along_axis(weighted, np.broadcast_to(safe, (3, *safe.shape)), axis=2)
                reasons[i].append(contrib.argmax(axis=0).astype(np.int8))

        def stacked(parts: list[np.ndarray], dtype: type) -> np.ndarray:
            return np.vstack(parts).astype(dtype) if parts else np.zeros((0, n), dtype=dtype)

        return [
            Recommended(
                members=self.history_.members[rows],
                items=stacked(items[i], np.int64),
                scores=stacked(scores[i], np.float64),
                reasons=stacked(reasons[i], np.int8),
            )
            for i in range(len(shapes))
        ]

    def popular_lists(self, n: int | None = None) -> pd.DataFrame:
        """Each store's (and the chain's, store_id None) top-n popular items: store_id, rank, item,
        category, score. Retired items left out."""
        n = n or self.settings.top_n
        scores = self.popularity_.scores.astype(np.float64).copy()
        scores[:, self.retired_] = -np.inf
        scores[scores <= 0] = -np.inf  # not sold in the window anywhere: not "popular"
        best = top_n(scores, n)
        stores: list[int | None] = [None, *(int(s) for s in self.popularity_.stores)]
        out = []
        for row, store in enumerate(stores):
            codes = best[row][best[row] >= 0]
            out.append(
                pd.DataFrame(
                    {
                        "store_id": [store] * len(codes),
                        "rank": np.arange(1, len(codes) + 1),
                        "item": self.catalogue_.items[codes],
                        "category": self.catalogue_.category[codes],
                        "score": scores[row, codes],
                    }
                )
            )
        return pd.concat(out, ignore_index=True)


def _next(day: np.datetime64) -> pd.Timestamp:
    return pd.Timestamp(day + np.timedelta64(1, "D"))
