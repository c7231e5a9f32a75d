"""One member's churn scores in the latest run (the member 360° page, `GET /members/{id}/churn`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from loyalty.db.churn_tables import churn_runs, member_churn
from loyalty.db.core_tables import members
from loyalty.domain.errors import NotFound
from loyalty.services.churn.runs import MemberChurn, StoredRun, from_row, member_from_row
from loyalty.services.common import read

if TYPE_CHECKING:
    from loyalty.bootstrap import Context


@dataclass(frozen=True)
class MemberChurnShown:
    """The member's scores (None: not scored: no purchase, erased, or no run yet) and their run."""

    member_id: int
    scores: MemberChurn | None
    run: StoredRun | None


def member_churn_scores(ctx: Context, member_id: int) -> MemberChurnShown:
    """The member's churn probability and next purchase date in the latest run; MEMBER_NOT_FOUND for
    an unknown member."""
    with read(ctx) as conn:
        if conn.execute(select(members.c.id).where(members.c.id == member_id)).first() is None:
            raise NotFound("MEMBER_NOT_FOUND", "member {member_id} does not exist", {"member_id": member_id})
        row = conn.execute(select(member_churn).where(member_churn.c.member_id == member_id)).first()
        if row is None:
            return MemberChurnShown(member_id, None, None)
        run = conn.execute(select(churn_runs).where(churn_runs.c.id == row.run_id)).one()
    return MemberChurnShown(member_id, member_from_row(row), from_row(run))
