"""A time-split holdout: train on the sales up to a cutoff day, test on what the same members bought
after it, and score the blend beside plain ALS, item-kNN and popularity.

The test set of a member is the items they bought after the cutoff that they had *not* bought up to
it, among the items sold before it (a model cannot know an item first sold later): the task is to
find what a member will buy next that they do not already buy. Every model leaves the member's bought
items out of its list accordingly. Members with at least one such item are scored
(:mod:`.metrics`: precision@k, recall@k, MAP@k, and coverage of the catalogue).

Models, each fitted on the same training lines:

* ``blend``: what the product serves (:class:`~.model.Recommender`); with ``tune``, every blend shape
  of :data:`~.model.GRID` is scored and the best by MAP@k is kept (``Evaluation.blend``, and the whole
  ``grid``): the refresh then serves that shape. Its figures are then those of the shape chosen on
  this very holdout, a little flattering; the other models' are not tuned here;
* ``als``: its collaborative-filtering part alone;
* ``item_knn``: item-based cosine neighbours (:mod:`.knn`), the classic baseline;
* ``popular``: what sold most at the member's store in the last ``popular_days`` before the cutoff,
  the fallback for members without history.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from loyalty.analytics.errors import InputError
from loyalty.analytics.recommend.knn import item_cosine, knn_scores
from loyalty.analytics.recommend.metrics import Scores, score
from loyalty.analytics.recommend.model import (
    CHUNK_CELLS,
    GRID,
    Blend,
    Recommender,
    Settings,
    mask_rows,
    top_n,
)

MODELS = ("blend", "als", "item_knn", "popular")
K = 10
NEIGHBOURS = 100


@dataclass(frozen=True)
class ModelResult:
    """One model's figures on the holdout, and how long its training took."""

    name: str
    scores: Scores
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "seconds": self.seconds, **self.scores.to_dict()}


