"""The tier-window spend at each order of a batch: a few orders summed in Python equal the array form."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.services.posting.window_spend import FEW_ORDERS_SUMMED, spend_at_orders

DAY = 86_400_000_000
MEMBERS = [3, 7, 11]

#: a member index, a time (days, a few on the same instant) and an amount
_EVENT = st.tuples(st.integers(0, len(MEMBERS) - 1), st.integers(0, 40), st.integers(0, 50_000))


@settings(max_examples=300, deadline=None)
@given(
    held=st.lists(_EVENT, max_size=12),
    orders=st.lists(_EVENT, min_size=1, max_size=FEW_ORDERS_SUMMED),
    windows=st.lists(st.sampled_from([5 * DAY, 10 * DAY, 30 * DAY]), min_size=1, max_size=1),
)
def test_a_few_orders_are_summed_as_a_large_batch_sums_them(
    held: list[tuple[int, int, int]], orders: list[tuple[int, int, int]], windows: list[int]
) -> None:
    """The same orders at the head of a batch past `FEW_ORDERS_SUMMED` (padded with a member of its own,
    whose spend touches nobody else's) take the array form: each of them has the same spend."""
    members = np.array([*MEMBERS, 99], dtype=np.int64)
    padding = [(len(MEMBERS), day, 1_000) for day in range(FEW_ORDERS_SUMMED + 1)]
    # each member's orders in time order, as the routine requires; ties keep posting order
    few, large = _spend(members, held, sorted(orders, key=lambda o: (o[0], o[1])), windows[0], padding)
    assert few.tolist() == large[: len(orders)].tolist()


def _spend(
    members: np.ndarray,
    held: list[tuple[int, int, int]],
    orders: list[tuple[int, int, int]],
    window: int,
    padding: list[tuple[int, int, int]],
) -> tuple[np.ndarray, np.ndarray]:
    events = (
        members[np.array([m for m, _, _ in held], dtype=np.int64)],
        np.array([d * DAY for _, d, _ in held], dtype=np.int64),
        np.array([a for _, _, a in held], dtype=np.int64),
    )
    answers = []
    for batch in (orders, orders + padding):
        n = len(batch)
        answers.append(
            spend_at_orders(
                events,
                members,
                np.arange(n, dtype=np.int64),
                np.array([m for m, _, _ in batch], dtype=np.int64),
                np.array([d * DAY for _, d, _ in batch], dtype=np.int64),
                np.array([a for _, _, a in batch], dtype=np.int64),
                np.full(n, window, dtype=np.int64),
            )
        )
    return answers[0], answers[1]
