"""The ranking metrics on cases worked out by hand (loyalty.analytics.recommend.metrics).

Six items 0…5, k = 3. Member 0 is recommended [0, 1, 2] and bought {1, 5}; member 1 is recommended
[3, 4] (a short list, padded with -1) and bought {3}; member 2 is recommended [5, 0, 1] and bought
nothing in the holdout, so it is not scored (but its items count in the coverage).

* hits: member 0 [no, yes, no], member 1 [yes, no, no];
* precision@3: 1/3 and 1/3 → 1/3 (a short list is still divided by k);
* recall@3: 1/2 and 1/1 → 3/4;
* AP@3: member 0 has its hit at rank 2: P@2 = 1/2, over min(2, 3) = 2 → 1/4; member 1 at rank 1: 1/1
  over min(1, 3) = 1 → 1; MAP@3 = 5/8;
* coverage: items {0, 1, 2, 3, 4, 5} recommended → 6/6; without member 2, {0…4} → 5/6.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from loyalty.analytics.recommend import coverage, map_at_k, precision_at_k, recall_at_k
from loyalty.analytics.recommend.metrics import hits, score

RECOMMENDED = np.array([[0, 1, 2], [3, 4, -1], [5, 0, 1]])


def _relevant(rows: list[set[int]], n_items: int = 6) -> sp.csr_matrix:
    r = [i for i, items in enumerate(rows) for _ in items]
    c = [j for items in rows for j in sorted(items)]
    return sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(rows), n_items))


RELEVANT = _relevant([{1, 5}, {3}, set()])


def test_hits_mark_the_bought_positions() -> None:
    assert hits(RECOMMENDED, RELEVANT, 3).tolist() == [
        [False, True, False],
        [True, False, False],
        [False, False, False],
    ]


def test_precision_recall_and_map_by_hand() -> None:
    assert precision_at_k(RECOMMENDED, RELEVANT, 3) == pytest.approx(1 / 3)
    assert recall_at_k(RECOMMENDED, RELEVANT, 3) == pytest.approx(3 / 4)
    assert map_at_k(RECOMMENDED, RELEVANT, 3) == pytest.approx(5 / 8)


def test_coverage_counts_every_member_recommended_to() -> None:
    assert coverage(RECOMMENDED, 6) == pytest.approx(1.0)
    assert coverage(RECOMMENDED[:2], 6) == pytest.approx(5 / 6)
    assert coverage(np.full((2, 3), -1), 6) == 0.0


def test_average_precision_with_several_hits() -> None:
    """Recommended [a, b, c, d], bought {a, c, e}: hits at ranks 1 and 3, (1/1 + 2/3) / min(3, 4) = 5/9;
    precision 2/4, recall 2/3."""
    rec = np.array([[0, 1, 2, 3]])
    rel = _relevant([{0, 2, 4}])
    assert map_at_k(rec, rel, 4) == pytest.approx(5 / 9)
    assert precision_at_k(rec, rel, 4) == pytest.approx(1 / 2)
    assert recall_at_k(rec, rel, 4) == pytest.approx(2 / 3)


def test_a_perfect_list_scores_one_even_when_more_was_bought() -> None:
    """Bought five items, all of the top 2 are among them: AP@2 over min(5, 2) = 2 → 1; recall 2/5."""
    rec = np.array([[0, 1]])
    rel = _relevant([{0, 1, 2, 3, 4}])
    assert map_at_k(rec, rel, 2) == pytest.approx(1.0)
    assert recall_at_k(rec, rel, 2) == pytest.approx(2 / 5)


def test_k_cuts_the_lists_and_missing_columns_are_misses() -> None:
    assert precision_at_k(RECOMMENDED, RELEVANT, 1) == pytest.approx((0 + 1) / 2)
    assert precision_at_k(RECOMMENDED[:, :2], RELEVANT, 4) == pytest.approx((1 / 4 + 1 / 4) / 2)


def test_score_gathers_the_four_figures() -> None:
    s = score(RECOMMENDED, RELEVANT, 3, 6)
    assert (s.precision, s.recall, s.map, s.coverage, s.members) == pytest.approx(
        (1 / 3, 3 / 4, 5 / 8, 1.0, 2)
    )


def test_nobody_to_score_gives_zeros_and_bad_shapes_are_refused() -> None:
    empty = _relevant([set(), set(), set()])
    assert precision_at_k(RECOMMENDED, empty, 3) == 0.0
    assert map_at_k(RECOMMENDED, empty, 3) == 0.0
    with pytest.raises(ValueError, match="one row per member"):
        precision_at_k(RECOMMENDED[:2], RELEVANT, 3)
    with pytest.raises(ValueError, match="k must be at least 1"):
        recall_at_k(RECOMMENDED, RELEVANT, 0)
