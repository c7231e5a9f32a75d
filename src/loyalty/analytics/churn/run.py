"""One churn run: validate out of time, train, score every member as of today.

With ``T`` the day scored (today) and ``H`` the horizon (90 days by default), a member *churns* after a
cutoff when they make no purchase in the ``H`` days after it. Three cutoffs, each seeing only its past
(:mod:`.features`):

* **validation**: the model is trained on the members of ``T − 2H`` (labels: who bought in the ``H``
  days after it), then scores the members of ``T − H``, whose labels (who bought from ``T − H`` to
  ``T``) it never saw: out of time, as it will be used. Beside it, on the same members and labels,
  the purchase model's 1 − P(alive) (BG/NBD fitted on the history up to ``T − H``) and the days since
  the last purchase, each as a churn score; their AUCs, ROC curves, the model's permutation
  importances, and the next purchase date's error beside the member's own rhythm's;
* **training**: the model used is trained on the members of ``T − H`` with those labels (the latest
  complete horizon);
* **scoring**: every member with a purchase by ``T`` gets P(churn in the next ``H`` days), P(alive) and
  the next purchase date (:mod:`.purchase`, BG/NBD fitted on the history up to ``T``), and the value
  at risk: P(churn) × their yearly spend (spend ÷ years since the first purchase, at least one year).

Too little history for the validation (too few members before ``T − 2H``, or none of them churned, or
all did) still trains and scores, with the reason kept (``problem``); too little for the training
(the same at ``T − H``) raises :class:`TooLittleHistory`. The validation's members and labels are the
training's: a check that cannot be made on them leaves no model to use either.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loyalty.analytics.churn.errors import ChurnInputError, TooLittleHistory
from loyalty.analytics.churn.evaluate import auc, roc_table
from loyalty.analytics.churn.features import FEATURES, churned, first_purchase_after, member_features
from loyalty.analytics.churn.model import SEED, ChurnModel, Importance
from loyalty.analytics.churn.purchase import (
    days_by_rhythm,
    days_to_next_purchase,
    expected_purchases,
    fit_purchases,
    p_alive,
    summary_of,
)
from loyalty.analytics.errors import AnalyticsError

#: the default horizon: a member churns after a cutoff who makes no purchase in the next 90 days
HORIZON_DAYS = 90
#: the horizons a run accepts
HORIZON_RANGE = (7, 365)
#: the least members the training needs, and the least churners and stayers among them
MIN_MEMBERS = 10
MIN_CLASS = 2
#: the scores compared on the validation, in the order shown
SCORES = ("model", "p_alive", "recency")
#: why a run has no validation (``ChurnResult.problem``): too few members had bought two horizons back
NO_HISTORY = "history"


@dataclass(frozen=True)
class History:
    """The members' history as :func:`~loyalty.analytics.churn.features.member_features` reads it."""

    visits: Any
    returns: Any | None = None
    lines: Any | None = None
    joined: Any | None = None

    def features(self, cutoff: dt.date) -> pd.DataFrame:
        return member_features(
            self.visits, cutoff=cutoff, returns=self.returns, lines=self.lines, joined=self.joined
        )


@dataclass(frozen=True)
class NextPurchaseCheck:
    """The next purchase date on the validation members: the mean error in days of the purchase
    model's date and of the member's own rhythm, against the first purchase each member actually made
    in the horizon. A date beyond the horizon, or none, counts as the horizon's last day + 1 on both
    sides (a member who did not buy is right to have no date in it), so every member counts and a
    method that always says "soon" pays for the members who left. ``buyers``: members who bought."""

    members: int
    buyers: int
    model_dated: int
    model_error_days: float | None
    rhythm_dated: int
    rhythm_error_days: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "members": self.members,
            "buyers": self.buyers,
            "model_dated": self.model_dated,
            "model_error_days": self.model_error_days,
            "rhythm_dated": self.rhythm_dated,
            "rhythm_error_days": self.rhythm_error_days,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NextPurchaseCheck:
        def opt(v: Any) -> float | None:
            return None if v is None else float(v)

        return cls(
            int(d["members"]),
            int(d["buyers"]),
            int(d["model_dated"]),
            opt(d.get("model_error_days")),
            int(d["rhythm_dated"]),
            opt(d.get("rhythm_error_days")),
        )


