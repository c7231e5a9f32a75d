"""Run the churn model and store it; read the stored run and the members at risk back.

A run reads the history (`load`), validates, trains and scores (`loyalty.analytics.churn`) and writes,
in one transaction at its end, the run's row in `churn_runs` and every scored member's row in
`member_churn` (the previous run's rows replaced, as `services.stored_runs` does for every stored
run): a run that fails writes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from loyalty.db.churn_tables import churn_runs, member_churn
from loyalty.db.core_tables import members
from loyalty.services.common import read
from loyalty.services.stored_runs import StageProgress, aware, insert_batches, last, latest, store_run

if TYPE_CHECKING:
    from loyalty.analytics.churn import Importance, NextPurchaseCheck
    from loyalty.bootstrap import Context

#: the stages of a run, in order, as its `progress` callback names them
STAGES = ("load", "validate", "fit", "write")
#: the churn probability from which a member is at risk (the call-back list)
AT_RISK = 0.5


@dataclass(frozen=True)
class StoredRun:
    """A run as stored: the horizon and cutoffs, the out-of-time check (or why none), the timings."""

    id: int
    computed_at: datetime
    as_of: date
    horizon_days: int
    seed: int
    members: int
    currency: str
    train_cutoff: date
    train_members: int
    train_churn_rate: float
    validation_train_cutoff: date | None
    validation_cutoff: date | None
    validation_members: int | None
    validation_churned: int | None
    #: AUC per score ("model", "p_alive", "recency"), None where there is none
    aucs: dict[str, float | None]
    roc: list[dict[str, Any]]
    importances: tuple[Importance, ...]
    next_purchase: NextPurchaseCheck | None
    timings: dict[str, float | None]
    problem: str | None
    purchase_problem: str | None
    settings: dict[str, Any]

    @property
    def validated(self) -> bool:
        return self.validation_cutoff is not None

    @property
    def validation_churn_rate(self) -> float | None:
        if not self.validation_members or self.validation_churned is None:
            return None
        return self.validation_churned / self.validation_members

    def problem_text(self, locale: str) -> str:
        """Why there is no out-of-time check, in words ("" when there is one)."""
        from loyalty.analytics.churn import words

        return words.problem(self.problem, self.horizon_days, locale)


@dataclass(frozen=True)
class MemberChurn:
    """A member's scores in a run: P(churn in the horizon), P(alive), the next purchase date."""

    member_id: int
    churn_probability: float
    p_alive: float | None
    expected_purchases: float | None
    next_purchase_on: date | None
    recency_days: int
    yearly_spend_minor: int
    value_at_risk_minor: int


@dataclass(frozen=True)
class AtRiskMember:
    """A member to call back: who (name, phone as stored: the entry points mask it) and their scores."""

    scores: MemberChurn
    name: str
    phone: str | None
    registration_store_id: int | None


@dataclass(frozen=True)
class AtRisk:
    """The members at risk (churn probability ≥ `threshold`), most value at risk first; `total`
    counts them all."""

    threshold: float
    total: int
    members: list[AtRiskMember]


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


def from_row(row: Any) -> StoredRun:
    from loyalty.analytics.churn import Importance, NextPurchaseCheck

    return StoredRun(
        id=int(row.id),
        computed_at=aware(row.computed_at),
        as_of=row.as_of,
        horizon_days=int(row.horizon_days),
        seed=int(row.seed),
        members=int(row.members),
        currency=str(row.currency),
        train_cutoff=row.train_cutoff,
        train_members=int(row.train_members),
        train_churn_rate=float(row.train_churn_rate),
        validation_train_cutoff=row.validation_train_cutoff,
        validation_cutoff=row.validation_cutoff,
        validation_members=None if row.validation_members is None else int(row.validation_members),
        validation_churned=None if row.validation_churned is None else int(row.validation_churned),
        aucs={
            "model": _opt(row.auc_model),
            "p_alive": _opt(row.auc_p_alive),
            "recency": _opt(row.auc_recency),
        },
        roc=list(row.roc or []),
        importances=tuple(Importance.from_dict(i) for i in row.importances or []),
        next_purchase=NextPurchaseCheck.from_dict(row.next_purchase) if row.next_purchase else None,
        timings={str(k): _opt(v) for k, v in (row.timings or {}).items()},
        problem=row.problem,
        purchase_problem=row.purchase_problem,
        settings=dict(row.settings or {}),
    )


def member_from_row(row: Any) -> MemberChurn:
    return MemberChurn(
        member_id=int(row.member_id),
        churn_probability=float(row.churn_probability),
        p_alive=_opt(row.p_alive),
        expected_purchases=_opt(row.expected_purchases),
        next_purchase_on=row.next_purchase_on,
        recency_days=int(row.recency_days),
        yearly_spend_minor=int(row.yearly_spend_minor),
        value_at_risk_minor=int(row.value_at_risk_minor),
    )


def latest_run(conn: Connection) -> StoredRun | None:
    return latest(conn, churn_runs, from_row)


