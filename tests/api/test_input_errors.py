"""Bad input gets a clear, precise error naming its field, and writes nothing (issue 22, items 2–7, 9, 10).

Each test drives the API as a till or a back office would, on SQLite and PostgreSQL (on PostgreSQL a
sale named by member id goes through the batched posting path, so both paths are covered).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from loyalty.config import Settings
from loyalty.db.core_tables import purchases, returns, transfers
from tests.api.api_world import World, purchase_body, register

V1 = "/api/v1"
_seq = iter(range(10_000, 99_999))


def _order() -> str:
    return f"IE-{next(_seq)}"


def _counts(w: World) -> tuple[int, int, int]:
    with w.ctx.engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (purchases, returns, transfers)
        )


def _fields(resp: Any, status: int = 422) -> dict[str, str]:
    """The problem's field errors (field → message), after checking its status."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    return {e["field"]: e["message"] for e in resp.json().get("errors") or []}


def _when(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def _sale(w: World, member_id: int | None, **changes: Any) -> dict[str, Any]:
    body = purchase_body(w.store_a, member_id, _order())
    body["occurred_at"] = _when(-timedelta(days=2))
    body.update(changes)
    return body


def _post(w: World, body: dict[str, Any], who: str = "pos") -> Any:
    return w.client.post(f"{V1}/purchases", json=body, headers=w.as_(who))


@pytest.fixture
def default_window(world: World) -> Iterator[Settings]:
    """The world's context with the product's own time bounds (the suite widens the back-dating window)."""
    before = world.ctx.settings
    defaults = Settings.model_fields
    world.ctx.settings = before.model_copy(
        update={
            "backdate_days": defaults["backdate_days"].default,
            "clock_skew_seconds": defaults["clock_skew_seconds"].default,
        }
    )
    try:
        yield world.ctx.settings
    finally:
        world.ctx.settings = before


# --- 2. money fields name themselves -----------------------------------------------------------------


def _anonymous_sale(w: World) -> str:
    body = _sale(w, None)
    assert _post(w, body).status_code == 201
    return str(body["order_id"])


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("unit price with three decimals", "lines.0.unit_price"),
        ("discount with three decimals", "lines.1.discount"),
        ("discount larger than its line", "lines.2.discount"),
        ("refund with three decimals", "refund"),
        ("order total with three decimals", "order_total"),
        ("claimed total with three decimals", "total"),
        ("my claimed total with three decimals", "total"),
    ],
)
def test_a_bad_money_field_of_any_body_is_named(world: World, case: str, field: str) -> None:
    w = world
    member = w.member_a["id"]
    if case.startswith("unit price"):
        body = _sale(w, member)
        body["lines"][0]["unit_price"] = "19.999"
        call = ("purchases", body, "pos")
    elif case.startswith("discount with"):
        body = _sale(w, member)
        body["lines"][1]["discount"] = "0.001"
        call = ("purchases", body, "pos")
    elif case.startswith("discount larger"):
        body = _sale(w, member)
        body["lines"][2]["discount"] = "38.71"  # the line is 3 × 12.90 = 38.70
        call = ("purchases", body, "pos")
    elif case.startswith("refund"):
        sold = _sale(w, member)
        assert _post(w, sold).status_code == 201
        ret = {"store_id": w.store_a, "order_id": sold["order_id"], "return_id": _order()}
        call = ("returns", {**ret, "occurred_at": _when(-timedelta(days=1)), "refund": "1.001"}, "pos")
    elif case.startswith("order total"):
        call = (
            "points/redeem",
            {"member_id": member, "store_id": w.store_a, "points": 1, "order_total": "9.999"},
            "pos",
        )
    elif case.startswith("claimed"):
        order = _anonymous_sale(w)
        call = (
            "purchases/claims",
            {"store_id": w.store_a, "order_id": order, "member_id": member, "total": "1.001"},
            "pos",
        )
    else:
        order = _anonymous_sale(w)
        call = ("me/claims", {"store_id": w.store_a, "order_id": order, "total": "1.001"}, "member")
    before = _counts(w)
    resp = w.client.post(f"{V1}/{call[0]}", json=call[1], headers=w.as_(call[2]))
    errors = _fields(resp)
    assert list(errors) == [field], resp.text
    assert "body" not in errors
    assert resp.json()["code"] == "VALIDATION_FAILED"
    assert _counts(w) == before


# --- 3. the time of a live sale or return is bounded ---------------------------------------------------


