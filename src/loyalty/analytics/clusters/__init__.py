"""Member clusters: members grouped by behaviour, each group profiled and described for a marketer.

Four steps, each its own module: the raw features per member, in DuckDB (:mod:`.features`: RFM,
category shares, online share, discount share, visit rhythm, tenure); their log scales, medians and
robust scaling (:mod:`.design`); k-means with k chosen by the silhouette, seeded and numbered the
same way each run (:mod:`.model`); each cluster's profile and traits (:mod:`.profiles`) and its
description in words (:mod:`.words`). :func:`cluster_members` runs the last three.

>>> import datetime as dt, pandas as pd
>>> from loyalty.analytics.clusters import cluster_members, member_features
>>> visits = pd.DataFrame({
...     "member_id": [1, 2, 3, 4, 5, 6],
...     "day": [dt.date(2026, 3, d) for d in (1, 2, 3, 1, 2, 3)],
...     "channel": ["store"] * 3 + ["online"] * 3,
...     "net_minor": [900, 1000, 1100, 9000, 10000, 11000],
... })
>>> spend = visits.assign(category="tea", discounted_minor=0).drop(columns=["day", "channel"])
>>> run = cluster_members(member_features(visits, spend, as_of=dt.date(2026, 3, 31)), k_range=(2, 3))
>>> run.k, run.labels.tolist()
(2, [2, 2, 2, 1, 1, 1])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from loyalty.analytics.clusters.design import Scaler, transformed
from loyalty.analytics.clusters.errors import ClusterInputError, TooFewMembers
from loyalty.analytics.clusters.features import MemberFeatures, member_features
from loyalty.analytics.clusters.model import K_RANGE, SEED, KScore, MemberClusters, silhouettes
from loyalty.analytics.clusters.profiles import Profile, Trait, overall_means, profiles
from loyalty.analytics.clusters.words import column_name, describe, name, reason

CRITERION = "silhouette"


@dataclass(frozen=True)
class ClusterRun:
    """One clustering: the k used and why (``scores`` per candidate, ``best_k``), each member's
    cluster (``labels``: a Series of numbers 1…k by member id), the clusters' ``profiles``, every
    member's ``overall`` means, and the ``scaler`` (kept so that the next run can match clusters)."""

    k: int
    best_k: int
    forced: bool
    scores: tuple[KScore, ...]
    labels: pd.Series
    profiles: tuple[Profile, ...]
    overall: dict[str, float]
    categories: tuple[str, ...]
    scaler: Scaler
    matched: frozenset[int]
    seed: int

    @property
    def members(self) -> int:
        return len(self.labels)

    def reason(self, locale: str) -> str:
        return reason(self.scores, self.k, self.best_k, locale)


def cluster_members(
    features: MemberFeatures,
    *,
    k: int | None = None,
    k_range: tuple[int, int] = K_RANGE,
    seed: int = SEED,
    previous: Sequence[Profile] = (),
    **sizes: int,
) -> ClusterRun:
    """Scale ``features``, choose k (unless given), fit, number and profile the clusters.

    ``previous``: the last run's profiles, whose centroids give the new clusters their numbers
    (see :mod:`.model`). ``sizes``: ``select_sample``, ``silhouette_sample``, ``minibatch_above``.
    """
    if len(features) <= k_range[0]:
        raise TooFewMembers(
            None,
            "{members} members with different behaviour are too few to cluster: at least {needed}",
            {"members": len(features), "needed": k_range[0] + 1},
        )
    t = transformed(features)
    scaler = Scaler.fit(t)
    if not scaler.columns:  # every member alike
        raise TooFewMembers(
            None,
            "{members} members with different behaviour are too few to cluster: at least {needed}",
            {"members": 1, "needed": k_range[0] + 1},
        )
    x = scaler.transform(t)
    earlier = {p.cluster: scaler.place(p.centroid) for p in previous if p.centroid}
    model = MemberClusters(k, k_range=k_range, seed=seed, **sizes).fit(
        x, value=features.table["spend_minor"].to_numpy(dtype=np.float64), previous=earlier
    )
    found = profiles(features, t, scaler, model.labels_, model.k_)
    return ClusterRun(
        k=model.k_,
        best_k=model.best_k_,
        forced=k is not None,
        scores=tuple(model.scores_),
        labels=pd.Series(model.labels_, index=features.table.index, name="cluster"),
        profiles=tuple(found),
        overall=overall_means(features),
        categories=features.categories,
        scaler=scaler,
        matched=model.matched_,
        seed=seed,
    )


__all__ = [
    "CRITERION",
    "K_RANGE",
    "SEED",
    "ClusterInputError",
    "ClusterRun",
    "KScore",
    "MemberClusters",
    "MemberFeatures",
    "Profile",
    "Scaler",
    "TooFewMembers",
    "Trait",
    "cluster_members",
    "column_name",
    "describe",
    "member_features",
    "name",
    "silhouettes",
]
