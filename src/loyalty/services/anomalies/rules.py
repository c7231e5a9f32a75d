"""The chain's anomaly rules: read (defaults with the chain's changes laid over) and changed, audited.

A rule the chain never changed has no row and runs with its defaults; a change writes the whole rule
(switch and every parameter) and records the rule before and after in the audit log, in one
transaction. Bad input (an unknown rule or parameter, a value out of range) is refused before
anything is written, naming the field (`rules.velocity.params.per_hour`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, insert, select

from loyalty.db.anomaly_tables import anomaly_rules
from loyalty.domain.actors import Actor
from loyalty.services import audit
from loyalty.services.common import read

if TYPE_CHECKING:
    from loyalty.analytics.anomalies import RuleSet
    from loyalty.bootstrap import Context


def _stored(conn: Connection) -> dict[str, dict[str, Any]]:
    rows = conn.execute(select(anomaly_rules.c.code, anomaly_rules.c.enabled, anomaly_rules.c.params)).all()
    return {str(r.code): {"enabled": bool(r.enabled), "params": dict(r.params or {})} for r in rows}


def rules_in(conn: Connection) -> RuleSet:
    """The rules as they run now, read on `conn`."""
    from loyalty.analytics.anomalies import resolve

    return resolve(_stored(conn))


def get_rules(ctx: Context) -> RuleSet:
    """The rules as they run now: each rule's defaults with the chain's changes laid over."""
    with read(ctx) as conn:
        return rules_in(conn)


def set_rules(ctx: Context, changes: Mapping[str, Any], actor: Actor) -> RuleSet:
    """Change some rules (`{code: {"enabled": bool, "params": {name: number}}}`, each merged over its
    current setting) and return them all; ANOMALY_RULE_INVALID naming the first bad field."""
    from loyalty.analytics.anomalies import validated

    now = ctx.now()
    with ctx.engine.begin() as conn:
        current = rules_in(conn)
        changed = validated(current, changes)
        for code, setting in changed.items():
            before = current[code]
            conn.execute(delete(anomaly_rules).where(anomaly_rules.c.code == code))
            conn.execute(
                insert(anomaly_rules).values(
                    code=code,
                    enabled=setting.enabled,
                    params=dict(setting.params),
                    updated_at=now,
                    updated_by=f"{actor.kind}:{actor.id}",
                )
            )
            audit.record(
                conn,
                actor,
                "anomalies.rule",
                "anomaly_rule",
                code,
                {"enabled": before.enabled, "params": dict(before.params)},
                {"enabled": setting.enabled, "params": dict(setting.params)},
                at=now,
            )
        return rules_in(conn)