def test_a_sale_dated_a_year_ahead_is_refused_naming_the_range_in_the_store_zone(world: World) -> None:
    w = world
    balance = w.client.get(f"{V1}/members/{w.member_a['id']}/points", headers=w.as_("admin")).json()
    before = _counts(w)
    resp = _post(w, _sale(w, w.member_a["id"], occurred_at=_when(timedelta(days=365))))
    assert _fields(resp) == {"occurred_at": resp.json()["detail"]}
    body = resp.json()
    assert body["code"] == "OCCURRED_AT_OUT_OF_RANGE"
    assert "(Asia/Shanghai)" in body["detail"]
    latest = datetime.fromisoformat(body["latest"]).replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    skew = timedelta(seconds=w.ctx.settings.clock_skew_seconds)
    assert abs(latest - (datetime.now(UTC) + skew)) < timedelta(minutes=1)
    assert body["latest"] in body["detail"]
    assert body["earliest"] in body["detail"]
    assert _counts(w) == before
    after = w.client.get(f"{V1}/members/{w.member_a['id']}/points", headers=w.as_("admin")).json()
    assert after == balance


def test_a_till_clock_a_little_fast_is_fine(world: World) -> None:
    resp = _post(world, _sale(world, world.member_a["id"], occurred_at=_when(timedelta(seconds=120))))
    assert resp.status_code == 201, resp.text


def test_the_back_dating_window_is_thirty_days_by_default(world: World, default_window: Settings) -> None:
    w = world
    assert default_window.backdate_days == 30
    inside = _post(w, _sale(w, w.member_a["id"], occurred_at=_when(-timedelta(days=29))))
    assert inside.status_code == 201, inside.text
    before = _counts(w)
    outside = _post(w, _sale(w, w.member_a["id"], occurred_at=_when(-timedelta(days=31))))
    assert list(_fields(outside)) == ["occurred_at"]
    assert "import" in outside.json()["detail"]
    assert _counts(w) == before


def test_a_retry_of_an_order_posted_before_the_window_closed_replays(world: World) -> None:
    w = world
    body = _sale(w, w.member_a["id"], occurred_at=_when(-timedelta(days=40)))
    first = _post(w, body)
    assert first.status_code == 201, first.text
    before = w.ctx.settings
    w.ctx.settings = before.model_copy(update={"backdate_days": 30})
    try:
        again = _post(w, body)
    finally:
        w.ctx.settings = before
    assert again.status_code in (200, 201), again.text
    assert again.json()["replayed"] is True
    assert again.json()["id"] == first.json()["id"]


def test_a_return_dated_ahead_is_refused(world: World) -> None:
    w = world
    sold = _sale(w, w.member_a["id"])
    assert _post(w, sold).status_code == 201
    resp = w.client.post(
        f"{V1}/returns",
        json={
            "store_id": w.store_a,
            "order_id": sold["order_id"],
            "return_id": _order(),
            "occurred_at": _when(timedelta(days=2)),
        },
        headers=w.as_("pos"),
    )
    assert list(_fields(resp)) == ["occurred_at"]


# --- 4. a currency that is not the programme's is refused -----------------------------------------------


@pytest.mark.parametrize("member", [True, False], ids=["member sale", "anonymous sale"])
def test_a_sale_in_another_currency_is_refused(world: World, member: bool) -> None:
    w = world
    before = _counts(w)
    resp = _post(w, _sale(w, w.member_a["id"] if member else None, currency="USD"))
    errors = _fields(resp)
    assert list(errors) == ["currency"]
    assert "CNY" in errors["currency"]
    assert "USD" in errors["currency"]
    assert resp.json()["code"] == "CURRENCY_MISMATCH"
    assert _counts(w) == before


