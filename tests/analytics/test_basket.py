"""Association rules: the published Groceries and Online Retail figures, the measures, bad input.

Groceries (arules' data set; Hahsler et al.): apriori(supp = 0.001, conf = 0.8) gives 410 rules, and
the figures below are the ones the issue quotes (R's arules and Borgelt's pyfim agree on them).
Online Retail: invoices as baskets, stock codes as items, cancellations and non-product codes out.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loyalty.analytics.basket import (
    BasketInputError,
    TooManyItemsets,
    association_rules,
    frequent_itemsets,
    from_columns,
    from_lists,
    min_count_for,
    mine,
    read_baskets,
)
from tests.analytics.conftest import _data_dir

# Codes of the Online Retail data that are not products: postage, discounts, manual entries,
# carriage, bank and marketplace fees, samples, charity, pads, adjustments and gift vouchers.
NON_PRODUCTS = ("POST", "D", "M", "C2", "DOT", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS", "B", "S", "m")


@pytest.fixture(scope="module")
def groceries_path() -> Path:
    return _data_dir() / "groceries.csv.gz"


@pytest.fixture(scope="module")
def groceries(groceries_path: Path):  # type: ignore[no-untyped-def]
    return read_baskets(groceries_path, "basket-lines")


@pytest.fixture(scope="module")
def groceries_itemsets(groceries):  # type: ignore[no-untyped-def]
    return frequent_itemsets(groceries, 0.001)


def retail_baskets():  # type: ignore[no-untyped-def]
    """Online Retail's invoices as baskets of stock codes (cancellations and non-products out)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv

    table = csv.read_csv(
        _data_dir() / "online_retail.csv.gz",
        convert_options=csv.ConvertOptions(
            include_columns=["InvoiceNo", "StockCode", "Quantity", "UnitPrice"],
            column_types={"InvoiceNo": pa.string(), "StockCode": pa.string()},
        ),
    )
    keep = pc.and_(
        pc.invert(pc.starts_with(table["InvoiceNo"], "C")),
        pc.and_(pc.greater(table["Quantity"], 0), pc.greater(table["UnitPrice"], 0)),
    )
    keep = pc.and_(keep, pc.invert(pc.is_in(table["StockCode"], pa.array(NON_PRODUCTS))))
    keep = pc.and_(keep, pc.invert(pc.starts_with(table["StockCode"], "gift_")))
    table = table.filter(keep)
    return from_columns(table["InvoiceNo"], table["StockCode"])


def test_groceries_shape(groceries) -> None:  # type: ignore[no-untyped-def]
    assert groceries.count == 9835
    assert len(groceries.labels) == 169
    assert len(groceries.codes) == 43367
    assert "cream cheese " in groceries.labels  # labels kept exactly as written


def test_groceries_frequent_itemsets(groceries_itemsets) -> None:  # type: ignore[no-untyped-def]
    assert groceries_itemsets.min_count == 10  # 0.001 × 9835 = 9.835
    assert groceries_itemsets.count() == 13492


def test_groceries_rules_at_confidence_08(groceries_itemsets) -> None:  # type: ignore[no-untyped-def]
    rules = association_rules(groceries_itemsets, 0.8)
    assert len(rules) == 410
    assert Counter(rules.length.tolist()) == {3: 29, 4: 229, 5: 140, 6: 12}
    top = rules.sorted("lift").to_frame().iloc[0]
    assert json.loads(top["antecedent"]) == ["liquor", "red/blush wine"]
    assert json.loads(top["consequent"]) == ["bottled beer"]
    assert round(top["lift"], 3) == 11.235
    assert top["support"] == pytest.approx(19 / 9835)
    assert top["confidence"] == pytest.approx(19 / 21)


def test_groceries_rules_at_confidence_05(groceries_itemsets) -> None:  # type: ignore[no-untyped-def]
    assert len(association_rules(groceries_itemsets, 0.5)) == 5668


def test_groceries_at_support_0006_min_length_2(groceries) -> None:  # type: ignore[no-untyped-def]
    rules = mine(groceries, 0.006, 0.25, min_length=2)
    assert len(rules) == 463
    # with arules' default minimum length of 1 the rule {} ⇒ {whole milk} (support 0.2555) joins them
    assert len(mine(groceries, 0.006, 0.25)) == 464