@dataclass(frozen=True)
class Validation:
    """The out-of-time check: trained at ``train_cutoff``, scored at ``cutoff`` (see the module)."""

    train_cutoff: dt.date
    cutoff: dt.date
    train_members: int
    members: int
    churned: int
    #: AUC of each of :data:`SCORES` (None where it could not be computed)
    aucs: dict[str, float | None]
    #: ``[{"fpr", "model", "p_alive", "recency"}]`` on the ROC grid
    roc: list[dict[str, Any]]
    importances: tuple[Importance, ...]
    next_purchase: NextPurchaseCheck | None
    model_seconds: float
    p_alive_seconds: float | None

    @property
    def churn_rate(self) -> float:
        return self.churned / self.members if self.members else 0.0


@dataclass(frozen=True)
class ChurnResult:
    """A run: its validation (or why none), the model's training, and every member's scores.

    ``scores`` is indexed by member id: ``churn_probability``, ``p_alive``, ``expected_purchases``
    (in the horizon), ``next_purchase_days`` (from ``as_of``; NaN: none within a year),
    ``recency_days``, ``yearly_spend_minor`` and ``value_at_risk_minor``.
    """

    as_of: dt.date
    horizon_days: int
    seed: int
    train_cutoff: dt.date
    train_members: int
    train_churn_rate: float
    validation: Validation | None
    problem: str | None
    purchase_problem: str | None
    scores: pd.DataFrame
    fit_seconds: float
    seconds: float
    features: tuple[str, ...] = field(default=FEATURES)

    @property
    def members(self) -> int:
        return len(self.scores)


def check_horizon(horizon_days: int) -> None:
    """Refuse a horizon outside :data:`HORIZON_RANGE` (CHURN_INPUT_INVALID naming ``horizon_days``)."""
    lo, hi = HORIZON_RANGE
    if not lo <= horizon_days <= hi:
        raise ChurnInputError.field(
            "horizon_days",
            "the horizon must be from {lo} to {hi} days, not {given}",
            ChurnInputError.default_code,
            {"lo": lo, "hi": hi, "given": horizon_days},
        )


def _trainable(labels: np.ndarray) -> bool:
    churners = int(labels.sum())
    return len(labels) >= MIN_MEMBERS and churners >= MIN_CLASS and len(labels) - churners >= MIN_CLASS


def _capped(days: np.ndarray, horizon_days: int) -> np.ndarray:
    return np.where(np.isnan(days), horizon_days + 1.0, np.minimum(days, horizon_days + 1.0))


def _next_purchase_check(
    actual: pd.Series, model_days: np.ndarray | None, rhythm_days: np.ndarray, horizon_days: int
) -> NextPurchaseCheck:
    truth = _capped(actual.to_numpy(dtype=np.float64), horizon_days)

    def error(days: np.ndarray) -> float | None:
        return float(np.mean(np.abs(_capped(days, horizon_days) - truth))) if len(truth) else None

    return NextPurchaseCheck(
        members=len(truth),
        buyers=int(actual.notna().sum()),
        model_dated=0 if model_days is None else int((~np.isnan(model_days)).sum()),
        model_error_days=None if model_days is None else error(model_days),
        rhythm_dated=int((~np.isnan(rhythm_days)).sum()),
        rhythm_error_days=error(rhythm_days),
    )


