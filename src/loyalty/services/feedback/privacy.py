"""A member's comments are their own words and may name them: erasing the member's personal data
(`services.privacy.erasure`) blanks the comments of their ratings, and the comments the audit log
kept of them, in the erasure's transaction. The ratings stay (a number, about a sale that stays), so
the satisfaction KPI of past days does not move."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select, update

from loyalty.db.core_tables import audit_log
from loyalty.db.feedback_tables import feedback


def forget_comments(conn: Connection, member_ids: Sequence[int]) -> int:
    """Blank the comments of `member_ids`' ratings and of their `feedback.rate` audit rows; how many
    ratings had one."""
    rated = [
        str(i)
        for i in conn.execute(
            select(feedback.c.id).where(feedback.c.member_id.in_(list(member_ids)))
        ).scalars()
    ]
    if not rated:
        return 0
    blanked = conn.execute(
        update(feedback)
        .where(feedback.c.member_id.in_(list(member_ids)), feedback.c.comment.is_not(None))
        .values(comment=None)
    ).rowcount
    rows = conn.execute(
        select(audit_log.c.id, audit_log.c.after).where(
            audit_log.c.entity == "feedback",
            audit_log.c.action == "feedback.rate",
            audit_log.c.entity_id.in_(rated),
        )
    ).all()
    for row in rows:
        if isinstance(row.after, dict) and row.after.get("comment") is not None:
            conn.execute(
                update(audit_log).where(audit_log.c.id == row.id).values(after={**row.after, "comment": None})
            )
    return int(blanked)