def test_groceries_redundant_rules_pruned(groceries_itemsets) -> None:  # type: ignore[no-untyped-def]
    rules = association_rules(groceries_itemsets, 0.8)
    kept = association_rules(groceries_itemsets, 0.8, prune_redundant=True)
    assert len(kept) == 392  # arules: rules[!is.redundant(rules)]
    conf = dict(zip(_keys(rules), rules.confidence.tolist(), strict=True))
    # every pruned rule has a more general rule (of any confidence) at least as confident; no kept one has
    every = association_rules(groceries_itemsets, 0.0, min_length=2)
    general = dict(zip(_keys(every), every.confidence.tolist(), strict=True))
    for ante, cons in set(conf) - set(_keys(kept)):
        assert any(general[(sub, cons)] >= conf[(ante, cons)] for sub in _proper_subsets(ante))
    for ante, cons in _keys(kept):
        assert all(general[(sub, cons)] < conf[(ante, cons)] for sub in _proper_subsets(ante))


def _keys(rules) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:  # type: ignore[no-untyped-def]
    ante, cons = rules.item_lists()
    return [(tuple(a), tuple(c)) for a, c in zip(ante, cons, strict=True)]


def _proper_subsets(items: tuple[str, ...]) -> list[tuple[str, ...]]:
    from itertools import combinations

    return [c for r in range(1, len(items)) for c in combinations(items, r)]


def test_closed_and_maximal_itemsets(groceries_itemsets) -> None:  # type: ignore[no-untyped-def]
    groceries_itemsets.mark_closed_maximal()
    closed = sum(int(level.closed.sum()) for level in groceries_itemsets.levels[1:])
    maximal = sum(int(level.maximal.sum()) for level in groceries_itemsets.levels[1:])
    # pyfim: eclat(target="c") → 13464 closed, eclat(target="m") → 7794 maximal, at support 0.1 %
    assert (closed, maximal) == (13464, 7794)
    frame = groceries_itemsets.to_frame("maximal")
    assert len(frame) == 7794
    assert len(groceries_itemsets.to_frame("closed")) == 13464
    assert len(groceries_itemsets.to_frame()) == 13492
    top = frame.sort_values(["length", "count"], ascending=False).iloc[0]
    assert top["length"] == 6
    assert json.loads(top["items"]) == sorted(json.loads(top["items"]))
    assert top["support"] == top["count"] / 9835


def test_online_retail() -> None:
    baskets = retail_baskets()
    assert baskets.count == 19773
    itemsets = frequent_itemsets(baskets, 0.01)
    assert itemsets.count() == 2007
    assert len(association_rules(itemsets, 0.5)) == 882


def test_measures_on_a_small_example() -> None:
    baskets = from_lists([["a", "b"], ["a", "b", "c"], ["a"], ["b", "c"], ["a", "b"]])
    rules = mine(baskets, 0.2, 0.0, min_length=2, max_length=2).to_frame()
    row = rules[(rules["antecedent"] == '["a"]') & (rules["consequent"] == '["b"]')].iloc[0]
    n, ab, a, b = 5, 3, 4, 4
    assert row["support"] == pytest.approx(ab / n)
    assert row["confidence"] == pytest.approx(ab / a)
    assert row["lift"] == pytest.approx(ab * n / (a * b))
    assert row["leverage"] == pytest.approx(ab / n - (a / n) * (b / n))
    assert row["conviction"] == pytest.approx((1 - b / n) / (1 - ab / a))
    always = rules[(rules["antecedent"] == '["c"]') & (rules["consequent"] == '["b"]')].iloc[0]
    assert always["confidence"] == 1.0
    assert math.isinf(always["conviction"])


