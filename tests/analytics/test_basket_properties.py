"""The miner against a brute-force counter on small random baskets: itemsets, rules and flags exact.

Every subset of the items is counted by looking at every basket; supports, confidences and lifts are
compared as exact fractions. The miner's alternative paths (pairs enumerated or counted as bits,
pair tidsets built either way, the sparse pair count of many items) are each forced in turn.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterator
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.analytics.basket import association_rules, frequent_itemsets, from_lists
from loyalty.analytics.basket import itemsets as miner

ITEMS = "abcdefghij"

baskets_st = st.lists(
    st.lists(st.sampled_from(ITEMS), min_size=0, max_size=9), min_size=1, max_size=40
).filter(lambda bs: any(bs))
supports = st.sampled_from([0.01, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5])
confidences = st.sampled_from([0.0, 0.3, 0.5, 0.7, 1.0])
many_baskets_st = st.lists(
    st.lists(st.sampled_from(ITEMS[:8]), min_size=0, max_size=7), min_size=130, max_size=300
).filter(lambda bs: any(bs))
MODES = ("auto", "enumerate", "bits", "sparse", "tids-bits", "tids-pairs", "chunks")


@contextlib.contextmanager
def mode(name: str) -> Iterator[None]:
    """Force one of the miner's paths by its cost constants."""
    saved = (miner._PAIR_COST, miner._WORD_COST, miner._DENSE_PAIRS, miner._CHUNK_PAIRS)
    try:
        if name == "enumerate":
            miner._PAIR_COST, miner._WORD_COST = 0.0, 1.0
        elif name == "bits":
            miner._PAIR_COST, miner._WORD_COST = 1e9, 0.0
        elif name == "sparse":
            miner._DENSE_PAIRS = 0
        elif name == "tids-bits":
            miner._PAIR_COST, miner._WORD_COST = 1e9, 1e-9
        elif name == "tids-pairs":
            miner._PAIR_COST, miner._WORD_COST = 1e-9, 1e9
        elif name == "chunks":  # candidates and basket pairs in chunks of a few
            miner._CHUNK_PAIRS = 5
        yield
    finally:
        miner._PAIR_COST, miner._WORD_COST, miner._DENSE_PAIRS, miner._CHUNK_PAIRS = saved


def brute_counts(baskets: list[list[str]]) -> tuple[int, dict[frozenset[str], int]]:
    sets = [frozenset(b) for b in baskets if b]
    items = sorted(set().union(*sets))
    counts: dict[frozenset[str], int] = {}
    for r in range(1, len(items) + 1):
        for combo in itertools.combinations(items, r):
            z = frozenset(combo)
            c = sum(1 for s in sets if z <= s)
            if c:
                counts[z] = c
    return len(sets), counts


def frequent(n: int, counts: dict[frozenset[str], int], support: float) -> dict[frozenset[str], int]:
    return {z: c for z, c in counts.items() if c / n >= support}


def mined_itemsets(result) -> dict[frozenset[str], int]:  # type: ignore[no-untyped-def]
    out = {}
    for level in result.levels[1:]:
        for row, count in zip(level.items.tolist(), level.counts.tolist(), strict=True):
            out[frozenset(result.labels[result.item_of[i]] for i in row)] = count
    return out


@settings(max_examples=100, deadline=None)
@given(baskets=baskets_st, support=supports, path=st.sampled_from(MODES))
def test_itemsets_equal_brute_force(baskets: list[list[str]], support: float, path: str) -> None:
    n, counts = brute_counts(baskets)
    with mode(path):
        result = frequent_itemsets(from_lists(baskets), support)
    assert result.baskets == n
    assert mined_itemsets(result) == frequent(n, counts, support)


@settings(max_examples=25, deadline=None)
@given(
    baskets=many_baskets_st,
    support=st.sampled_from([0.005, 0.02, 0.05, 0.1]),
    path=st.sampled_from(MODES),
)
def test_itemsets_of_many_baskets_equal_brute_force(
    baskets: list[list[str]], support: float, path: str
) -> None:
    """Tidsets of several words: projections that shrink a class's width and ones that keep it."""
    n, counts = brute_counts(baskets)
    with mode(path):
        result = frequent_itemsets(from_lists(baskets), support)
    assert mined_itemsets(result) == frequent(n, counts, support)


