"""The points statement explains debt: a return that takes back spent points says how many became debt,
and a later credit says how many of its points repaid it (issue #22, item 15). Service, API view and
CLI, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from loyalty.api.routers.points import statement_page
from loyalty.bootstrap import Context, FrozenClock
from loyalty.config import get_settings
from loyalty.services import points, purchases
from loyalty.services.members import register_member
from loyalty.services.schemas import MemberIn
from loyalty.services.seed import ProgrammeIds
from tests.core.sales import food_sale, sale_return


@pytest.fixture
def in_debt(ctx: Context, clock: FrozenClock, programme: ProgrammeIds) -> int:
    """A member who spent a sale's 100 points, returned the sale (−100: debt), then earned 150."""
    store = programme.store_id
    mid = register_member(ctx, MemberIn(phone="+8613900000077", name="D")).id
    purchases.post_purchase(ctx, food_sale(ctx, store, mid, "D-1", 10_000))  # 100 points, pending
    clock.advance(days=8)  # past the return window: spendable
    points.adjust(ctx, mid, -100, reason="spent at the counter", operator="test")
    purchases.post_return(ctx, sale_return(ctx, store, "D-1", "DR-1", refund_minor=10_000))
    purchases.post_purchase(ctx, food_sale(ctx, store, mid, "D-2", 15_000))  # 150 points
    return mid


def test_statement_shows_debt_created_and_repaid(ctx: Context, in_debt: int) -> None:
    lines = [
        (e.kind, e.amount, e.balance_after, e.debt_created, e.debt_repaid)
        for e in points.statement(ctx, in_debt)
    ]
    assert lines == [
        ("earn", 100, 100, 0, 0),
        ("adjust", -100, 0, 0, 0),
        ("return", -100, -100, 100, 0),  # the points were spent: all 100 are owed
        ("earn", 150, 50, 0, 100),  # 100 of the 150 repaid the debt, 50 are the member's
    ]
    page = statement_page(ctx, in_debt, None, 10)
    newest = page.items[0]
    assert (newest.points, newest.balance_after, newest.debt_repaid, newest.debt_created) == (150, 50, 100, 0)
    assert page.items[1].debt_created == 100


def test_cli_statement_shows_it_too(
    ctx: Context, in_debt: int, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loyalty.cli import app

    monkeypatch.setenv("LOYALTY_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["points", "statement", str(in_debt)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    last = json.loads(result.output)[-1]
    assert (last["amount"], last["balance_after"], last["debt_repaid"]) == (150, 50, 100)