def test_multi_item_consequents() -> None:
    baskets = from_lists([["a", "b", "c"], ["a", "b", "c"], ["a", "b"], ["c"]])
    rules = mine(baskets, 0.5, 0.5, min_length=3, max_consequent=2)
    pairs = {(tuple(a), tuple(c)) for a, c in zip(*rules.item_lists(), strict=True)}
    assert (("a",), ("b", "c")) in pairs
    assert (("a", "b"), ("c",)) in pairs
    row = rules.to_frame()
    conf = row[(row["antecedent"] == '["a"]') & (row["consequent"] == '["b", "c"]')]["confidence"].iloc[0]
    assert conf == pytest.approx(2 / 3)


def test_min_count_is_the_share_as_compared() -> None:
    assert min_count_for(0.001, 9835) == 10
    assert min_count_for(0.001, 10000) == 10
    assert min_count_for(0.01, 300) == 3
    assert min_count_for(1.0, 7) == 7
    for bad in (0.0, -0.1, 1.5, float("nan")):
        with pytest.raises(BasketInputError, match="minimum support"):
            min_count_for(bad, 10)


def test_empty_baskets_are_left_out_and_no_baskets_is_refused(tmp_path: Path) -> None:
    lines = tmp_path / "b.txt"
    lines.write_text("milk,bread\n\nmilk\n\n", encoding="utf-8")
    baskets = read_baskets(lines, "basket-lines")
    assert (baskets.count, baskets.empty) == (2, 2)
    assert frequent_itemsets(baskets, 0.5).count() == 3  # milk 2/2, bread and {milk, bread} 1/2
    empty = tmp_path / "e.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(BasketInputError) as caught:
        frequent_itemsets(read_baskets(empty, "basket-lines"), 0.1)
    assert caught.value.code == "BASKET_INPUT_INVALID"
    assert "no baskets with items" in caught.value.message


def test_explosive_support_is_refused_with_an_estimate(groceries) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TooManyItemsets) as caught:
        frequent_itemsets(groceries, 0.0001)  # one basket: every subset of a 32-item basket
    assert caught.value.code == "BASKET_TOO_MANY_ITEMSETS"
    assert caught.value.estimated >= 2**32 - 1
    assert caught.value.details["min_count"] == 1
    with pytest.raises(TooManyItemsets) as caught:
        frequent_itemsets(groceries, 0.0003, limit=100_000)  # 166,682 itemsets in truth
    assert 100_000 < caught.value.estimated < 1_000_000
    assert frequent_itemsets(groceries, 0.0003, limit=200_000).count() == 166682


def test_max_length_bounds_itemsets_and_rules(groceries) -> None:  # type: ignore[no-untyped-def]
    itemsets = frequent_itemsets(groceries, 0.001, max_length=3)
    assert itemsets.count() == 157 + 2981 + 6831
    assert not itemsets.complete
    rules = association_rules(itemsets, 0.5)
    assert set(rules.length.tolist()) <= {1, 2, 3}


def test_long_file_rows_and_columns(tmp_path: Path) -> None:
    table = tmp_path / "lines.csv"
    table.write_text("invoice,code\n1,00123\n1,85123A\n2,00123\n", encoding="utf-8")
    baskets = read_baskets(table, "long", basket="invoice", item="code")
    assert sorted(baskets.labels) == ["00123", "85123A"]  # codes stay text
    with pytest.raises(BasketInputError, match="no column basket"):
        read_baskets(table, "long")
    bad = tmp_path / "bad.csv"
    bad.write_text("basket,item\n1,a\n2,\n", encoding="utf-8")
    with pytest.raises(BasketInputError, match="row 2: the item column is empty"):
        read_baskets(bad, "long")
    parquet = tmp_path / "lines.parquet"
    pd.DataFrame({"basket": [1, 1, 2], "item": [10, 20, 10]}).to_parquet(parquet)
    baskets = read_baskets(parquet, "long")
    assert sorted(baskets.labels) == ["10", "20"]
    assert baskets.count == 2


def test_rules_are_ordered_best_first(groceries_itemsets) -> None:  # type: ignore[no-untyped-def]
    rules = association_rules(groceries_itemsets, 0.5)
    for measure in ("lift", "confidence", "support", "leverage"):
        values = rules.sorted(measure).measure(measure)
        assert np.all(np.diff(values) <= 0)
