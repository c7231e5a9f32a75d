"""The rules a programme starts with live in one place (`seed.DEFAULT_RULES`): `loyalty programme init`
and `ensure_programme` (demo, tests, first registration) store the same ones, and a rule given to
`ensure_programme` replaces only its own default."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from loyalty.bootstrap import Context
from loyalty.db.core_tables import programmes
from loyalty.services import seed

RULES = list(seed.DEFAULT_RULES)


def _stored_rules(ctx: Context) -> dict[str, Any]:
    with ctx.engine.connect() as conn:
        row = conn.execute(select(*(programmes.c[name] for name in RULES))).one()
    return dict(row._mapping)


def _defaults() -> dict[str, Any]:
    return {**seed.DEFAULT_RULES, "excluded_categories": list(seed.DEFAULT_RULES["excluded_categories"])}


@pytest.mark.parametrize("start", [seed.init_programme, seed.ensure_programme])
def test_init_and_ensure_store_the_default_rules(ctx: Context, start: Callable[[Context], object]) -> None:
    start(ctx)
    assert _stored_rules(ctx) == _defaults()


def test_a_given_rule_replaces_only_its_default(ctx: Context) -> None:
    seed.ensure_programme(ctx, expiry_days=60, excluded_categories=("tobacco",))
    assert _stored_rules(ctx) == {**_defaults(), "expiry_days": 60, "excluded_categories": ["tobacco"]}


def test_an_unknown_rule_is_refused_before_anything_is_written(ctx: Context) -> None:
    with pytest.raises(TypeError, match="expiry_day"):
        seed.ensure_programme(ctx, expiry_day=60)  # type: ignore[call-arg]
    assert seed.programme_state(ctx).programme_id is None
