"""The supervised churn model: gradient-boosted trees on the members' features, seeded.

scikit-learn's :class:`~sklearn.ensemble.HistGradientBoostingClassifier` (LightGBM's algorithm:
features binned into at most 255 values, trees grown on the histograms), which takes the features as
they are (no scaling; a missing value, such as the gap of a one-visit member, goes down whichever
branch the training found best) and fits a million members in seconds. Fixed settings, no early
stopping, and a seed: the same data give the same model, run after run. The settings are small trees
learning slowly (100 rounds of 7 leaves at a rate of 0.03): on the demo chain and Online Retail they
ranked the validation members better than deeper or faster ones (bench/churn.py).

Importance is measured where it matters, out of time: on the validation members, the fall in AUC
when one feature's values are shuffled between members (permutation importance, as scikit-learn's
``permutation_importance`` with ``scoring="roc_auc"``, seeded, on at most :data:`IMPORTANCE_SAMPLE`
members). A feature the model leans on loses it AUC when shuffled; one it
ignores loses none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

#: the model's seed (the trees' binning sample, the importance shuffles)
SEED = 26
#: members the importances are measured on, at most (a seeded sample of the validation members)
IMPORTANCE_SAMPLE = 10_000
#: shuffles per feature
IMPORTANCE_REPEATS = 3

#: the booster's settings (stated in the run, and in docs/analytics-churn.md)
SETTINGS: dict[str, Any] = {
    "max_iter": 100,
    "learning_rate": 0.03,
    "max_leaf_nodes": 7,
    "l2_regularization": 1.0,
    "early_stopping": False,
}
#: the least members per leaf: 20, fewer on a small training set (a tenth of it, at least 2)
MIN_SAMPLES_LEAF = 20
#: below this many members the trees are grown on one thread: OpenMP's threads cost more than they
#: save on small data, and far more on a machine whose cores are busy (ten times on two shared cores)
THREADED_FROM = 200_000


@contextmanager
def _threads(rows: int) -> Iterator[None]:
    if rows >= THREADED_FROM:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        yield


@dataclass(frozen=True)
class Importance:
    """One feature's importance: the mean fall in validation AUC when it is shuffled, and its spread."""

    feature: str
    importance: float
    std: float

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "importance": self.importance, "std": self.std}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Importance:
        return cls(str(d["feature"]), float(d["importance"]), float(d["std"]))


class ChurnModel:
    """P(churn in the horizon | features), scikit-learn style: ``fit`` returns self, learned values end
    in ``_``."""

    def __init__(self, seed: int = SEED) -> None:
        self.seed = seed

    def fit(self, features: pd.DataFrame, churned: npt.ArrayLike) -> ChurnModel:
        from sklearn.ensemble import HistGradientBoostingClassifier

        y = np.asarray(churned, dtype=np.int8)
        x = features.to_numpy(dtype=np.float64)
        # a feature no member has yet (every member too new for a trend) cannot be binned: as a
        # constant it can never be split on, which is what its absence means
        empty = np.isnan(x).all(axis=0)
        if empty.any():
            x = x.copy()
            x[:, empty] = 0.0
        leaf = max(2, min(MIN_SAMPLES_LEAF, len(y) // 10))
        with _threads(len(y)):
            self.booster_ = HistGradientBoostingClassifier(
                **SETTINGS, min_samples_leaf=leaf, random_state=self.seed
            ).fit(x, y)
        self.features_ = tuple(str(c) for c in features.columns)
        self.members_ = len(y)
        self.churn_rate_ = float(y.mean()) if len(y) else 0.0
        return self

    def predict(self, features: pd.DataFrame) -> npt.NDArray[np.float64]:
        """P(churn) of each member (row) of ``features`` (the columns the model was fitted on)."""
        x = features[list(self.features_)].to_numpy(dtype=np.float64)
        with _threads(len(x)):
            return self._proba(x)

    def _proba(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        proba = self.booster_.predict_proba(x)
        return np.asarray(proba[:, list(self.booster_.classes_).index(1)], dtype=np.float64)

    def importances(self, features: pd.DataFrame, churned: npt.ArrayLike) -> list[Importance]:
        """Permutation importance on ``features`` (the validation members), biggest first: for each
        feature, :data:`IMPORTANCE_REPEATS` seeded shuffles of its column, the AUC lost each time."""
        y = np.asarray(churned, dtype=bool)
        x = features[list(self.features_)].to_numpy(dtype=np.float64, copy=True)  # shuffled in place
        rng = np.random.default_rng(self.seed)
        if len(y) > IMPORTANCE_SAMPLE:
            keep = np.sort(rng.choice(len(y), IMPORTANCE_SAMPLE, replace=False))
            x, y = x[keep], y[keep]
        out = []
        with _threads(len(y)):
            base = rank_auc(y, self._proba(x))
            for j, name in enumerate(self.features_):
                column = x[:, j].copy()
                lost = []
                for _ in range(IMPORTANCE_REPEATS):
                    x[:, j] = column[rng.permutation(len(column))]
                    lost.append(base - rank_auc(y, self._proba(x)))
                x[:, j] = column
                out.append(Importance(name, float(np.mean(lost)), float(np.std(lost))))
        return sorted(out, key=lambda i: (-i.importance, i.feature))


def rank_auc(churned: npt.NDArray[np.bool_], score: npt.NDArray[np.float64]) -> float:
    """The AUC by the rank sum (Mann–Whitney U, ties counted half), as scikit-learn's
    ``roc_auc_score`` gives it, without its checks on every call; 0.5 without both classes."""
    from scipy.stats import rankdata

    positives = int(churned.sum())
    negatives = len(churned) - positives
    if positives == 0 or negatives == 0:
        return 0.5
    ranks = rankdata(score)
    return float((ranks[churned].sum() - positives * (positives + 1) / 2) / (positives * negatives))
