"""The recommender on small data sets whose answers are known (loyalty.analytics.recommend).

Most cases are worked out by hand; the holdout case plants two tastes (a minority of tea drinkers
among coffee drinkers), which collaborative filtering must find and popularity cannot.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from loyalty.analytics.errors import InputError
from loyalty.analytics.recommend import Recommender, Settings, evaluate
from loyalty.analytics.recommend.content import appeal
from loyalty.analytics.recommend.data import catalogue, encode
from loyalty.analytics.recommend.knn import item_cosine, knn_scores

END = pd.Timestamp("2026-03-31")


def _lines(rows: list[tuple[int, int | None, int, str, str, str | None]]) -> pd.DataFrame:
    """(ticket, member, store, day, item, category) → the recommender's input."""
    return pd.DataFrame(
        {
            "ticket": [r[0] for r in rows],
            "member_id": pd.array([r[1] for r in rows], dtype="Int64"),
            "store_id": [r[2] for r in rows],
            "day": pd.to_datetime([r[3] for r in rows]),
            "item": [r[4] for r in rows],
            "category": [r[5] for r in rows],
        }
    )


def _two_tastes(seed: int = 5) -> pd.DataFrame:
    """40 coffee drinkers and 20 tea drinkers at one store; each buys four items of their own kind in
    January and February (and one anonymous coffee a day), then two more of their kind in March."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[int, int | None, int, str, str, str | None]] = []
    ticket = 0
    for member in range(1, 61):
        kind = "coffee" if member <= 40 else "tea"
        items = [f"{kind}-{i}" for i in rng.permutation(8)]
        for j, item in enumerate(items[:6]):
            ticket += 1
            day = (
                f"2026-01-{1 + (member + 7 * j) % 28:02d}"
                if j < 4
                else f"2026-03-{1 + (member + j) % 27:02d}"
            )
            rows.append((ticket, member, 1, day, item, kind))
    for d in range(1, 29):
        ticket += 1
        rows.append((ticket, None, 1, f"2026-02-{d:02d}", f"coffee-{d % 8}", "coffee"))
    return _lines(rows)


def test_popularity_per_store_is_shrunk_towards_the_chain() -> None:
    """Store 1: receipts {x}, {x, y}; store 2: {y}; prior 2. Chain shares x 2/3, y 2/3 → 1, 1. Store 1:
    w = 2/(2+2) = ½, x ½·1 + ½·⅔ = 5/6, y ½·½ + ½·⅔ = 7/12 → scaled 1, 0.7. Store 2: w = 1/3, x ⅔·⅔ =
    4/9, y ⅓·1 + ⅔·⅔ = 7/9 → 4/7, 1."""
    lines = _lines(
        [
            (1, 1, 1, "2026-03-30", "x", None),
            (2, 2, 1, "2026-03-30", "x", None),
            (2, 2, 1, "2026-03-30", "y", None),
            (3, None, 2, "2026-03-31", "y", None),
        ]
    )
    model = Recommender(Settings(store_prior=2.0)).fit(lines)
    p = model.popularity_
    assert p.stores.tolist() == [1, 2]
    assert p.receipts.tolist() == [3, 2, 1]
    assert p.scores[0].tolist() == pytest.approx([1.0, 1.0])
    assert p.scores[1].tolist() == pytest.approx([1.0, 0.7])
    assert p.scores[2].tolist() == pytest.approx([4 / 7, 1.0])
    assert p.rows_of(np.array([2, 9, -1])).tolist() == [2, 0, 0]  # unknown store: the chain's list
    lists = model.popular_lists(n=2)
    store_two = lists[lists["store_id"] == 2]
    assert store_two["item"].tolist() == ["y", "x"]
    assert store_two["score"].tolist() == pytest.approx([1.0, 4 / 7])


def test_the_blend_weights_follow_the_history() -> None:
    """history_half 3, content 0.35: a member with 1 item gets w_cf = 1/4, content 0.75·0.35 = 0.2625,
    popular 0.4875; with 9 items w_cf = 3/4, content 0.0875, popular 0.1625."""
    rows = [(1, 1, 1, "2026-03-01", "a", "tea")]
    rows += [(10 + i, 2, 1, "2026-03-02", f"i{i}", "tea") for i in range(9)]
    model = Recommender(Settings(history_half=3.0, content_share=0.35)).fit(_lines(rows))
    w = model.weights(model.history_.rows_of(np.array([1, 2])))
    assert w[0].tolist() == pytest.approx([0.25, 0.2625, 0.4875])
    assert w[1].tolist() == pytest.approx([0.75, 0.0875, 0.1625])
    assert model.weights(np.array([0]), (0.0, 3.0, 0.0))[0].tolist() == pytest.approx([0.0, 0.0, 1.0])


def test_a_member_without_history_is_not_in_the_model_and_the_store_list_serves_them() -> None:
    model = Recommender().fit(_two_tastes())
    assert model.history_.rows_of(np.array([999])).tolist() == [-1]
    lists = model.popular_lists(n=3)
    chain = lists[lists["store_id"].isna()]
    assert chain["item"].str.startswith("coffee").all()  # the majority's items, anonymous sales counted
    assert chain["rank"].tolist() == [1, 2, 3]


def test_content_recommends_a_new_item_of_the_members_category() -> None:
    """Member 1 bought tea only; a new tea (first sold a week before the end, once, anonymously) gets
    its category's median appeal and reaches member 1 through content, before the popular coffee."""
    rows = [(1, 1, 1, "2026-01-05", "green", "tea"), (2, 2, 1, "2026-01-05", "green", "tea")]
    rows += [(3 + i, 3 + i, 1, "2026-03-10", "latte", "coffee") for i in range(8)]
    rows += [(20, None, 1, "2026-03-24", "white", "tea")]
    model = Recommender(Settings(history_half=3.0, content_share=0.7)).fit(_lines(rows))
    rows_1 = model.history_.rows_of(np.array([1]))
    recs = model.recommend(rows_1, n=2, exclude="all").frame(model.catalogue_)
    assert recs["item"].tolist() == ["white", "latte"]
    assert recs["reason"].tolist()[0] == "content"
    # bought in January, more than 30 days before the end: green tea may be offered again, first
    again = model.recommend(rows_1, n=3).frame(model.catalogue_)
    assert again["item"].tolist() == ["green", "white", "latte"]