@settings(max_examples=100, deadline=None)
@given(
    baskets=baskets_st,
    support=supports,
    confidence=confidences,
    lengths=st.tuples(st.integers(1, 4), st.integers(0, 3)),
)
def test_rules_equal_brute_force(
    baskets: list[list[str]], support: float, confidence: float, lengths: tuple[int, int]
) -> None:
    min_length, extra = lengths
    max_length = min_length + extra
    n, counts = brute_counts(baskets)
    freq = frequent(n, counts, support)
    expected = {}
    for z, c in freq.items():
        if not min_length <= len(z) <= max_length:
            continue
        for y in z:
            x = z - {y}
            cx = counts[x] if x else n
            if c / cx >= confidence:
                expected[(tuple(sorted(x)), (y,))] = (
                    Fraction(c, n),
                    Fraction(c, cx),
                    Fraction(c * n, cx * counts[frozenset([y])]),
                )
    itemsets = frequent_itemsets(from_lists(baskets), support, max_length=max_length)
    rules = association_rules(itemsets, confidence, min_length=min_length, max_length=max_length)
    frame = rules.to_frame()
    got = {
        (tuple(json.loads(r.antecedent)), tuple(json.loads(r.consequent))): (r.support, r.confidence, r.lift)
        for r in frame.itertuples()
    }
    assert set(got) == set(expected)
    for key, (s, c, li) in expected.items():
        assert got[key][0] == float(s)
        assert got[key][1] == float(c)
        assert got[key][2] == pytest.approx(float(li), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(baskets=baskets_st, support=supports)
def test_closed_and_maximal_flags(baskets: list[list[str]], support: float) -> None:
    n, counts = brute_counts(baskets)
    freq = frequent(n, counts, support)
    result = frequent_itemsets(from_lists(baskets), support)
    result.mark_closed_maximal()
    for level in result.levels[1:]:
        assert level.closed is not None
        assert level.maximal is not None
        for row, closed, maximal in zip(level.items.tolist(), level.closed, level.maximal, strict=True):
            z = frozenset(result.labels[result.item_of[i]] for i in row)
            supersets = [s for s in freq if z < s]
            assert bool(maximal) == (not supersets)
            assert bool(closed) == all(freq[s] < freq[z] for s in supersets)


@settings(max_examples=40, deadline=None)
@given(baskets=baskets_st, support=supports, confidence=confidences)
def test_redundant_rules_match_their_definition(
    baskets: list[list[str]], support: float, confidence: float
) -> None:
    _n, counts = brute_counts(baskets)
    itemsets = frequent_itemsets(from_lists(baskets), support)
    every = association_rules(itemsets, confidence, min_length=2)
    kept = association_rules(itemsets, confidence, min_length=2, prune_redundant=True)

    def conf(x: frozenset[str], y: str) -> Fraction:
        return Fraction(counts[x | {y}], counts[x])

    expected = set()
    for ante, cons in zip(*every.item_lists(), strict=True):
        x, y = frozenset(ante), cons[0]
        general = [frozenset(s) for r in range(1, len(x)) for s in itertools.combinations(sorted(x), r)]
        if not any(conf(g, y) >= conf(x, y) for g in general):
            expected.add((tuple(ante), tuple(cons)))
    assert {(tuple(a), tuple(c)) for a, c in zip(*kept.item_lists(), strict=True)} == expected


@settings(max_examples=30, deadline=None)
@given(baskets=baskets_st, support=supports)
def test_multi_item_consequents_equal_brute_force(baskets: list[list[str]], support: float) -> None:
    n, counts = brute_counts(baskets)
    freq = frequent(n, counts, support)
    expected = {}
    for z, c in freq.items():
        for h in range(1, len(z)):
            for y in itertools.combinations(sorted(z), h):
                x = z - set(y)
                expected[(tuple(sorted(x)), y)] = Fraction(c, counts[x])
    itemsets = frequent_itemsets(from_lists(baskets), support)
    rules = association_rules(itemsets, 0.0, min_length=2, max_consequent=9)
    got = {
        (tuple(a), tuple(c)): conf
        for a, c, conf in zip(*rules.item_lists(), rules.confidence.tolist(), strict=True)
    }
    assert set(got) == set(expected)
    assert all(got[k] == float(v) for k, v in expected.items())
