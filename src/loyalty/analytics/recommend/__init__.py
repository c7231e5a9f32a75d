"""Recommendations: implicit-feedback collaborative filtering (ALS), content from the items'
categories and price bands, and what sells at the member's store, blended by how much history a
member has; and a time-split holdout that scores the blend beside ALS, item-kNN and popularity.

The modules: the input lines and what is built from them (:mod:`.data`), ALS (:mod:`.als`), item
neighbours (:mod:`.knn`), content (:mod:`.content`), popularity (:mod:`.popular`), the blend
(:mod:`.model`), the ranking metrics (:mod:`.metrics`), the holdout (:mod:`.evaluate`) and the words
(:mod:`.words`). The method and its figures: docs/analytics-recommendations.md.

>>> import pandas as pd
>>> from loyalty.analytics.recommend import Recommender
>>> lines = pd.DataFrame({
...     "ticket": [1, 1, 2, 2, 3, 4],
...     "member_id": [7, 7, 8, 8, 9, None],
...     "store_id": [1] * 6,
...     "day": pd.to_datetime(["2026-03-01"] * 4 + ["2026-03-02", "2026-03-02"]),
...     "item": ["latte", "bun", "latte", "bun", "latte", "tea"],
...     "category": ["coffee", "bread", "coffee", "bread", "coffee", "tea"],
... })
>>> model = Recommender().fit(lines)
>>> recs = model.recommend().frame(model.catalogue_)
>>> recs[recs["member_id"] == 9][["item", "reason"]].to_dict("records")
[{'item': 'bun', 'reason': 'popular'}, {'item': 'tea', 'reason': 'popular'}]
"""

from __future__ import annotations

from loyalty.analytics.recommend.evaluate import MODELS, Evaluation, ModelResult, evaluate
from loyalty.analytics.recommend.metrics import (
    Scores,
    coverage,
    map_at_k,
    precision_at_k,
    recall_at_k,
)
from loyalty.analytics.recommend.model import REASONS, SEED, Recommended, Recommender, Settings
from loyalty.analytics.recommend.words import label, model_name, reason

__all__ = [
    "MODELS",
    "REASONS",
    "SEED",
    "Evaluation",
    "ModelResult",
    "Recommended",
    "Recommender",
    "Scores",
    "Settings",
    "coverage",
    "evaluate",
    "label",
    "map_at_k",
    "model_name",
    "precision_at_k",
    "reason",
    "recall_at_k",
]
