"""Stored basket rules on SQLite and PostgreSQL: the refresh stores what mining gives, replaces the
sets in one transaction, runs as a job; the reads filter, sort and page; the cross-sell look-up.

The small shop of `test_basket_service` (eight baskets in March 2026: milk 6, bread 6, eggs 2, jam 2,
{milk, bread} 4, {milk, eggs} 2, {bread, jam} 2), its clock at 31 March: the last 90 days hold it
all. Its stores are too small for the default thresholds (an itemset must be in 10 baskets), so most
tests mine at `SMALL`: 25 % of the baskets, at least 2 of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from loyalty.db.basket_rule_tables import basket_rule_sets, basket_rules
from loyalty.domain.actors import SYSTEM
from loyalty.domain.errors import InvalidInput, NotFound
from loyalty.services import jobs
from loyalty.services.basket_rules import (
    BasketScope,
    RefreshThresholds,
    RuleRow,
    Thresholds,
    cross_sell,
    refresh_basket_rules,
    rule_sets,
    stored_rules,
    suggest,
    write_sets,
)
from loyalty.services.basket_rules import basket_rules as mine_now
from loyalty.services.basket_rules.refresh import MinedSet
from tests.analytics.shops import BACKENDS
from tests.analytics.test_basket_service import Shop, basket_shop

SMALL = RefreshThresholds(min_support=0.25, min_baskets=2, min_confidence=0.5, min_length=2, max_length=4)
START, END = date(2026, 1, 1), date(2026, 3, 31)


@pytest.fixture(scope="module", params=BACKENDS)
def shop(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    yield from basket_shop(request.param, tmp_path_factory, "stored", wait=30)


def _key(r: RuleRow) -> tuple[object, ...]:
    return (
        r.antecedent,
        r.consequent,
        r.count,
        round(r.support, 12),
        round(r.confidence, 12),
        round(r.lift, 12),
    )


def test_the_stored_rules_are_what_mining_gives(shop: Shop) -> None:
    done = refresh_basket_rules(shop.ctx, thresholds=SMALL)
    assert (done.period_start, done.period_end) == (START, END)  # 90 business days up to 31 March
    assert (done.sets, done.stores, done.baskets) == (6, 2, 8)
    sets = rule_sets(shop.ctx)
    assert [(s.store.id if s.store else None, s.level) for s in sets] == [
        (None, "sku"),
        (None, "category"),
        (shop.store_a, "sku"),
        (shop.store_a, "category"),
        (shop.store_b, "sku"),
        (shop.store_b, "category"),
    ]
    for s in sets:
        store_id = s.store.id if s.store else None
        mined = mine_now(
            shop.ctx,
            BasketScope(store_id=store_id, start=START, end=END, item=s.level),
            Thresholds(min_support=s.min_support, min_confidence=0.5, min_length=2, max_length=4, limit=1000),
        )
        stored = stored_rules(shop.ctx, store_id=store_id, level=s.level, limit=1000)
        assert stored.rule_set == s
        assert (s.baskets, s.lines, s.items, s.itemsets, s.min_count, s.frequent_items) == (
            mined.baskets,
            mined.lines,
            mined.items,
            mined.itemsets,
            mined.min_count,
            mined.frequent_items,
        ), (store_id, s.level)
        assert s.rules_found == s.rules_stored == mined.total == stored.total
        assert [_key(r) for r in stored.rules] == [_key(r) for r in mined.rules], (store_id, s.level)
        assert [r.conviction for r in stored.rules] == pytest.approx([r.conviction for r in mined.rules])
    chain = stored_rules(shop.ctx, limit=1000)
    assert {(r.antecedent, r.consequent) for r in chain.rules} == {
        (("eggs",), ("milk",)),
        (("jam",), ("bread",)),
        (("milk",), ("bread",)),
        (("bread",), ("milk",)),
    }
    # store B has two baskets: an itemset must be in both (the 2-basket floor is the whole store)
    b = next(s for s in sets if s.store and s.store.id == shop.store_b and s.level == "sku")
    assert (b.baskets, b.min_support, b.min_count) == (2, 1.0, 2)


def test_filters_sorting_and_paging(shop: Shop) -> None:
    refresh_basket_rules(shop.ctx, thresholds=SMALL)
    egg = stored_rules(shop.ctx, contains="EG")
    assert [(r.antecedent, r.consequent) for r in egg.rules] == [(("eggs",), ("milk",))]
    assert egg.total == 1
    likelier = stored_rules(shop.ctx, min_lift=1.2)
    assert likelier.total == 2
    assert all(r.lift >= 1.2 for r in likelier.rules)
    for sort in ("confidence", "support", "leverage", "conviction"):
        got = stored_rules(shop.ctx, sort=sort).rules
        values = [float("inf") if getattr(r, sort) is None else getattr(r, sort) for r in got]
        assert values == sorted(values, reverse=True), sort
    whole = stored_rules(shop.ctx).rules
    pages = stored_rules(shop.ctx, limit=3).rules + stored_rules(shop.ctx, offset=3, limit=3).rules
    assert pages == whole
    assert stored_rules(shop.ctx, offset=10).rules == []
    assert stored_rules(shop.ctx, contains="100%_").total == 0  # LIKE's wildcards are taken literally


def test_a_second_refresh_replaces_the_sets_and_a_failed_write_changes_nothing(shop: Shop) -> None:
    refresh_basket_rules(shop.ctx, thresholds=SMALL)
    before = rule_sets(shop.ctx)
    rules_before = stored_rules(shop.ctx, limit=1000).rules
    good = MinedSet(
        store_id=None,
        level="sku",
        period_start=START,
        period_end=END,
        min_support=0.5,
        min_count=4,
        min_confidence=0.5,
        min_length=2,
        max_length=4,
        baskets=8,
        lines=16,
        items=4,
        frequent_items=2,
        itemsets=3,
        rules_found=0,
        computed_at=shop.ctx.now(),
    )
    # a level the table's CHECK refuses, written after the chain's set was replaced
    poisoned = MinedSet(**{**good.__dict__, "store_id": shop.store_a, "level": "brand"})
    with pytest.raises(IntegrityError):
        write_sets(shop.ctx, [good, poisoned])
    assert rule_sets(shop.ctx) == before  # the chain's set was deleted and rewritten, then rolled back
    assert stored_rules(shop.ctx, limit=1000).rules == rules_before

    stricter = RefreshThresholds(**{**SMALL.__dict__, "min_confidence": 0.9})
    refresh_basket_rules(shop.ctx, thresholds=stricter)
    after = rule_sets(shop.ctx)
    assert len(after) == len(before)
    assert {s.min_confidence for s in after} == {0.9}
    assert {(r.antecedent, r.consequent) for r in stored_rules(shop.ctx).rules} == {
        (("eggs",), ("milk",)),
        (("jam",), ("bread",)),
    }
    with shop.ctx.engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(basket_rules)).scalar_one()
        sets = conn.execute(select(func.count()).select_from(basket_rule_sets)).scalar_one()
    assert (sets, stored) == (len(after), sum(s.rules_stored for s in after))  # no orphan rule left


def test_the_job_mines_at_the_default_thresholds(shop: Shop) -> None:
    job, result = jobs.run_now(shop.ctx, jobs.BASKET_RULES, SYSTEM, params={"days": 30})
    assert job.status == "done"
    assert job.progress_total == job.progress_done == 2 + 3 * 2  # load, 3 scopes × 2 levels, save
    assert result["start"] == "2026-03-02"
    assert (result["sets"], result["stores"], result["baskets"]) == (6, 2, 8)
    chain = stored_rules(shop.ctx).rule_set
    assert chain is not None
    # eight baskets, fewer than the ten an itemset needs: a set that says so, without rules
    assert (chain.baskets, chain.min_count, chain.rules_found) == (8, 10, 0)
    assert chain.period_start == date(2026, 3, 2)
    assert jobs.permission_for(jobs.BASKET_RULES) == "analytics:refresh"


def test_cross_sell_offers_what_the_basket_fires(shop: Shop) -> None:
    refresh_basket_rules(shop.ctx, thresholds=SMALL)
    offered = cross_sell(shop.ctx, ["eggs", "tea"])
    assert [(r.antecedent, r.consequent) for r in offered.rules] == [(("eggs",), ("milk",))]
    both = cross_sell(shop.ctx, ["milk", "jam"])  # milk ⇒ bread (lift 8/9 < 1) and jam ⇒ bread
    assert [(r.antecedent, r.consequent) for r in both.rules] == [(("jam",), ("bread",))]
    every = cross_sell(shop.ctx, ["milk", "jam"], min_lift=0)
    assert [r.antecedent for r in every.rules] == [("jam",), ("milk",)]  # best lift first
    assert cross_sell(shop.ctx, ["eggs", "milk"]).rules == []  # milk is held already
    assert cross_sell(shop.ctx, []).rules == []
    # store B's set has no rule: the chain's answers; a basket too big to enumerate is matched in Python
    assert cross_sell(shop.ctx, ["eggs"], store_id=shop.store_b).rule_set == offered.rule_set
    many = ["eggs", *[f"x{i}" for i in range(60)]]
    assert cross_sell(shop.ctx, many).rules == offered.rules
    assert cross_sell(shop.ctx, ["dairy"], level="category").rule_set is not None


def test_the_quote_suggests_what_the_cart_fires_and_follows_a_new_refresh(shop: Shop) -> None:
    from loyalty.services.earning_rules.quote import QuoteIn, quote
    from loyalty.services.schemas import PurchaseLineIn

    def suggested(*skus: str, store: int = shop.store_a, n: int = 3) -> list[tuple[object, object]]:
        lines = [PurchaseLineIn(sku=s, quantity=1, unit_price_minor=500) for s in skus]
        quoted = quote(shop.ctx, QuoteIn(store_id=store, lines=lines, suggestions=n))
        return [(x.items, x.because) for x in quoted.suggestions]

    refresh_basket_rules(shop.ctx, thresholds=SMALL)
    assert suggested("eggs") == [(("milk",), ("eggs",))]
    # store A's own set: jam ⇒ bread is not in it (one basket of A); store B has no rule: the chain's
    assert suggested("eggs", "jam") == [(("milk",), ("eggs",))]
    chain = [(("bread",), ("jam",)), (("milk",), ("eggs",))]  # equal lift: the set's rank
    assert suggested("eggs", "jam", store=shop.store_b) in (chain, chain[::-1])
    assert len(suggested("eggs", "jam", store=shop.store_b, n=1)) == 1
    assert suggested("milk", store=shop.store_b) == []  # milk ⇒ bread is less likely than by chance
    assert suggested("eggs", "milk") == []  # what the cart holds is not offered
    lines = [PurchaseLineIn(sku="eggs", quantity=1, unit_price_minor=500)]
    assert quote(shop.ctx, QuoteIn(store_id=shop.store_a, lines=lines)).suggestions == ()  # not asked
    # a refresh that keeps no rule: the next quote reads the new sets, not the index of the old ones
    refresh_basket_rules(shop.ctx, thresholds=RefreshThresholds(min_support=0.9, min_baskets=8))
    assert suggested("eggs") == []
    refresh_basket_rules(shop.ctx, thresholds=SMALL)
    assert suggested("eggs") == [(("milk",), ("eggs",))]
    with pytest.raises(InvalidInput) as bad, shop.ctx.engine.connect() as conn:
        suggest(shop.ctx, conn, shop.store_a, ["eggs"], 11)
    assert bad.value.details["errors"][0]["field"] == "suggestions"


def test_bad_questions_are_named(shop: Shop) -> None:
    with pytest.raises(InvalidInput) as bad:
        refresh_basket_rules(shop.ctx, days=0)
    assert bad.value.code == "BASKET_INPUT_INVALID"
    assert bad.value.details["errors"][0]["field"] == "days"
    for kwargs, field in (
        ({"level": "brand"}, "level"),
        ({"sort": "price"}, "sort"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"min_lift": -1.0}, "min_lift"),
    ):
        with pytest.raises(InvalidInput) as bad:
            stored_rules(shop.ctx, **kwargs)  # type: ignore[arg-type]
        assert bad.value.details["errors"][0]["field"] == field, kwargs
    with pytest.raises(NotFound):
        stored_rules(shop.ctx, store_id=999_999)
    with pytest.raises(InvalidInput):
        refresh_basket_rules(shop.ctx, thresholds=RefreshThresholds(min_length=3, max_length=2))


def test_the_cli_refreshes_lists_and_shows(shop: Shop) -> None:
    import json

    from typer.testing import CliRunner

    from loyalty.cli import app

    def cli(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, ["analytics", "basket-rules", *args, "--database-url", shop.url])
        return result.exit_code, result.stdout + result.stderr

    code, out = cli("refresh", "--days", "45", "--format", "json")
    assert code == 0, out
    body = json.loads(out)
    # the CLI keeps the real clock: the 45 days up to today, six sets (chain and two stores, two levels)
    days = date.fromisoformat(body["end"]) - date.fromisoformat(body["start"])
    assert (days.days, len(body["sets"]), body["sets"][0]["start"]) == (44, 6, body["start"])
    code, out = cli("sets")
    assert code == 0, out
    assert "category" in out
    refresh_basket_rules(shop.ctx, thresholds=SMALL)
    code, out = cli("show", "--contains", "egg", "--format", "json")
    assert code == 0, out
    shown = json.loads(out)
    assert [(r["antecedent"], r["consequent"]) for r in shown["rules"]] == [(["eggs"], ["milk"])]
    assert shown["rule_set"]["min_confidence"] == 0.5
    code, out = cli("show", "--store", "NOPE")
    assert code == 1
    assert "STORE_NOT_FOUND" in out
    code, out = cli("cross-sell", "eggs", "jam", "--store", "BER", "--format", "json")
    assert code == 0, out
    fired = json.loads(out)
    assert sorted((r["antecedent"], r["consequent"]) for r in fired["rules"]) == [
        (["eggs"], ["milk"]),
        (["jam"], ["bread"]),
    ]  # Berlin's own set has no rule: the chain's
    assert fired["rule_set"]["store_id"] is None
    code, out = cli("cross-sell", "eggs", "milk")
    assert code == 0, out
    assert "0 of" in out  # milk is held already: nothing to offer