def test_a_sale_without_a_currency_is_in_the_programmes(world: World) -> None:
    body = _sale(world, world.member_a["id"])
    del body["currency"]
    resp = _post(world, body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["total"]["currency"] == "CNY"


@pytest.mark.parametrize("route", ["returns", "points/redeem", "purchases/claims", "me/claims"])
def test_every_other_money_input_refuses_another_currency(world: World, route: str) -> None:
    w = world
    member = w.member_a["id"]
    order = _anonymous_sale(w)
    bodies = {
        "returns": {
            "store_id": w.store_a,
            "order_id": order,
            "return_id": _order(),
            "occurred_at": _when(-timedelta(days=1)),
            "refund": "1.00",
        },
        "points/redeem": {"member_id": member, "store_id": w.store_a, "points": 1, "order_total": "9.00"},
        "purchases/claims": {"store_id": w.store_a, "order_id": order, "member_id": member, "total": "1.00"},
        "me/claims": {"store_id": w.store_a, "order_id": order, "total": "1.00"},
    }
    before = _counts(w)
    who = "member" if route == "me/claims" else "pos"
    resp = w.client.post(f"{V1}/{route}", json={**bodies[route], "currency": "USD"}, headers=w.as_(who))
    assert list(_fields(resp)) == ["currency"], resp.text
    assert _counts(w) == before


# --- 5. a refund larger than the sale speaks money, not fen ------------------------------------------


@pytest.mark.parametrize(("language", "shown"), [("en", "CN¥"), ("zh-CN", "¥")])
def test_a_refund_larger_than_the_sale_names_refund_and_shows_money(
    world: World, language: str, shown: str
) -> None:
    w = world
    sold = _sale(w, w.member_a["id"])
    resp = _post(w, sold)
    total = resp.json()["total"]["amount"]  # 406.70
    ret = {
        "store_id": w.store_a,
        "order_id": sold["order_id"],
        "return_id": _order(),
        "occurred_at": _when(-timedelta(days=1)),
        "refund": "500.00",
    }
    resp = w.client.post(f"{V1}/returns", json=ret, headers={**w.as_("pos"), "Accept-Language": language})
    errors = _fields(resp)
    assert list(errors) == ["refund"]
    assert f"{shown}500.00" in errors["refund"]
    assert f"{shown}{total}" in errors["refund"]
    assert "50000" not in resp.text
    assert "_minor" not in resp.text
    body = resp.json()
    assert body["refund"] == {"amount": "500.00", "currency": "CNY"}
    assert body["left"] == {"amount": total, "currency": "CNY"}


def test_the_redemption_cap_shows_money_not_fen(world: World) -> None:
    w = world
    member = register(w, "admin", "+8613800007001", w.store_a)["id"]
    w.client.post(
        f"{V1}/points/adjust",
        json={"member_id": member, "points": 5000, "reason": "goodwill"},
        headers=w.as_("admin"),
    )
    resp = w.client.post(
        f"{V1}/points/redeem",
        json={"member_id": member, "store_id": w.store_a, "points": 5000, "order_total": "10.00"},
        headers=w.as_("pos"),
    )
    assert resp.status_code == 409, resp.text
    assert "_minor" not in resp.text
    assert "CN¥" in resp.json()["detail"]
    assert resp.json()["max_value"]["currency"] == "CNY"


# --- 6. a return gives lines or a refund ------------------------------------------------------------


def test_a_return_with_both_lines_and_refund_is_refused_naming_both(world: World) -> None:
    w = world
    sold = _sale(w, w.member_a["id"])
    assert _post(w, sold).status_code == 201
    ret = {
        "store_id": w.store_a,
        "order_id": sold["order_id"],
        "return_id": _order(),
        "occurred_at": _when(-timedelta(days=1)),
        "lines": [{"line_no": 1, "quantity": 1}],
        "refund": "10.00",
    }
    before = _counts(w)
    assert sorted(_fields(w.client.post(f"{V1}/returns", json=ret, headers=w.as_("pos")))) == [
        "lines",
        "refund",
    ]
    assert _counts(w) == before
    empty = {**ret, "lines": []}
    del empty["refund"]
    assert list(_fields(w.client.post(f"{V1}/returns", json=empty, headers=w.as_("pos")))) == ["lines"]
    whole = {k: v for k, v in ret.items() if k not in ("lines", "refund")}  # neither: the whole order
    resp = w.client.post(f"{V1}/returns", json=whole, headers=w.as_("pos"))
    assert resp.status_code == 201, resp.text


# --- 7. every cursor on every route -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "who"),
    [
        ("/members/{member}/points/statement", "admin"),
        ("/me/points/statement", "member"),
        ("/purchases", "admin"),
        ("/members/{member}/purchases", "admin"),
        ("/me/purchases", "member"),
        ("/members", "admin"),
        ("/audit", "admin"),
    ],
)
@pytest.mark.parametrize("cursor", ["garbage", "12abc", "-5", "1_x", "99999999999999999999999", "١٢"])
def test_a_cursor_no_listing_handed_out_is_a_422_naming_query_cursor(
    world: World, path: str, who: str, cursor: str
) -> None:
    url = V1 + path.format(member=world.member_a["id"])
    resp = world.client.get(url, params={"cursor": cursor}, headers=world.as_(who))
    assert _fields(resp) == {"query.cursor": "pass back a next_cursor this listing returned"}