@dataclass(frozen=True)
class Evaluation:
    """A holdout's set-up and every model's figures."""

    k: int
    cutoff: date
    last_day: date
    train_members: int
    items: int
    members: int
    relevant: int
    models: tuple[ModelResult, ...]
    #: the blend shape of the ``blend`` row, (cf_weight, history_half, content_share)
    blend: Blend
    #: every shape tried and its figures (empty when not tuned)
    grid: tuple[tuple[Blend, Scores], ...] = ()

    def model(self, name: str) -> ModelResult:
        return next(m for m in self.models if m.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "cutoff": self.cutoff.isoformat(),
            "last_day": self.last_day.isoformat(),
            "train_members": self.train_members,
            "items": self.items,
            "members": self.members,
            "relevant": self.relevant,
            "models": [m.to_dict() for m in self.models],
            "blend": list(self.blend),
            "grid": [{"blend": list(b), **sc.to_dict()} for b, sc in self.grid],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        return cls(
            k=int(data["k"]),
            cutoff=date.fromisoformat(data["cutoff"]),
            last_day=date.fromisoformat(data["last_day"]),
            train_members=int(data["train_members"]),
            items=int(data["items"]),
            members=int(data["members"]),
            relevant=int(data["relevant"]),
            models=tuple(
                ModelResult(name=str(m["name"]), scores=_scores(m), seconds=float(m["seconds"]))
                for m in data["models"]
            ),
            blend=_blend(data["blend"]),
            grid=tuple((_blend(g["blend"]), _scores(g)) for g in data.get("grid", [])),
        )


def _blend(values: Any) -> Blend:
    a, b, c = (float(v) for v in values)
    return (a, b, c)


def _scores(data: dict[str, Any]) -> Scores:
    return Scores(
        precision=float(data["precision"]),
        recall=float(data["recall"]),
        map=float(data["map"]),
        coverage=float(data["coverage"]),
        members=int(data["members"]),
    )


def _days(frame: pd.DataFrame) -> pd.Series:
    days = pd.to_datetime(frame["day"])
    if getattr(days.dt, "tz", None) is not None:
        days = days.dt.tz_localize(None)
    return days.dt.normalize()


def relevant_matrix(model: Recommender, test: pd.DataFrame) -> sp.csr_matrix:
    """History rows × items: 1 where a member of the training bought, in ``test``, a training item
    they had not bought before."""
    h, cat = model.history_, model.catalogue_
    members = pd.to_numeric(test["member_id"], errors="coerce").fillna(-1).to_numpy().astype(np.int64)
    rows = h.rows_of(members)
    cols = pd.Index(cat.items).get_indexer(test["item"].astype(str).to_numpy(dtype=object))
    ok = (rows >= 0) & (cols >= 0)
    shape = (len(h.members), len(cat))
    rel = sp.csr_matrix((np.ones(int(ok.sum()), dtype=np.float32), (rows[ok], cols[ok])), shape=shape)
    rel.data[:] = 1.0  # duplicates summed: back to 1
    bought = h.counts.copy()
    bought.data[:] = 1.0
    new = sp.csr_matrix(rel - rel.multiply(bought))
    new.eliminate_zeros()
    return new


def _ranked(
    scores_of: Callable[[np.ndarray], np.ndarray], model: Recommender, rows: np.ndarray, k: int
) -> np.ndarray:
    out = []
    size = max(16, CHUNK_CELLS // max(len(model.catalogue_), 1))
    for start in range(0, len(rows), size):
        chunk = rows[start : start + size]
        s = np.array(scores_of(chunk), dtype=np.float32, copy=True)
        mask_rows(s, model.history_.counts, chunk)
        out.append(top_n(s, k))
    return np.vstack(out) if out else np.zeros((0, k), dtype=np.int64)


def evaluate(
    frame: pd.DataFrame,
    *,
    cutoff: date,
    k: int = K,
    settings: Settings | None = None,
    neighbours: int = NEIGHBOURS,
    models: Sequence[str] = MODELS,
    tune: bool = False,
) -> Evaluation:
    """Fit on the lines up to ``cutoff`` (inclusive), score every model on the members' later lines.

    Raises :class:`InputError` when there is nothing to train on or no member to test.
    """
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise InputError(f"unknown models {', '.join(unknown)}", {"models": unknown})
    days = _days(frame)
    cut = pd.Timestamp(cutoff)
    train = frame[(days <= cut).to_numpy()]
    test = frame[(days > cut).to_numpy()]
    if train.empty:
        raise InputError("no sales on or before the cutoff to train on", {"cutoff": cutoff.isoformat()})
    model = Recommender(settings).fit(train, end=cutoff)
    rel = relevant_matrix(model, test[pd.to_numeric(test["member_id"], errors="coerce").fillna(-1) >= 0])
    rows = np.flatnonzero(np.diff(rel.indptr) > 0)
    if len(rows) == 0:
        raise InputError(
            "no member bought anything new after the cutoff: nothing to test", {"cutoff": cutoff.isoformat()}
        )
    relevant = rel[rows]
    n_items = len(model.catalogue_)
    results = []
    chosen = model.settings.blend()
    grid: list[tuple[Blend, Scores]] = []
    for name in models:
        if name == "blend":
            shapes = GRID if tune else (chosen,)
            each = model.recommend_each(shapes, rows, n=k, exclude="all")
            grid = [(b, score(r.items, relevant, k, n_items)) for b, r in zip(shapes, each, strict=True)]
            best = max(range(len(grid)), key=lambda i: (grid[i][1].map, -i))
            chosen, recs = grid[best][0], each[best].items
            seconds = model.fit_seconds_
        elif name == "als":
            recs = _ranked(model.cf_scores, model, rows, k)
            seconds = model.als_seconds_
        elif name == "item_knn":
            started = time.perf_counter()
            sim = item_cosine(model.history_.counts, neighbours)
            seconds = time.perf_counter() - started

            def neighbours_of(r: np.ndarray, sim: sp.csr_matrix = sim) -> np.ndarray:
                return knn_scores(model.history_.counts[r], sim)

            recs = _ranked(neighbours_of, model, rows, k)
        else:
            recs = _ranked(model.popular_scores, model, rows, k)
            seconds = model.popular_seconds_
        results.append(ModelResult(name, score(recs, relevant, k, n_items), seconds))
    return Evaluation(
        k=k,
        cutoff=cutoff,
        last_day=days.max().date(),
        train_members=len(model.history_.members),
        items=n_items,
        members=len(rows),
        relevant=int(relevant.nnz),
        models=tuple(results),
        blend=chosen,
        grid=tuple(grid) if tune else (),
    )