def validate(
    history: History,
    recent: pd.DataFrame,
    recent_churned: np.ndarray,
    cutoff: dt.date,
    horizon_days: int,
    seed: int,
) -> Validation | None:
    """The out-of-time check of a model trained a horizon before ``cutoff``, on the members of
    ``cutoff`` (``recent``, with their labels); None when too few members had bought by then."""
    train_cutoff = cutoff - dt.timedelta(days=horizon_days)
    x_train = history.features(train_cutoff)
    y_train = churned(history.visits, x_train.index, cutoff=train_cutoff, horizon_days=horizon_days)
    if not _trainable(y_train):
        return None
    started = time.perf_counter()
    model = ChurnModel(seed).fit(x_train, y_train)
    model_seconds = time.perf_counter() - started
    scores: dict[str, np.ndarray] = {
        "model": model.predict(recent),
        "recency": recent["recency_days"].to_numpy(dtype=np.float64),
    }
    p_alive_seconds: float | None = None
    next_days: np.ndarray | None = None
    try:
        started = time.perf_counter()
        purchases = fit_purchases(recent)
        p_alive_seconds = time.perf_counter() - started
        scores["p_alive"] = 1.0 - p_alive(purchases, recent)
        next_days = days_to_next_purchase(purchases, recent)
    except AnalyticsError:
        pass  # too few repeat buyers for BG/NBD: its AUC stays empty
    y = recent_churned
    actual = first_purchase_after(history.visits, recent.index, cutoff=cutoff, horizon_days=horizon_days)
    return Validation(
        train_cutoff=train_cutoff,
        cutoff=cutoff,
        train_members=len(y_train),
        members=len(y),
        churned=int(y.sum()),
        aucs={name: auc(y, scores[name]) if name in scores else None for name in SCORES},
        roc=roc_table(y, {name: scores[name] for name in SCORES if name in scores}),
        importances=tuple(model.importances(recent, y)),
        next_purchase=_next_purchase_check(actual, next_days, days_by_rhythm(recent), horizon_days),
        model_seconds=model_seconds,
        p_alive_seconds=p_alive_seconds,
    )


def run_churn(
    history: History,
    *,
    as_of: dt.date,
    horizon_days: int = HORIZON_DAYS,
    seed: int = SEED,
    stage: Callable[[str], None] | None = None,
) -> ChurnResult:
    """Validate, train and score as of ``as_of`` (see the module). ``stage`` hears "validate", then
    "fit" as each starts."""
    check_horizon(horizon_days)
    started = time.perf_counter()
    cutoff = as_of - dt.timedelta(days=horizon_days)
    x_train = history.features(cutoff)
    y_train = churned(history.visits, x_train.index, cutoff=cutoff, horizon_days=horizon_days)
    if not _trainable(y_train):
        raise TooLittleHistory(
            None,
            "too little history to learn churn from: {members} members had bought by {cutoff}, {churned} "
            "of them made no purchase in the {horizon} days after; at least {needed} members, {least} "
            "who churned and {least} who stayed, are needed",
            {
                "members": len(y_train),
                "churned": int(y_train.sum()),
                "cutoff": cutoff.isoformat(),
                "horizon": horizon_days,
                "needed": MIN_MEMBERS,
                "least": MIN_CLASS,
            },
        )
    if stage is not None:
        stage("validate")
    validation = validate(history, x_train, y_train, cutoff, horizon_days, seed)
    if stage is not None:
        stage("fit")
    fit_started = time.perf_counter()
    model = ChurnModel(seed).fit(x_train, y_train)
    fit_seconds = time.perf_counter() - fit_started
    now = history.features(as_of)
    scores = pd.DataFrame(index=now.index)
    scores["churn_probability"] = model.predict(now)
    scores["p_alive"] = np.nan
    scores["expected_purchases"] = np.nan
    scores["next_purchase_days"] = np.nan
    purchase_problem = None
    try:
        purchases = fit_purchases(now)
        scores["p_alive"] = p_alive(purchases, now)
        scores["expected_purchases"] = expected_purchases(purchases, horizon_days, *summary_of(now))
        scores["next_purchase_days"] = days_to_next_purchase(purchases, now)
    except AnalyticsError as exc:
        purchase_problem = exc.message
    scores["recency_days"] = now["recency_days"]
    years = np.maximum(now["customer_days"].to_numpy(dtype=np.float64), 365.0) / 365.0
    scores["yearly_spend_minor"] = now["spend_minor"].to_numpy(dtype=np.float64) / years
    scores["value_at_risk_minor"] = scores["churn_probability"] * scores["yearly_spend_minor"]
    return ChurnResult(
        as_of=as_of,
        horizon_days=horizon_days,
        seed=seed,
        train_cutoff=cutoff,
        train_members=len(y_train),
        train_churn_rate=float(y_train.mean()),
        validation=validation,
        problem=None if validation is not None else NO_HISTORY,
        purchase_problem=purchase_problem,
        scores=scores,
        fit_seconds=fit_seconds,
        seconds=time.perf_counter() - started,
    )
