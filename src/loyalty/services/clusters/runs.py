"""Run a clustering of the members and store it; read the stored run back.

A run reads the purchases (`load`), clusters the members (`loyalty.analytics.clusters`: k chosen by
the silhouette unless forced, clusters numbered as the previous run's where they match) and writes,
in one transaction at its end, the run's row in `member_cluster_runs` and every member's cluster in
`member_clusters` (the previous run's rows replaced, as `services.stored_runs` does for every stored
run): a run that fails writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from loyalty.db.cluster_tables import member_cluster_runs, member_clusters
from loyalty.services.common import read
from loyalty.services.stored_runs import (
    StageProgress,
    aware,
    insert_batches,
    last,
    latest,
    numbered_stages,
    store_run,
)

if TYPE_CHECKING:
    from loyalty.analytics.clusters import KScore, Profile
    from loyalty.bootstrap import Context

#: the stages of a run, in order, as its `progress` callback names them
STAGES = ("load", "cluster", "write")


@dataclass(frozen=True)
class StoredRun:
    """A run as stored: what it found (k, the scores, the profiles) and about what (members, as_of)."""

    id: int
    computed_at: datetime
    as_of: date
    members: int
    k: int
    best_k: int
    forced: bool
    criterion: str
    seed: int
    currency: str
    scores: tuple[KScore, ...]
    profiles: tuple[Profile, ...]
    overall: dict[str, float]
    categories: tuple[str, ...]

    def reason(self, locale: str) -> str:
        """Why this k, in words ("k=4 because its silhouette 0.41 is the highest")."""
        from loyalty.analytics.clusters import words

        return words.reason(self.scores, self.k, self.best_k, locale)


def from_row(row: Any) -> StoredRun:
    from loyalty.analytics.clusters import KScore, Profile

    return StoredRun(
        id=int(row.id),
        computed_at=aware(row.computed_at),
        as_of=row.as_of,
        members=int(row.members),
        k=int(row.k),
        best_k=int(row.best_k),
        forced=bool(row.forced),
        criterion=str(row.criterion),
        seed=int(row.seed),
        currency=str(row.currency),
        scores=tuple(
            KScore(int(s["k"]), float(s["silhouette"]), float(s["inertia"])) for s in row.scores or []
        ),
        profiles=tuple(Profile.from_dict(p) for p in row.profiles or []),
        overall={str(k): float(v) for k, v in (row.overall or {}).items()},
        categories=tuple(str(c) for c in row.categories or []),
    )


def latest_run(conn: Connection) -> StoredRun | None:
    return latest(conn, member_cluster_runs, from_row)


def last_run(ctx: Context) -> StoredRun | None:
    """The latest run, or None before the first."""
    return last(ctx, member_cluster_runs, from_row)


def run_clusters(
    ctx: Context,
    *,
    k: int | None = None,
    seed: int | None = None,
    progress: StageProgress | None = None,
) -> StoredRun:
    """Cluster every member with a purchase (erased members left out) and store the run.

    ``k`` forces the number of clusters (the silhouette of every candidate is still shown beside
    it); ``seed`` defaults to the package's. Raises ``CLUSTER_TOO_FEW_MEMBERS`` when there are too
    few members with purchases, ``CLUSTER_INPUT_INVALID`` for a k outside what the data allows.
    """
    from loyalty.analytics.clusters import CRITERION, SEED, cluster_members
    from loyalty.analytics.currency import database_currency
    from loyalty.analytics.store import business_day
    from loyalty.services.clusters.load import load_features

    stage = numbered_stages(progress, STAGES)
    now = ctx.now()
    as_of = business_day(now).date()
    chosen_seed = SEED if seed is None else seed
    stage(0)
    currency = database_currency(ctx.engine)
    features = load_features(ctx, as_of)
    with read(ctx) as conn:
        previous = latest_run(conn)
    stage(1)
    run = cluster_members(
        features, k=k, seed=chosen_seed, previous=previous.profiles if previous is not None else ()
    )
    stage(2)
    values = {
        "computed_at": now,
        "as_of": as_of,
        "members": run.members,
        "k": run.k,
        "best_k": run.best_k,
        "forced": run.forced,
        "criterion": CRITERION,
        "seed": chosen_seed,
        "currency": currency,
        "scores": [{"k": s.k, "silhouette": s.silhouette, "inertia": s.inertia} for s in run.scores],
        "profiles": [p.to_dict() for p in run.profiles],
        "overall": run.overall,
        "categories": list(run.categories),
        "scaling": run.scaler.to_dict(),
    }

    def write(conn: Connection, run_id: int) -> None:
        rows = [
            {"member_id": int(m), "run_id": run_id, "cluster": int(c)}
            for m, c in zip(run.labels.index.tolist(), run.labels.tolist(), strict=True)
        ]
        insert_batches(conn, member_clusters, rows)

    stored = store_run(ctx, member_cluster_runs, values, [member_clusters], write)
    stage(len(STAGES))
    return from_row(stored)