def test_appeal_by_hand() -> None:
    """Tea: green bought by 3, jasmine by 1, white new (0 buyers); coffee: latte by 7.
    appeal = ½ + ½·log(1+b)/log(1+max in category): green 1, jasmine ½ + ½·log 2/log 4 = ¾, latte 1;
    white: 0 buyers → ½, lifted to the tea median of (1, ¾, ½) = ¾."""
    lines = _lines(
        [
            (1, 1, 1, "2026-01-01", "green", "tea"),
            (2, 1, 1, "2026-01-01", "jasmine", "tea"),
            (3, 1, 1, "2026-01-01", "latte", "coffee"),
            (4, None, 1, "2026-03-30", "white", "tea"),
        ]
    )
    encoded, keys = encode(lines)
    cat = catalogue(lines, encoded, keys)
    assert keys.tolist() == ["green", "jasmine", "latte", "white"]
    got = appeal(cat, np.array([3, 1, 7, 0]), np.datetime64("2026-03-31"), 30)
    assert got.tolist() == pytest.approx([1.0, 0.75, 1.0, 0.75])
    old = appeal(cat, np.array([3, 1, 7, 0]), np.datetime64("2026-03-31"), 0)  # nothing is new
    assert old[3] == pytest.approx(0.5)


def test_recent_purchases_and_retired_items_are_not_recommended() -> None:
    """Member 1 bought x five days before the end and y forty days before: x is left out (30 days),
    y may come again; z was last sold 200 days before the end: no longer sold, never recommended."""
    rows = [
        (1, 1, 1, "2026-03-26", "x", "c"),
        (2, 1, 1, "2026-02-19", "y", "c"),
        (3, 2, 1, "2025-09-12", "z", "c"),
        (4, 2, 1, "2026-03-30", "x", "c"),
        (5, 3, 1, "2026-03-30", "y", "c"),
    ]
    model = Recommender().fit(_lines(rows))
    recs = model.recommend(n=3).frame(model.catalogue_)
    mine = recs[recs["member_id"] == 1]["item"].tolist()
    assert mine == ["y"]
    assert "z" not in set(recs["item"])
    everything = model.recommend(n=3, exclude="all").frame(model.catalogue_)
    assert everything[everything["member_id"] == 1].empty


