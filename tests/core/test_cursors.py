"""The one pagination cursor codec: what a listing hands out reads back, anything else is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from loyalty.domain.cursors import MAX_ID, after_time_id, before_id, id_cursor, time_id_cursor
from loyalty.domain.errors import InvalidInput


def test_what_a_listing_hands_out_reads_back() -> None:
    assert before_id(id_cursor(1234)) == 1234
    at = datetime(2026, 3, 1, 2, 0, 0, 123456, tzinfo=UTC)
    assert after_time_id(time_id_cursor(at, 77)) == (at, 77)
    before_epoch = datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert after_time_id(time_id_cursor(before_epoch, 1)) == (before_epoch, 1)


@pytest.mark.parametrize("absent", [None, ""])
def test_no_cursor_is_the_first_page(absent: str | None) -> None:
    assert before_id(absent) is None
    assert after_time_id(absent) is None


@pytest.mark.parametrize(
    "cursor", ["garbage", "12abc", "-5", " 12", "12\n", "١٢", str(MAX_ID + 1), "1.5", "0x10"]
)
def test_an_id_cursor_no_listing_handed_out_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        before_id(cursor)
    assert refused.value.code == "FILTER_INVALID"
    assert refused.value.localized_errors("en") == [
        {"field": "cursor", "message": "pass back a next_cursor this listing returned"}
    ]


@pytest.mark.parametrize("cursor", ["12", "1_x", "_1", "1_", f"1_{MAX_ID + 1}", "9" * 19 + "_1", "1_2\n"])
def test_a_time_cursor_no_listing_handed_out_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidInput):
        after_time_id(cursor)
