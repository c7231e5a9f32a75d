"""Event bonuses: points a rule gives once per member when something happens to them, not on a sale.

`registration` is given in the registration's transaction; `profile_completed` in the update that
first fills every field of `PROFILE_FIELDS`. The rules in force at that moment for the programme of
the member's registration store (the first programme when none) decide; a rule scoped to stores
gives only to members registered at one of them. Each rule gives once per member (counted in
`rule_usage` under the member's "ever" key, locked, so two racing updates cannot both give it), and
never beyond its budget. The points arrive as a lot like any credit, available at once and expiring
after the programme's `expiry_days`; the statement shows them as a bonus with the rule's name.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Connection

from loyalty.bootstrap import Context
from loyalty.db.rule_usage import add_usage, send_usage
from loyalty.db.stored_time import epoch_us
from loyalty.domain.programme.limits import period_key
from loyalty.domain.programme.rules import MemberEvent
from loyalty.services.accounts import Credit, credit_points, lock_member_account
from loyalty.services.catalogue import catalogue_of, credit_source
from loyalty.services.earning_rules.frames import utc_offsets

#: a profile is complete when all of these are filled in
PROFILE_FIELDS = ("name", "birthday", "email", "gender")
US_PER_DAY = 86_400_000_000


def profile_complete(member: Any) -> bool:
    """Whether every field of `PROFILE_FIELDS` of `member` (a row or a model) is filled in."""
    return all(getattr(member, name, None) not in (None, "") for name in PROFILE_FIELDS)


def award(
    conn: Connection, ctx: Context, member_id: int, event: MemberEvent, store_id: int | None, at: datetime
) -> int:
    """Give `member_id` the bonuses of `event` in force at `at`, in `conn`'s transaction; the points given."""
    catalogue = catalogue_of(ctx)
    source = credit_source(conn, store_id, ctx.settings.timezone)
    programme, zone = source.programme, source.timezone
    liability, merchant = source.liability_account_id, source.merchant_id
    t = epoch_us(at)
    rules = [
        r
        for r in catalogue.rule_book(conn).for_programmes({programme.id})
        if r.spec.kind == "event_bonus"
        and r.spec.on == event
        and r.effective_from_us <= t
        and (r.effective_to_us is None or t < r.effective_to_us)
        and (not r.store_ids or store_id in r.store_ids)
    ]
    if not rules:
        return 0
    local_day = int((t + int(utc_offsets(np.array([t], dtype=np.int64), [zone])[0])) // US_PER_DAY)
    given = 0
    for rule in sorted(rules, key=lambda r: r.order):
        spec = rule.spec
        keys = [(programme.id, spec.code, "member", member_id, "-")]
        if spec.limits.budget_points:
            subject = ("store", store_id or 0) if spec.limits.budget_per_store else ("chain", 0)
            keys.append((programme.id, spec.code, *subject, period_key(spec.limits.budget_period, local_day)))
        used = send_usage(conn, keys)()
        if used.get(keys[0], 0) > 0:
            continue  # given already
        points = spec.points
        if spec.limits.budget_points:
            points = max(0, min(points, spec.limits.budget_points - used.get(keys[1], 0)))
        if points <= 0:
            continue
        account = lock_member_account(conn, member_id)
        expires = at + timedelta(days=programme.expiry_days)
        credit = Credit("bonus", f"rule:{spec.code}", points, liability, merchant, at, expires)
        credit_points(conn, account, credit, at, reason=spec.name, store_id=store_id)
        add_usage(conn, {key: points for key in keys})
        given += points
    return given
