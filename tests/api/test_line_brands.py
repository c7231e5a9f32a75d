"""A line's brand through the API: kept on the receipt, its explanation and the quote, refused naming
the field when too long, and left out of the request's hash when none is given (a till's retry from
before lines had a brand is still a replay)."""

from __future__ import annotations

from typing import Any

from tests.api.api_world import World, purchase_body

V1 = "/api/v1"


def _body(world: World, order_id: str, brands: list[Any]) -> dict[str, Any]:
    body = purchase_body(world.store_a, world.member_b["id"], order_id)
    body["lines"] = [
        {**ln, "brand": b} if b != "-" else ln for ln, b in zip(body["lines"], brands, strict=True)
    ]
    return body


def test_a_lines_brand_is_kept_on_the_receipt(world: World) -> None:
    made = world.client.post(
        f"{V1}/purchases", json=_body(world, "BR-1", ["ACME", "-", None]), headers=world.as_("pos")
    )
    assert made.status_code == 201, made.text
    receipt = world.client.get(f"{V1}/me/purchases/{made.json()['id']}", headers=world.as_("member_b"))
    assert receipt.status_code == 200, receipt.text
    assert [ln["brand"] for ln in receipt.json()["lines"]] == ["ACME", None, None]
    why = world.client.get(f"{V1}/me/purchases/{made.json()['id']}/earning", headers=world.as_("member_b"))
    assert why.status_code == 200, why.text
    assert [ln["brand"] for ln in why.json()["lines"]] == ["ACME", None, None]
    cart = {
        k: v
        for k, v in _body(world, "-", ["ACME", "-", None]).items()
        if k in ("store_id", "member_id", "lines")
    }
    quoted = world.client.post(f"{V1}/checkout/quote", json=cart, headers=world.as_("pos"))
    assert quoted.status_code == 200, quoted.text
    assert [ln["brand"] for ln in quoted.json()["lines"]] == ["ACME", None, None]


def test_no_brand_hashes_as_before_and_a_brand_changes_the_sale(world: World) -> None:
    headers = {**world.as_("pos"), "Idempotency-Key": "brand-hash-1"}
    first = world.client.post(f"{V1}/purchases", json=_body(world, "BR-2", ["-", "-", "-"]), headers=headers)
    assert first.status_code == 201, first.text
    same = world.client.post(f"{V1}/purchases", json=_body(world, "BR-2", [None, "-", None]), headers=headers)
    assert (same.status_code, same.json()["id"]) == (201, first.json()["id"])
    other = world.client.post(
        f"{V1}/purchases", json=_body(world, "BR-2", ["ACME", "-", "-"]), headers=headers
    )
    assert other.status_code == 422, other.text


def test_a_brand_too_long_is_refused_naming_the_line(world: World) -> None:
    resp = world.client.post(
        f"{V1}/purchases", json=_body(world, "BR-3", ["-", "B" * 65, "-"]), headers=world.as_("pos")
    )
    assert resp.status_code == 422, resp.text
    assert [e["field"] for e in resp.json()["errors"]] == ["lines.1.brand"]