def last_run(ctx: Context) -> StoredRun | None:
    """The latest run, or None before the first."""
    return last(ctx, churn_runs, from_row)


def at_risk(ctx: Context, *, limit: int = 20, threshold: float = AT_RISK) -> AtRisk:
    """The latest run's active members with a churn probability of at least `threshold`, most value
    at risk (churn probability × yearly spend) first, at most `limit` of them."""
    chosen = (
        select(
            member_churn,
            members.c.name,
            members.c.phone,
            members.c.registration_store_id,
            func.count().over().label("total"),
        )
        .join(members, members.c.id == member_churn.c.member_id)
        .where(
            member_churn.c.churn_probability >= threshold,
            members.c.status == "active",
            members.c.erased_at.is_(None),
        )
        .order_by(member_churn.c.value_at_risk_minor.desc(), member_churn.c.member_id)
        .limit(max(limit, 1))
    )
    with read(ctx) as conn:
        rows = conn.execute(chosen).all()
    shown = rows if limit > 0 else []
    return AtRisk(
        threshold=threshold,
        total=int(rows[0].total) if rows else 0,
        members=[
            AtRiskMember(member_from_row(r), str(r.name), r.phone, r.registration_store_id) for r in shown
        ],
    )


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def refresh_churn(
    ctx: Context,
    *,
    horizon_days: int | None = None,
    seed: int | None = None,
    progress: StageProgress | None = None,
) -> StoredRun:
    """Validate, train and score every member with a purchase (erased members left out); store it.

    ``horizon_days`` defaults to the package's (90); ``seed`` to its seed. Raises
    ``CHURN_TOO_LITTLE_HISTORY`` when the history cannot train a model, ``CHURN_INPUT_INVALID`` for a
    horizon outside 7…365 days.
    """
    from loyalty.analytics.churn import FEATURES, HORIZON_DAYS, SEED, SETTINGS, check_horizon, run_churn
    from loyalty.analytics.currency import database_currency
    from loyalty.analytics.store import business_day
    from loyalty.services.churn.load import load_history

    def stage(name: str) -> None:
        if progress is not None:
            total = len(STAGES)
            progress(STAGES.index(name) if name in STAGES else total, total, name)

    horizon = HORIZON_DAYS if horizon_days is None else int(horizon_days)
    check_horizon(horizon)  # before the history is read
    now = ctx.now()
    as_of = business_day(now).date()
    chosen_seed = SEED if seed is None else seed
    stage("load")
    currency = database_currency(ctx.engine)
    history = load_history(ctx)
    result = run_churn(history, as_of=as_of, horizon_days=horizon, seed=chosen_seed, stage=stage)
    stage("write")
    v = result.validation
    values = {
        "computed_at": now,
        "as_of": as_of,
        "horizon_days": horizon,
        "seed": chosen_seed,
        "members": result.members,
        "currency": currency,
        "train_cutoff": result.train_cutoff,
        "train_members": result.train_members,
        "train_churn_rate": result.train_churn_rate,
        "validation_train_cutoff": v.train_cutoff if v else None,
        "validation_cutoff": v.cutoff if v else None,
        "validation_members": v.members if v else None,
        "validation_churned": v.churned if v else None,
        "auc_model": v.aucs.get("model") if v else None,
        "auc_p_alive": v.aucs.get("p_alive") if v else None,
        "auc_recency": v.aucs.get("recency") if v else None,
        "roc": v.roc if v else None,
        "importances": [i.to_dict() for i in v.importances] if v else None,
        "next_purchase": v.next_purchase.to_dict() if v and v.next_purchase else None,
        "timings": {
            "model": v.model_seconds if v else None,
            "p_alive": v.p_alive_seconds if v else None,
            "fit": result.fit_seconds,
            "run": result.seconds,
        },
        "problem": result.problem,
        "purchase_problem": result.purchase_problem,
        "settings": {"features": list(FEATURES), "booster": dict(SETTINGS)},
    }
    s = result.scores
    rows = [
        {
            "member_id": int(member_id),
            "churn_probability": float(churn),
            "p_alive": _finite(alive),
            "expected_purchases": _finite(expected),
            "next_purchase_on": None if math.isnan(days) else as_of + timedelta(days=int(days)),
            "recency_days": int(recency),
            "yearly_spend_minor": round(yearly),
            "value_at_risk_minor": round(value),
        }
        for member_id, churn, alive, expected, days, recency, yearly, value in zip(
            s.index.tolist(),
            s["churn_probability"].tolist(),
            s["p_alive"].tolist(),
            s["expected_purchases"].tolist(),
            s["next_purchase_days"].tolist(),
            s["recency_days"].tolist(),
            s["yearly_spend_minor"].tolist(),
            s["value_at_risk_minor"].tolist(),
            strict=True,
        )
    ]

    def write(conn: Connection, run_id: int) -> None:
        for row in rows:
            row["run_id"] = run_id
        insert_batches(conn, member_churn, rows)

    stored = store_run(ctx, churn_runs, values, [member_churn], write)
    stage("done")
    return from_row(stored)