def test_training_is_seeded_and_deterministic() -> None:
    lines = _two_tastes()
    a = Recommender(Settings(threads=1)).fit(lines)
    b = Recommender(Settings(threads=2)).fit(lines)
    assert np.array_equal(a.factors_.members, b.factors_.members)
    assert np.array_equal(a.factors_.items, b.factors_.items)
    pd.testing.assert_frame_equal(a.recommend().frame(a.catalogue_), b.recommend().frame(b.catalogue_))
    c = Recommender(Settings(seed=99)).fit(lines)
    assert not np.array_equal(a.factors_.items, c.factors_.items)


def test_item_cosine_by_hand() -> None:
    """Members {a, b}, {a, b}, {a, c}: cos(a, b) = 2/(√3·√2), cos(a, c) = 1/√3, cos(b, c) = 0. One
    neighbour each: a → b, b → a, c → a. An item scores by its similarity to the bought items among
    its own neighbours: a member who bought a scores b by cos(a, b) and c by cos(a, c); one who
    bought c scores nothing (c is no item's neighbour)."""
    lines = _lines(
        [
            (1, 1, 1, "2026-03-01", "a", None),
            (1, 1, 1, "2026-03-01", "b", None),
            (2, 2, 1, "2026-03-01", "a", None),
            (2, 2, 1, "2026-03-01", "b", None),
            (3, 3, 1, "2026-03-01", "a", None),
            (3, 3, 1, "2026-03-01", "c", None),
        ]
    )
    model = Recommender().fit(lines)
    full = item_cosine(model.history_.counts, neighbours=5).toarray()
    ab, ac = 2 / np.sqrt(6), 1 / np.sqrt(3)
    assert full == pytest.approx(np.array([[0, ab, ac], [ab, 0, 0], [ac, 0, 0]]))
    one = item_cosine(model.history_.counts, neighbours=1)
    assert one.toarray() == pytest.approx(np.array([[0, ab, 0], [ab, 0, 0], [ac, 0, 0]]))
    bought_a = sp.csr_matrix(([1.0], ([0], [0])), shape=(1, 3))
    assert knn_scores(bought_a, one)[0].tolist() == pytest.approx([0.0, ab, ac])
    bought_c = sp.csr_matrix(([1.0], ([0], [2])), shape=(1, 3))
    assert knn_scores(bought_c, one)[0].tolist() == pytest.approx([0.0, 0.0, 0.0])  # c is nobody's neighbour


def test_on_two_tastes_collaborative_filtering_beats_popularity() -> None:
    """Tested on March: popularity offers the tea drinkers coffee; ALS and item neighbours find tea.
    (Four factors: sixteen items and two tastes; the product's 48 would learn each member by heart.)"""
    ev = evaluate(_two_tastes(), cutoff=date(2026, 2, 28), k=3, settings=Settings(factors=4), tune=True)
    assert ev.members == 60
    popular = ev.model("popular").scores
    for name in ("als", "item_knn", "blend"):
        assert ev.model(name).scores.precision > 1.3 * popular.precision, name
    assert ev.model("als").scores.map > popular.map
    assert len(ev.grid) > 1
    assert ev.blend in [shape for shape, _ in ev.grid]
    assert type(ev).from_dict(ev.to_dict()) == ev


def test_bad_input_is_refused_with_the_reason() -> None:
    with pytest.raises(InputError, match="lack the columns item"):
        Recommender().fit(pd.DataFrame({"ticket": [1], "member_id": [1], "store_id": [1], "day": [END]}))
    with pytest.raises(InputError, match="no sales lines"):
        Recommender().fit(_lines([]))
    with pytest.raises(InputError, match="nothing to test"):
        evaluate(_two_tastes(), cutoff=date(2026, 3, 31))
    with pytest.raises(InputError, match="unknown models"):
        evaluate(_two_tastes(), cutoff=date(2026, 2, 28), models=("svd",))