def test_the_statement_pages_with_the_cursor_it_hands_out(world: World) -> None:
    w = world
    member = register(w, "admin", "+8613800007002", w.store_a)["id"]
    for points in (10, 20, 30):
        w.client.post(
            f"{V1}/points/adjust",
            json={"member_id": member, "points": points, "reason": "goodwill"},
            headers=w.as_("admin"),
        )
    url = f"{V1}/members/{member}/points/statement"
    first = w.client.get(url, params={"limit": 2}, headers=w.as_("admin")).json()
    second = w.client.get(
        url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=w.as_("admin")
    ).json()
    assert [e["points"] for e in first["items"] + second["items"]] == [30, 20, 10]
    assert second["next_cursor"] is None


# --- 9. a phone taken by another member -------------------------------------------------------------


def test_changing_a_phone_to_a_taken_one_answers_as_registration_does(world: World) -> None:
    w = world
    taken = w.member_a["phone"]
    mover = register(w, "admin", "+8613800007003", w.store_a)
    registration = w.client.post(
        f"{V1}/members",
        json={"phone": taken, "name": "Dup", "registration_store_id": w.store_a},
        headers=w.as_("admin"),
    )
    change = w.client.patch(f"{V1}/members/{mover['id']}", json={"phone": taken}, headers=w.as_("admin"))
    assert _fields(registration, 409) == _fields(change, 409)
    assert list(_fields(change, 409)) == ["phone"]
    assert taken in _fields(change, 409)["phone"]
    assert {k: v for k, v in change.json().items()} == {k: v for k, v in registration.json().items()}


# --- 10. what the card and the QR show ----------------------------------------------------------------


def _printed(card: str, sep: str) -> str:
    return sep.join(card[i : i + 4] for i in range(0, len(card), 4))


@pytest.mark.parametrize(
    "form",
    [
        "card as printed",
        "card with dashes",
        "card in full-width digits",
        "member code from the QR",
        "QR in the card field",
    ],
)
def test_lookup_accepts_what_the_card_and_the_qr_show(world: World, form: str) -> None:
    w = world
    card, code = w.member_a["card_no"], w.member_a["member_code"]
    params = {
        "card as printed": {"card_no": _printed(card, " ")},
        "card with dashes": {"card_no": _printed(card, "-")},
        "card in full-width digits": {"card_no": "".join(chr(ord(c) + 0xFEE0) for c in card)},
        "member code from the QR": {"member_code": f"loyalty:member:{code}"},
        "QR in the card field": {"card_no": f"loyalty:member:{code}"},
    }[form]
    resp = w.client.get(f"{V1}/members/lookup", params=params, headers=w.as_("pos"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["id"] == w.member_a["id"]


def test_a_mistyped_printed_card_is_still_caught_by_its_check_digit(world: World) -> None:
    card = world.member_a["card_no"]
    typo = card[:-1] + str((int(card[-1]) + 1) % 10)
    resp = world.client.get(
        f"{V1}/members/lookup", params={"card_no": _printed(typo, " ")}, headers=world.as_("pos")
    )
    assert _fields(resp) == {"card_no": "card number check digit is wrong"}


def test_a_sale_and_a_claim_by_what_the_card_and_qr_show(world: World) -> None:
    w = world
    member = w.member_b
    sale = _sale(w, None)
    del sale["member_id"]
    sale["card_no"] = _printed(member["card_no"], " ")
    resp = _post(w, sale)
    assert resp.status_code == 201, resp.text
    assert resp.json()["member_id"] == member["id"]
    order = _anonymous_sale(w)
    claim = {
        "store_id": w.store_a,
        "order_id": order,
        "member_code": f"loyalty:member:{member['member_code']}",
    }
    resp = w.client.post(f"{V1}/purchases/claims", json=claim, headers=w.as_("pos"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["member_id"] == member["id"]


def test_a_discount_larger_than_its_line_says_both_amounts(world: World) -> None:
    body = _sale(world, world.member_a["id"])
    body["lines"][2]["discount"] = "38.71"  # the line is 3 × 12.90 = 38.70
    resp = world.client.post(
        f"{V1}/purchases", json=body, headers={**world.as_("pos"), "Accept-Language": "zh"}
    )
    assert _fields(resp) == {"lines.2.discount": "折扣 ¥38.71 超过该行金额 ¥38.70"}


def test_the_members_card_filter_reads_the_card_as_printed(world: World) -> None:
    w = world
    card = w.member_a["card_no"]
    for typed in (_printed(card, " "), f"loyalty:member:{w.member_a['member_code']}"):
        found = w.client.get(f"{V1}/members", params={"card_no": typed}, headers=w.as_("admin"))
        assert found.status_code == 200, found.text
        assert [m["id"] for m in found.json()["items"]] == [w.member_a["id"]], typed
