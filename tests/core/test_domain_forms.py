"""Rules written once for one sale's integers and a batch's arrays mean the same on both."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.domain.earning import line_amount
from loyalty.domain.sale_limits import line_faults
from loyalty.domain.tiers import TierDef, tier_index_for_spend

_SPEND = st.integers(-1_000, 3_000_000)
#: a ladder's thresholds, by rank, in any order (nothing makes them rise with the rank)
_THRESHOLDS = st.lists(st.integers(0, 2_000_000), min_size=1, max_size=5)


@settings(max_examples=200, deadline=None)
@given(thresholds=_THRESHOLDS, spends=st.lists(_SPEND, min_size=1, max_size=40))
def test_a_tier_index_is_the_same_for_one_spend_a_few_and_many(
    thresholds: list[int], spends: list[int]
) -> None:
    """A few spends (taken one by one) and many (the array form) get each spend's own index."""
    ladder = [TierDef(i + 1, f"t{i}", i, threshold) for i, threshold in enumerate(thresholds)]
    one_by_one = [tier_index_for_spend(ladder, spend) for spend in spends]
    as_array = tier_index_for_spend(ladder, np.array(spends, dtype=np.int64))
    padded = tier_index_for_spend(ladder, np.array(spends * 20, dtype=np.int64))  # past the few
    assert as_array.tolist() == one_by_one
    assert padded[: len(spends)].tolist() == one_by_one


_LINE = st.tuples(st.integers(-2, 5), st.integers(-100, 10_000), st.integers(-100, 20_000))


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(_LINE, min_size=1, max_size=12))
def test_a_line_is_refused_for_the_same_faults_alone_and_in_a_batch(
    lines: list[tuple[int, int, int]],
) -> None:
    """The conditions a posting refuses a sale's line for are those the set-based routine checks a
    batch's lines by."""
    quantity, price, discount = (np.array(column, dtype=np.int64) for column in zip(*lines, strict=True))
    batch = line_faults(quantity, price, discount, line_amount(quantity, price, discount))
    for i, (q, p, d) in enumerate(lines):
        alone = line_faults(q, p, d, line_amount(q, p, d))
        assert [bool(fault) for fault in alone] == [bool(fault[i]) for fault in batch]
