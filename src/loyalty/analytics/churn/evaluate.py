"""How well a churn score ranks the members: the area under the ROC curve, and the curve itself.

Why AUC: the list a marketer works from is the members ranked by risk, and the AUC is the chance that
a member who churned is ranked above one who did not (0.5: a coin; 1: perfect). It needs no threshold,
does not move with the share of members who churn, and compares scores of different kinds: the
model's probability, 1 − P(alive), the days since the last purchase.

The ROC curve (the share of churners found against the share of stayers wrongly flagged, as the
threshold goes down the list) is kept on a fixed grid of false-positive rates, so that curves of
different scores sit in one table and one chart.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

#: the false-positive rates the stored ROC curves are read at: 0, 0.05, …, 1
ROC_GRID: tuple[float, ...] = tuple(round(i / 20, 2) for i in range(21))


def _filled(score: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The scores, a missing one ranked below every other (least likely to churn)."""
    s = np.asarray(score, dtype=np.float64)
    missing = np.isnan(s)
    if missing.all():
        return np.zeros_like(s)
    return np.where(missing, np.nanmin(s) - 1.0, s)


def auc(churned: npt.ArrayLike, score: npt.ArrayLike) -> float | None:
    """AUC of ``score`` (higher: more likely to churn); None without both churners and stayers."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(churned, dtype=bool)
    if y.all() or not y.any():
        return None
    return float(roc_auc_score(y, _filled(score)))


def roc_points(churned: npt.ArrayLike, score: npt.ArrayLike) -> list[float]:
    """The true-positive rate at each false-positive rate of :data:`ROC_GRID`: at a rate the curve
    reaches, the most churners found there; between two of its points, on the line joining them."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(np.asarray(churned, dtype=bool), _filled(score))
    last = np.r_[fpr[1:] != fpr[:-1], True]  # of points at one false-positive rate, the highest
    return [round(float(v), 4) for v in np.interp(ROC_GRID, fpr[last], tpr[last])]


def roc_table(churned: npt.ArrayLike, scores: dict[str, npt.ArrayLike]) -> list[dict[str, Any]]:
    """One row per grid point: ``{"fpr": …, name: tpr for each score}``."""
    curves = {name: roc_points(churned, s) for name, s in scores.items()}
    return [
        {"fpr": fpr, **{name: curve[i] for name, curve in curves.items()}} for i, fpr in enumerate(ROC_GRID)
    ]
