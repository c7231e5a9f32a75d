"""Basket rules of the product database: which purchases are baskets, scopes, bounds, the CLI.

A small shop, on SQLite and PostgreSQL; the expected rules are worked out by hand from this story:

    store A (Asia/Shanghai)                        store B (Europe/Berlin)
    A1 03-10 10:00  milk, bread                    B1 03-11 23:30 CET  milk, bread
    A2 03-10 11:00  milk, bread, eggs (member)     B2 03-12 12:00      jam, bread
    A3 03-11 10:00  milk, eggs
    A4 03-11 12:00  bread, jam
    A5 03-12 00:10  milk, bread (16:10 UTC on the 11th: the 12th in Shanghai)
    A6 03-12 10:00  milk, bread; the bread returned in full → basket {milk}
    A7 03-12 11:00  tea, returned in full → no basket

Categories: milk and eggs are dairy, bread bakery, jam pantry, tea drinks. All of March 2026.
Eight baskets: milk 6, bread 6, eggs 2, jam 2, {milk, bread} 4, {milk, eggs} 2, {bread, jam} 2,
{bread, eggs} 1, {milk, bread, eggs} 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from loyalty.analytics.basket import BasketInputError, TooManyItemsets
from loyalty.analytics.basket.errors import ScopeTooLarge
from loyalty.bootstrap import Context, FrozenClock
from loyalty.cli import app
from loyalty.config import Settings
from loyalty.domain.errors import NotFound
from loyalty.services import members, merchants, seed
from loyalty.services.basket_rules import BasketScope, Thresholds, basket_rules, load_baskets
from loyalty.services.schemas import MemberIn, PurchaseLineIn, StoreIn
from tests.analytics.shops import BACKENDS, return_at, sell_at, shop_on

SHANGHAI = timezone(timedelta(hours=8))
CET = timezone(timedelta(hours=1))
CATEGORY = {"milk": "dairy", "eggs": "dairy", "bread": "bakery", "jam": "pantry", "tea": "drinks"}
#: the shop's clock before its story begins
MARCH = datetime(2026, 3, 1, tzinfo=UTC)


@dataclass
class Shop:
    ctx: Context
    url: str
    store_a: int
    store_b: int


def _build(ctx: Context, clock: FrozenClock) -> tuple[int, int]:
    clock.now = datetime(2026, 3, 1, 9, 0, tzinfo=SHANGHAI).astimezone(UTC)
    ids = seed.ensure_programme(ctx)
    b = merchants.create_store(
        ctx, StoreIn(merchant_id=ids.merchant_id, code="BER", name="Berlin", timezone="Europe/Berlin")
    ).id
    a = ids.store_id
    member = members.register_member(ctx, MemberIn(phone="+8613900001111", name="m", registration_store_id=a))

    def sell(order: str, when: datetime, store: int, items: list[str], member_id: int | None = None) -> None:
        lines = [PurchaseLineIn(sku=i, category=CATEGORY[i], quantity=1, unit_price_minor=500) for i in items]
        sell_at(ctx, clock, when, store=store, order=order, member=member_id, lines=lines)

    def give_back(order: str, when: datetime, store: int, line_no: int) -> None:
        return_at(ctx, clock, when, store=store, order=order, line_no=line_no)

    sell("A1", datetime(2026, 3, 10, 10, 0, tzinfo=SHANGHAI), a, ["milk", "bread"])
    sell("A2", datetime(2026, 3, 10, 11, 0, tzinfo=SHANGHAI), a, ["milk", "bread", "eggs"], member.id)
    sell("A3", datetime(2026, 3, 11, 10, 0, tzinfo=SHANGHAI), a, ["milk", "eggs"])
    sell("A4", datetime(2026, 3, 11, 12, 0, tzinfo=SHANGHAI), a, ["bread", "jam"])
    sell("B1", datetime(2026, 3, 11, 23, 30, tzinfo=CET), b, ["milk", "bread"])
    sell("A5", datetime(2026, 3, 12, 0, 10, tzinfo=SHANGHAI), a, ["milk", "bread"])
    sell("A6", datetime(2026, 3, 12, 10, 0, tzinfo=SHANGHAI), a, ["milk", "bread"])
    sell("A7", datetime(2026, 3, 12, 11, 0, tzinfo=SHANGHAI), a, ["tea"])
    sell("B2", datetime(2026, 3, 12, 12, 0, tzinfo=CET), b, ["jam", "bread"])
    give_back("A6", datetime(2026, 3, 13, 10, 0, tzinfo=SHANGHAI), a, 2)
    give_back("A7", datetime(2026, 3, 13, 11, 0, tzinfo=SHANGHAI), a, 1)
    clock.now = datetime(2026, 3, 31, 12, 0, tzinfo=SHANGHAI).astimezone(UTC)
    return a, b


def build_shop(ctx: Context, clock: FrozenClock, url: str) -> Shop:
    a, b = _build(ctx, clock)
    return Shop(ctx, url, a, b)


def basket_shop(
    backend: str, tmp_path_factory: pytest.TempPathFactory, name: str, wait: float | None = None
) -> Iterator[Shop]:
    """The shop in a new database on `backend` (the programme on Shanghai's time), for a module's fixture."""
    settings = Settings(timezone="Asia/Shanghai")
    return shop_on(backend, tmp_path_factory, name, MARCH, build_shop, settings=settings, wait=wait)


@pytest.fixture(scope="module", params=BACKENDS)
def shop(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    yield from basket_shop(request.param, tmp_path_factory, "basket")


def _sets(shop: Shop, scope: BasketScope) -> list[frozenset[str]]:
    return sorted((frozenset(b) for b in load_baskets(shop.ctx, scope).baskets.as_lists()), key=sorted)


def test_purchases_are_baskets_without_lines_returned_in_full(shop: Shop) -> None:
    got = _sets(shop, BasketScope())
    expected = [
        {"milk", "bread"},
        {"milk", "bread", "eggs"},
        {"milk", "eggs"},
        {"bread", "jam"},
        {"milk", "bread"},
        {"milk"},
        {"milk", "bread"},
        {"jam", "bread"},
    ]
    assert got == sorted((frozenset(e) for e in expected), key=sorted)


def test_scopes_by_store_period_and_category(shop: Shop) -> None:
    assert len(_sets(shop, BasketScope(store_id=shop.store_a))) == 6
    assert _sets(shop, BasketScope(store_id=shop.store_b)) == sorted(
        [frozenset({"milk", "bread"}), frozenset({"jam", "bread"})], key=sorted
    )
    # business days in each store's zone: A5 (00:10 on the 12th in Shanghai) is out, B1 (23:30 on the
    # 11th in Berlin, already the 12th in Shanghai) is in
    up_to_11 = _sets(shop, BasketScope(end=date(2026, 3, 11)))
    assert len(up_to_11) == 5
    assert frozenset({"jam", "bread"}) not in _sets(
        shop, BasketScope(start=date(2026, 3, 12), store_id=shop.store_a)
    )
    assert len(_sets(shop, BasketScope(start=date(2026, 3, 12)))) == 3  # A5, A6, B2
    categories = _sets(shop, BasketScope(item="category"))
    assert frozenset({"dairy", "bakery"}) in categories
    assert all("drinks" not in b for b in categories)


def test_rules_of_the_chain(shop: Shop) -> None:
    result = basket_rules(shop.ctx, BasketScope(), Thresholds(min_support=0.25, min_confidence=0.5))
    assert (result.baskets, result.lines, result.items, result.itemsets, result.min_count) == (8, 16, 4, 7, 2)
    shown = [(r.antecedent, r.consequent, r.count, r.confidence) for r in result.rules]
    assert shown[:2] in (
        [(("eggs",), ("milk",), 2, 1.0), (("jam",), ("bread",), 2, 1.0)],
        [(("jam",), ("bread",), 2, 1.0), (("eggs",), ("milk",), 2, 1.0)],
    )
    assert {r[:2] for r in shown[2:]} == {(("milk",), ("bread",)), (("bread",), ("milk",))}
    first = result.rules[0]
    assert first.lift == pytest.approx(8 / 6)
    assert first.support == 0.25
    assert first.conviction is None  # always holds
    milk_bread = next(r for r in result.rules if r.antecedent == ("milk",))
    assert milk_bread.lift == pytest.approx(4 * 8 / (6 * 6))
    assert milk_bread.leverage == pytest.approx(4 / 8 - (6 / 8) * (6 / 8))
    assert milk_bread.conviction == pytest.approx((1 - 6 / 8) / (1 - 4 / 6))
    assert result.total == 4


def test_filters_and_order(shop: Shop) -> None:
    t = Thresholds(min_support=0.25, min_confidence=0.5, min_lift=1.0, contains="EG", sort="confidence")
    result = basket_rules(shop.ctx, BasketScope(), t)
    assert [(r.antecedent, r.consequent) for r in result.rules] == [(("eggs",), ("milk",))]
    assert result.total == 1
    t = Thresholds(min_support=0.25, min_confidence=0.5, limit=1)
    assert len(basket_rules(shop.ctx, BasketScope(), t).rules) == 1


def test_an_empty_scope_answers_no_rules(shop: Shop) -> None:
    result = basket_rules(shop.ctx, BasketScope(start=date(2027, 1, 1)), Thresholds())
    assert (result.baskets, result.total, result.rules) == (0, 0, [])


def test_bounds_and_bad_input(shop: Shop) -> None:
    with pytest.raises(ScopeTooLarge) as too_large:
        basket_rules(shop.ctx, BasketScope(), Thresholds(), max_lines=10)
    assert too_large.value.details == {"lines": 16, "limit": 10}
    with pytest.raises(TooManyItemsets) as explosive:
        basket_rules(shop.ctx, BasketScope(), Thresholds(min_support=0.1), max_itemsets=5)
    assert explosive.value.estimated > 5
    with pytest.raises(NotFound):
        load_baskets(shop.ctx, BasketScope(store_id=999))
    with pytest.raises(BasketInputError) as bad:
        load_baskets(shop.ctx, BasketScope(item="brand"))
    assert bad.value.details["errors"][0]["field"] == "item"
    with pytest.raises(BasketInputError) as bad:
        load_baskets(shop.ctx, BasketScope(start=date(2026, 3, 12), end=date(2026, 3, 11)))
    assert bad.value.details["errors"][0]["field"] == "from"
    for t, field in ((Thresholds(sort="price"), "sort"), (Thresholds(limit=0), "limit")):
        with pytest.raises(BasketInputError) as bad:
            basket_rules(shop.ctx, BasketScope(), t)
        assert bad.value.details["errors"][0]["field"] == field
    with pytest.raises(BasketInputError, match="minimum confidence"):
        basket_rules(shop.ctx, BasketScope(), Thresholds(min_confidence=1.5))


runner = CliRunner()


def test_cli_reads_the_database(shop: Shop, tmp_path: Path) -> None:
    out = tmp_path / "rules.parquet"
    args = ["analytics", "basket", "-o", str(out), "--min-support", "0.25", "--min-confidence", "0.5"]
    res = runner.invoke(app, [*args, "--min-length", "2", "--database-url", shop.url])
    assert res.exit_code == 0, res.output
    assert "4 rules from 7 frequent itemsets in 8 baskets" in res.output
    rules = pd.read_parquet(out)
    assert rules.columns.tolist() == [
        "antecedent",
        "consequent",
        "support",
        "confidence",
        "lift",
        "leverage",
        "conviction",
    ]
    assert rules["lift"].iloc[0] == pytest.approx(8 / 6)
    res = runner.invoke(app, [*args, "--item", "category", "--store", "BER", "--database-url", shop.url])
    assert res.exit_code == 0, res.output
    assert "in 2 baskets" in res.output
    res = runner.invoke(app, [*args, "--store", "NOPE", "--database-url", shop.url])
    assert res.exit_code == 2
    assert "no store has the code NOPE" in res.output


def test_cli_reads_files(tmp_path: Path) -> None:
    lines = tmp_path / "baskets.txt"
    lines.write_text("milk,bread\nmilk,bread,eggs\n\nmilk\n", encoding="utf-8")
    out = tmp_path / "rules.csv"
    base = ["analytics", "basket", str(lines), "-o", str(out), "--min-support", "0.5"]
    res = runner.invoke(app, [*base, "--min-confidence", "0.7", "--format", "basket-lines"])
    assert res.exit_code == 0, res.output
    assert "1 empty baskets left out" in res.output
    got = pd.read_csv(out)
    assert set(zip(got["antecedent"], got["consequent"], strict=True)) == {
        ("[]", '["milk"]'),
        ('["bread"]', '["milk"]'),
    }
    long = tmp_path / "long.csv.gz"
    pd.DataFrame({"order": [1, 1, 2, 2, 3], "sku": ["a", "b", "a", "b", "a"]}).to_csv(long, index=False)
    cmd = [
        "analytics",
        "basket",
        str(long),
        "-o",
        str(out),
        "--min-support",
        "0.5",
        "--min-confidence",
        "0.9",
    ]
    res = runner.invoke(app, [*cmd, "--basket", "order", "--item", "sku", "--min-length", "2"])
    assert res.exit_code == 0, res.output
    assert pd.read_csv(out)[["antecedent", "consequent"]].values.tolist() == [['["b"]', '["a"]']]
    res = runner.invoke(app, [*cmd, "--store", "A"])
    assert res.exit_code == 2
    assert "--store applies to the database, not to a file" in res.output
    res = runner.invoke(app, [*cmd[:4], str(tmp_path / "out.xlsx"), *cmd[5:]])
    assert res.exit_code == 2
    assert "unsupported output type" in res.output
