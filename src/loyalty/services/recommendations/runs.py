"""Train the recommender on the product database and store what the endpoint serves; read it back.

A refresh reads the sales lines (`load`), checks the model on a time-split holdout (trained on all
but the last ``HOLDOUT_DAYS`` days, tested on what the members bought in them: the figures the
console shows) where it also picks the blend's shape (`loyalty.analytics.recommend.model.GRID`, by
MAP@10), trains it with that shape on everything, and writes, in one transaction at its end, the run's row,
every member's top items (`member_recommendations`, the previous refresh's rows replaced) and the
stores' popular lists: a refresh that fails writes nothing. Erased members get nothing stored.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from loyalty.db.recommendation_tables import (
    member_recommendations,
    recommendation_popular,
    recommendation_runs,
)
from loyalty.db.rows import write_rows
from loyalty.services.stored_runs import StageProgress, aware, last, latest, numbered_stages, store_run

if TYPE_CHECKING:
    from loyalty.analytics.recommend import Evaluation, Settings
    from loyalty.bootstrap import Context

#: the stages of a refresh, in order, as its `progress` callback names them
STAGES = ("load", "evaluate", "train", "write")
#: the days held out to test the model on
HOLDOUT_DAYS = 28


@dataclass(frozen=True)
class StoredRun:
    """A refresh as stored: what it learnt from, how long it took, and the holdout's figures."""

    id: int
    computed_at: datetime
    as_of: date
    members: int
    items: int
    seconds: float
    settings: Settings
    evaluation: Evaluation | None
    problem: str | None


def _stored(row: Any) -> StoredRun:
    from loyalty.analytics.recommend import Evaluation, Settings

    return StoredRun(
        id=int(row.id),
        computed_at=aware(row.computed_at),
        as_of=row.as_of,
        members=int(row.members),
        items=int(row.items),
        seconds=float(row.seconds),
        settings=Settings.from_dict(dict(row.settings or {})),
        evaluation=Evaluation.from_dict(row.evaluation) if row.evaluation else None,
        problem=row.problem,
    )


def latest_run(conn: Connection) -> StoredRun | None:
    return latest(conn, recommendation_runs, _stored)


def last_run(ctx: Context) -> StoredRun | None:
    """The latest refresh, or None before the first."""
    return last(ctx, recommendation_runs, _stored)


def _tuples(frame: Any, columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """The frame's rows as tuples of plain Python values (None for a missing one)."""
    lists = [[None if v is None or v != v else v for v in frame[c].tolist()] for c in columns]
    return list(zip(*lists, strict=True))


def run_recommendations(
    ctx: Context,
    *,
    settings: Settings | None = None,
    evaluate: bool = True,
    progress: StageProgress | None = None,
) -> StoredRun:
    """Train on every sale and store each member's recommendations and the stores' popular lists.

    Raises ``RECOMMENDATIONS_NO_SALES`` (422) when nothing was ever sold.
    """
    import pandas as pd

    from loyalty.analytics.errors import InputError
    from loyalty.analytics.recommend import Recommender, Settings
    from loyalty.analytics.recommend import evaluate as holdout
    from loyalty.services.recommendations.errors import NoSales
    from loyalty.services.recommendations.load import load_lines

    stage = numbered_stages(progress, STAGES)
    chosen = settings or Settings()
    stage(0)
    lines = load_lines(ctx)
    if lines.empty:
        raise NoSales(None, "nothing has been sold yet: there is nothing to recommend from")
    stage(1)
    evaluation: Evaluation | None = None
    problem: str | None = "not tested: the refresh was asked to skip the holdout"
    if evaluate:
        problem = None
        last = lines["day"].max().date()
        try:
            evaluation = holdout(
                lines, cutoff=last - timedelta(days=HOLDOUT_DAYS), settings=chosen, tune=True
            )
        except InputError as exc:
            problem = exc.message
        else:
            cf_weight, half, share = evaluation.blend
            chosen = replace(chosen, cf_weight=cf_weight, history_half=half, content_share=share)
    stage(2)
    model = Recommender(chosen).fit(lines)
    recs = model.recommend().frame(model.catalogue_)
    popular = model.popular_lists()
    stage(3)
    values = {
        "computed_at": ctx.now(),
        "as_of": pd.Timestamp(model.end_).date(),
        "members": int(recs["member_id"].nunique()),
        "items": len(model.catalogue_),
        "seconds": float(model.fit_seconds_),
        "settings": chosen.to_dict(),
        "evaluation": evaluation.to_dict() if evaluation is not None else None,
        "problem": problem,
    }

    def write(conn: Connection, run_id: int) -> None:
        # straight through the driver (COPY on PostgreSQL): millions of rows on a large chain
        write_rows(
            conn,
            "member_recommendations",
            ("member_id", "rank", "sku", "category", "score", "reason"),
            _tuples(recs, ("member_id", "rank", "item", "category", "score", "reason")),
            {"run_id": run_id},
        )
        write_rows(
            conn,
            "recommendation_popular",
            ("store_id", "rank", "sku", "category", "score"),
            _tuples(popular, ("store_id", "rank", "item", "category", "score")),
            {"run_id": run_id},
        )

    replaced = [member_recommendations, recommendation_popular]
    stored = store_run(ctx, recommendation_runs, values, replaced, write)
    stage(len(STAGES))
    return _stored(stored)
