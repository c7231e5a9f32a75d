"""One lookup limit per caller, shared by every answer to "does this phone, card, code or receipt exist".

The member lookup was limited but the member list's `phone=` filter, a registration's 409, a phone
change's 409, a sale or claim naming an unknown card and a member's receipt claim were not, so the
lookup's limit could be walked around through any of them. Each surface is hammered here and the
shared window is seen to trip on the others (both backends: the write surfaces answer from the
database).
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from loyalty.api.ratelimit import LOOKUP
from loyalty.domain.cards import luhn_check_digit
from tests.api.api_world import World, purchase_body

V1 = "/api/v1"
LIMIT = 10
_seq = itertools.count(1)


@pytest.fixture
def limited(world: World) -> Iterator[World]:
    """The world with a lookup limit of 10 a minute and every window empty."""
    limiter = world.app.state.limiter
    before = limiter.limits[LOOKUP]
    limiter.limits[LOOKUP] = (LIMIT, 60.0)
    limiter.reset()
    yield world
    limiter.limits[LOOKUP] = before
    limiter.reset()


def _phone() -> str:
    return f"+86139{secrets.randbelow(10**8):08d}"


def _card() -> str:
    """A well-formed card number (right check digit) that no member has."""
    body = f"88{secrets.randbelow(10**13):013d}"
    return body + str(luhn_check_digit(body))


def _sale(w: World, order: str, **member: Any) -> dict[str, Any]:
    body = purchase_body(w.store_a, None, order)
    body.pop("member_id")
    body["occurred_at"] = datetime.now(UTC).isoformat()
    return {**body, **member}


def _429(resp: httpx.Response) -> None:
    assert resp.status_code == 429, resp.text
    assert resp.json()["code"] == "RATE_LIMITED"
    assert 1 <= int(resp.headers["Retry-After"]) <= 60


# Each surface: who calls it and one call (an answer that tells whether something exists).
Call = Callable[[World], httpx.Response]


def _list_by_phone(w: World) -> httpx.Response:
    return w.client.get(f"{V1}/members", params={"phone": _phone()}, headers=w.as_("admin"))


def _list_by_card(w: World) -> httpx.Response:
    return w.client.get(f"{V1}/members", params={"card_no": _card()}, headers=w.as_("admin"))


def _list_by_text(w: World) -> httpx.Response:
    return w.client.get(f"{V1}/members", params={"q": _phone()[3:]}, headers=w.as_("admin"))


def _lookup(w: World) -> httpx.Response:
    return w.client.get(f"{V1}/members/lookup", params={"phone": _phone()}, headers=w.as_("admin"))


def _register_taken_phone(w: World) -> httpx.Response:
    body = {"phone": w.member_a["phone"], "name": "Probe", "registration_store_id": w.store_a}
    return w.client.post(f"{V1}/members", json=body, headers=w.as_("admin"))


def _change_to_taken_phone(w: World) -> httpx.Response:
    return w.client.patch(
        f"{V1}/members/{w.member_b['id']}", json={"phone": w.member_a["phone"]}, headers=w.as_("admin")
    )


def _sale_by_unknown_card(w: World) -> httpx.Response:
    body = _sale(w, f"lk-{next(_seq)}", card_no=_card())
    return w.client.post(f"{V1}/purchases", json=body, headers=w.as_("pos"))


def _claim_by_unknown_phone(w: World) -> httpx.Response:
    body = {"store_id": w.store_a, "order_id": f"lk-none-{next(_seq)}", "phone": _phone()}
    return w.client.post(f"{V1}/purchases/claims", json=body, headers=w.as_("pos"))


def _my_claim_of_an_unknown_receipt(w: World) -> httpx.Response:
    body = {"store_id": w.store_a, "order_id": f"lk-none-{next(_seq)}", "total": "10.00"}
    return w.client.post(f"{V1}/me/claims", json=body, headers=w.as_("member"))


SURFACES: dict[str, tuple[Call, int]] = {
    "list by phone": (_list_by_phone, 200),
    "list by card": (_list_by_card, 200),
    "list by text": (_list_by_text, 200),
    "lookup": (_lookup, 404),
    "registration's conflict": (_register_taken_phone, 409),
    "phone change's conflict": (_change_to_taken_phone, 409),
    "sale by unknown card": (_sale_by_unknown_card, 404),
    "claim by unknown phone": (_claim_by_unknown_phone, 404),
    "member's receipt claim": (_my_claim_of_an_unknown_receipt, 404),
}


@pytest.mark.parametrize("surface", list(SURFACES))
def test_each_surface_counts_against_the_one_lookup_window(limited: World, surface: str) -> None:
    call, answer = SURFACES[surface]
    for _ in range(LIMIT):
        assert call(limited).status_code == answer
    _429(call(limited))
    if surface == "member's receipt claim":  # a member reaches nothing else that looks members up
        return
    caller = "pos" if surface in {"sale by unknown card", "claim by unknown phone"} else "admin"
    _429(limited.client.get(f"{V1}/members/lookup", params={"phone": _phone()}, headers=limited.as_(caller)))
    # the window is the caller's: another till or user is not held up
    other = limited.client.get(
        f"{V1}/members/lookup", params={"phone": _phone()}, headers=limited.as_("cashier")
    )
    assert other.status_code == 404


def test_five_on_the_list_and_five_on_the_lookup_then_the_eleventh_anywhere_is_429(limited: World) -> None:
    for _ in range(5):
        assert _list_by_phone(limited).status_code == 200
        assert _lookup(limited).status_code == 404
    _429(_list_by_card(limited))
    _429(_lookup(limited))
    _429(_register_taken_phone(limited))
    # listing without a phone, card or text filter answers nothing about who exists: not counted
    assert limited.client.get(f"{V1}/members", headers=limited.as_("admin")).status_code == 200


def test_a_full_window_refuses_even_the_answers_that_would_succeed(limited: World) -> None:
    """Once the window is spent, a write naming a phone or card is refused before it runs: otherwise
    201 against 429 would tell taken from free as well as 201 against 409 did."""
    for _ in range(LIMIT):
        assert _register_taken_phone(limited).status_code == 409
    fresh = _phone()
    refused = limited.client.post(
        f"{V1}/members",
        json={"phone": fresh, "name": "New", "registration_store_id": limited.store_a},
        headers=limited.as_("admin"),
    )
    _429(refused)
    found = limited.client.get(f"{V1}/members", params={"phone": fresh}, headers=limited.as_("cashier"))
    assert found.json()["items"] == []  # not registered
    for _ in range(LIMIT):
        assert _sale_by_unknown_card(limited).status_code == 404
    known = _sale(limited, f"lk-{next(_seq)}", card_no=limited.member_a["card_no"])
    _429(limited.client.post(f"{V1}/purchases", json=known, headers=limited.as_("pos")))


def test_a_till_s_ordinary_sales_by_card_never_fill_the_window(limited: World) -> None:
    for _ in range(LIMIT + 5):
        body = _sale(limited, f"lk-{next(_seq)}", card_no=limited.member_a["card_no"])
        resp = limited.client.post(f"{V1}/purchases", json=body, headers=limited.as_("pos"))
        assert resp.status_code == 201, resp.text
    assert _sale_by_unknown_card(limited).status_code == 404  # the window is still empty
