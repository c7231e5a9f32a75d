"""One member's cluster in the latest run (the member 360° page, `GET /members/{id}/cluster`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from loyalty.db.cluster_tables import member_cluster_runs, member_clusters
from loyalty.db.core_tables import members
from loyalty.domain.errors import NotFound
from loyalty.services.clusters.runs import StoredRun, from_row
from loyalty.services.common import read

if TYPE_CHECKING:
    from loyalty.analytics.clusters import Profile
    from loyalty.bootstrap import Context


@dataclass(frozen=True)
class MemberCluster:
    """The member's cluster (None: not clustered: no purchase, erased, or no run yet) and its run."""

    member_id: int
    cluster: int | None
    run: StoredRun | None

    @property
    def profile(self) -> Profile | None:
        if self.run is None or self.cluster is None:
            return None
        return next((p for p in self.run.profiles if p.cluster == self.cluster), None)


def member_cluster(ctx: Context, member_id: int) -> MemberCluster:
    """The member's cluster in the latest run; MEMBER_NOT_FOUND for an unknown member."""
    with read(ctx) as conn:
        if conn.execute(select(members.c.id).where(members.c.id == member_id)).first() is None:
            raise NotFound("MEMBER_NOT_FOUND", "member {member_id} does not exist", {"member_id": member_id})
        row = conn.execute(
            select(member_clusters.c.cluster, member_cluster_runs)
            .select_from(
                member_clusters.join(
                    member_cluster_runs, member_cluster_runs.c.id == member_clusters.c.run_id
                )
            )
            .where(member_clusters.c.member_id == member_id)
        ).first()
    if row is None:
        return MemberCluster(member_id, None, None)
    return MemberCluster(member_id, int(row.cluster), from_row(row))
