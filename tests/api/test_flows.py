"""End-to-end API flows through httpx on SQLite and PostgreSQL: what a till and a back office do."""

from __future__ import annotations

from typing import Any

import pytest

from loyalty.api.errors import problem_type
from tests.api.api_world import PASSWORD, World, purchase_body, register

V1 = "/api/v1"
_seq = iter(range(10_000, 99_999))


def _phone() -> str:
    return f"+86135{next(_seq):08d}"


def _post_purchase(w: World, who: str, member_id: int | None, order: str, **kw: Any) -> Any:
    return w.client.post(
        f"{V1}/purchases", json=purchase_body(w.store_a, member_id, order, **kw), headers=w.as_(who)
    )


def _problem(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = dict(resp.json())
    assert body["type"] == problem_type(code), body
    assert body["code"] == code
    assert body["status"] == status
    return body


# --- auth --------------------------------------------------------------------------------------


def test_login_issues_a_token_that_works(world: World) -> None:
    resp = world.client.post(f"{V1}/auth/token", data={"username": "cashier1", "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    token = resp.json()["access_token"]
    me = world.client.get(f"{V1}/auth/whoami", headers={"Authorization": f"Bearer {token}"})
    assert me.json() == {
        "kind": "staff",
        "id": str(world.staff_ids["cashier"]),
        "role": "cashier",
        "store_ids": [world.store_a],
        "member_id": None,
    }


def test_wrong_password_and_unknown_user_get_the_same_answer(world: World) -> None:
    a = world.client.post(f"{V1}/auth/token", data={"username": "cashier1", "password": "nope-nope"})
    b = world.client.post(f"{V1}/auth/token", data={"username": "ghost", "password": "nope-nope"})
    assert (
        _problem(a, 401, "INVALID_CREDENTIALS")["detail"] == _problem(b, 401, "INVALID_CREDENTIALS")["detail"]
    )


def test_garbage_credentials_are_401(world: World) -> None:
    for headers in (
        {"Authorization": "Bearer nonsense"},
        {"X-API-Key": "lk_abc_def"},
        {"Authorization": "Bearer lm_x_y"},
    ):
        _problem(world.client.get(f"{V1}/tiers", headers=headers), 401, "UNAUTHENTICATED")


# --- members -----------------------------------------------------------------------------------


def test_register_then_lookup_masks_pii_by_role_and_store(world: World) -> None:
    phone = _phone()
    created = register(world, "cashier", phone, world.store_a, name="张三", email="zhang@example.com")
    assert created["phone"] == phone  # own store's cashier sees it
    assert created["registration_store_id"] == world.store_a
    for who, masked in (
        ("admin", False),
        ("store_manager", False),
        ("marketer", True),
        ("analyst", True),
        ("cashier_b", True),
        ("pos", False),
    ):
        got = world.client.get(f"{V1}/members/lookup", params={"phone": phone}, headers=world.as_(who))
        assert got.status_code == 200, (who, got.text)
        body = got.json()
        assert body["id"] == created["id"]
        assert body["pii_masked"] is masked, who
        assert (body["phone"] != phone) is masked, who
        assert (body["email"] == "z***@example.com") is masked, who


def test_member_cannot_choose_tier_or_status_when_registering(world: World) -> None:
    resp = world.client.post(
        f"{V1}/members",
        json={
            "phone": _phone(),
            "name": "N",
            "registration_store_id": world.store_a,
            "tier_id": 4,
            "status": "active",
        },
        headers=world.as_("admin"),
    )
    body = _problem(resp, 422, "VALIDATION_FAILED")
    assert {e["field"] for e in body["errors"]} == {"tier_id", "status"}


def test_duplicate_phone_is_409(world: World) -> None:
    phone = _phone()
    register(world, "admin", phone, world.store_a)
    resp = world.client.post(
        f"{V1}/members",
        json={"phone": phone, "name": "Dup", "registration_store_id": world.store_a},
        headers=world.as_("admin"),
    )
    assert resp.status_code == 409, resp.text


def test_search_paginates_with_cursor_and_scopes_store_staff(world: World) -> None:
    tag = f"t{next(_seq)}"
    ids_a = {register(world, "admin", _phone(), world.store_a, tags=[tag])["id"] for _ in range(5)}
    ids_b = {register(world, "admin", _phone(), world.store_b, tags=[tag])["id"] for _ in range(2)}
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"tag": tag, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = world.client.get(f"{V1}/members", params=params, headers=world.as_("admin")).json()
        seen += [m["id"] for m in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids_a | ids_b)
    assert len(seen) == len(set(seen))
    assert pages >= 4
    scoped = world.client.get(f"{V1}/members", params={"tag": tag, "limit": 50}, headers=world.as_("cashier"))
    assert {m["id"] for m in scoped.json()["items"]} == ids_a


def test_update_deactivate_and_merge(world: World) -> None:
    m = register(world, "cashier", _phone(), world.store_a, name="Old")
    upd = world.client.patch(
        f"{V1}/members/{m['id']}", json={"name": "New", "tags": ["vip"]}, headers=world.as_("cashier")
    )
    assert upd.status_code == 200, upd.text
    assert upd.json()["name"] == "New"
    assert upd.json()["tags"] == ["vip"]
    # the other store's cashier may not edit this member
    _problem(
        world.client.patch(f"{V1}/members/{m['id']}", json={"name": "X"}, headers=world.as_("cashier_b")),
        403,
        "FORBIDDEN",
    )
    # a member token stops working once the member is deactivated
    tok = world.client.post(f"{V1}/members/{m['id']}/tokens", headers=world.as_("cashier")).json()["token"]
    assert world.client.get(f"{V1}/me", headers={"Authorization": f"Bearer {tok}"}).status_code == 200
    world.app.state.credential_cache.clear()
    deact = world.client.post(f"{V1}/members/{m['id']}/deactivate", headers=world.as_("store_manager"))
    assert deact.json()["status"] == "inactive"
    world.app.state.credential_cache.clear()
    assert world.client.get(f"{V1}/me", headers={"Authorization": f"Bearer {tok}"}).status_code == 401
    # merge two duplicates
    src = register(world, "admin", _phone(), world.store_a)
    dst = register(world, "admin", _phone(), world.store_a)
    merged = world.client.post(
        f"{V1}/members/merge",
        json={"duplicate_id": src["id"], "survivor_id": dst["id"]},
        headers=world.as_("admin"),
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["id"] == dst["id"]
    assert (
        world.client.get(f"{V1}/members/{src['id']}", headers=world.as_("admin")).json()["status"] == "merged"
    )


def test_lookup_is_rate_limited_with_retry_after(tmp_path: Any) -> None:
    from tests.api.api_world import build_world

    w = build_world(f"sqlite:///{tmp_path / 'rl.db'}", rate_limits={"lookup": (3, 60.0), "login": (2, 60.0)})
    for _ in range(3):
        assert (
            w.client.get(
                f"{V1}/members/lookup", params={"member_code": "nope"}, headers=w.as_("pos")
            ).status_code
            == 404
        )
    resp = w.client.get(f"{V1}/members/lookup", params={"member_code": "nope"}, headers=w.as_("pos"))
    _problem(resp, 429, "RATE_LIMITED")
    assert 0 < int(resp.headers["Retry-After"]) <= 60
    for _ in range(2):
        w.client.post(f"{V1}/auth/token", data={"username": "admin1", "password": "wrong-wrong"})
    _problem(
        w.client.post(f"{V1}/auth/token", data={"username": "admin1", "password": PASSWORD}),
        429,
        "RATE_LIMITED",
    )
    w.client.close()
    w.ctx.engine.dispose()


# --- purchases, returns, points --------------------------------------------------------------------


def test_purchase_earns_points_and_reads_back_as_money_strings(world: World) -> None:
    m = register(world, "admin", _phone(), world.store_a)
    resp = _post_purchase(world, "pos", m["id"], f"o-{next(_seq)}")
    assert resp.status_code == 201, resp.text
    p = resp.json()
    # 199.00 + 2×89.50−10.00 + 3×12.90 = 406.70
    assert p["total"] == {"amount": "406.70", "currency": "CNY"}
    assert p["points_earned"] > 0
    assert p["replayed"] is False
    got = world.client.get(f"{V1}/purchases/{p['id']}", headers=world.as_("analyst")).json()
    assert got == p
    bal = world.client.get(f"{V1}/members/{m['id']}/points", headers=world.as_("cashier")).json()
    assert bal["available"] + bal["pending"] == p["points_earned"]


def test_idempotency_replays_and_rejects_a_different_body(world: World) -> None:
    m = register(world, "admin", _phone(), world.store_a)
    order = f"o-{next(_seq)}"
    body = purchase_body(world.store_a, m["id"], order)
    headers = {**world.as_("pos"), "Idempotency-Key": f"key-{order}"}
    first = world.client.post(f"{V1}/purchases", json=body, headers=headers)
    again = world.client.post(f"{V1}/purchases", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = purchase_body(world.store_a, m["id"], order, price="1.00")
    _problem(world.client.post(f"{V1}/purchases", json=other, headers=headers), 422, "IDEMPOTENCY_MISMATCH")
    # another caller's identical key is a different key
    mine = world.client.post(
        f"{V1}/purchases", json=body, headers={**world.as_("cashier"), "Idempotency-Key": f"key-{order}"}
    )
    assert mine.headers.get("Idempotent-Replayed") is None
    bal = world.client.get(f"{V1}/members/{m['id']}/points", headers=world.as_("admin")).json()
    assert bal["available"] + bal["pending"] == first.json()["points_earned"]  # one effect only


def test_cross_store_purchase_and_read_are_refused(world: World) -> None:
    _problem(
        world.client.post(
            f"{V1}/purchases", json=purchase_body(world.store_a, None, "x-1"), headers=world.as_("pos_b")
        ),
        403,
        "FORBIDDEN",
    )
    p = _post_purchase(world, "pos", world.member_a["id"], f"o-{next(_seq)}").json()
    _problem(world.client.get(f"{V1}/purchases/{p['id']}", headers=world.as_("cashier_b")), 403, "FORBIDDEN")


def test_return_reverses_points_once(world: World) -> None:
    m = register(world, "admin", _phone(), world.store_a)
    order = f"o-{next(_seq)}"
    p = _post_purchase(world, "pos", m["id"], order).json()
    body = {
        "store_id": world.store_a,
        "order_id": order,
        "return_id": f"r-{order}",
        "occurred_at": "2026-03-02T09:00:00+08:00",
    }
    r = world.client.post(f"{V1}/returns", json=body, headers=world.as_("pos"))
    assert r.status_code == 201, r.text
    assert r.json()["refund"] == p["total"]
    assert r.json()["points_reversed"] == p["points_earned"]
    bal = world.client.get(f"{V1}/members/{m['id']}/points", headers=world.as_("admin")).json()
    assert bal["available"] + bal["pending"] - bal["debt"] == 0


def test_refund_with_too_many_decimals_is_a_field_error(world: World) -> None:
    m = register(world, "admin", _phone(), world.store_a)
    order = f"o-{next(_seq)}"
    _post_purchase(world, "pos", m["id"], order)
    body = {
        "store_id": world.store_a,
        "order_id": order,
        "return_id": f"r-{order}",
        "occurred_at": "2026-03-02T09:00:00+08:00",
        "refund": "0.001",
    }
    problem = _problem(
        world.client.post(f"{V1}/returns", json=body, headers=world.as_("pos")), 422, "VALIDATION_FAILED"
    )
    assert problem["errors"][0]["field"] == "refund"
    bal = world.client.get(f"{V1}/members/{m['id']}/points", headers=world.as_("admin")).json()
    assert bal["available"] + bal["pending"] > 0  # nothing was reversed


def test_redeem_spends_and_refuses_overdraft_with_409(world: World) -> None:
    m = register(world, "admin", _phone(), world.store_a)
    world.client.post(
        f"{V1}/points/adjust",
        json={"member_id": m["id"], "points": 500, "reason": "welcome gift"},
        headers=world.as_("admin"),
    )
    ok = world.client.post(
        f"{V1}/points/redeem",
        json={"member_id": m["id"], "store_id": world.store_a, "points": 200},
        headers=world.as_("pos"),
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["balance_after"] == 300
    short = world.client.post(
        f"{V1}/points/redeem",
        json={"member_id": m["id"], "store_id": world.store_a, "points": 301},
        headers=world.as_("pos"),
    )
    _problem(short, 409, "POINTS_INSUFFICIENT")
    _problem(
        world.client.post(
            f"{V1}/points/redeem",
            json={"member_id": m["id"], "store_id": world.store_a, "points": 1},
            headers=world.as_("pos_b"),
        ),
        403,
        "FORBIDDEN",
    )
    stmt = world.client.get(
        f"{V1}/members/{m['id']}/points/statement", params={"limit": 1}, headers=world.as_("auditor")
    ).json()
    assert len(stmt["items"]) == 1
    assert stmt["next_cursor"] is not None
    rest = world.client.get(
        f"{V1}/members/{m['id']}/points/statement",
        params={"limit": 10, "cursor": stmt["next_cursor"]},
        headers=world.as_("auditor"),
    ).json()
    assert sorted(e["points"] for e in stmt["items"] + rest["items"]) == [-200, 500]


def test_staff_writes_are_audited_with_before_and_after(world: World) -> None:
    m = register(world, "cashier", _phone(), world.store_a, name="Before")
    world.client.patch(f"{V1}/members/{m['id']}", json={"name": "After"}, headers=world.as_("cashier"))
    log = world.client.get(
        f"{V1}/audit", params={"entity_id": str(m["id"]), "limit": 50}, headers=world.as_("auditor")
    ).json()
    updates = [e for e in log["items"] if e["before"] and e["after"] and e["before"].get("name") == "Before"]
    assert updates, log
    assert updates[0]["after"]["name"] == "After"
    assert updates[0]["actor_id"] == str(world.staff_ids["cashier"])


def test_staff_for_an_unknown_store_is_refused_by_name(world: World) -> None:
    body = {"username": f"c{next(_seq)}", "password": "long-enough-1", "role": "cashier"}
    resp = world.client.post(
        f"{V1}/staff", json={**body, "store_ids": [world.store_a, 987654]}, headers=world.as_("admin")
    )
    assert resp.status_code == 422, resp.text
    problem = resp.json()
    assert problem["code"] == "STORE_NOT_FOUND"
    assert "987654" in problem["detail"]
    assert problem["errors"][0]["field"] == "store_ids"
    staff = world.client.get(f"{V1}/staff", headers=world.as_("admin")).json()
    assert body["username"] not in {s["username"] for s in staff}  # nothing half-created


# --- tiers and /me ---------------------------------------------------------------------------------


def test_tiers_and_progress_message(world: World) -> None:
    tiers = world.client.get(f"{V1}/tiers", headers=world.as_("marketer")).json()
    assert [t["rank"] for t in tiers] == sorted(t["rank"] for t in tiers)
    assert all(t["threshold"]["currency"] == "CNY" for t in tiers)
    m = register(world, "admin", _phone(), world.store_a)
    _post_purchase(world, "pos", m["id"], f"o-{next(_seq)}")
    mt = world.client.get(f"{V1}/members/{m['id']}/tier", headers=world.as_("cashier")).json()
    assert mt["qualifying_spend"]["amount"] == "406.70"
    if mt["next_tier"] is not None:
        assert mt["remaining_to_next"]["amount"] in mt["message"]
        assert mt["next_tier"]["name"] in mt["message"]


def test_me_shows_only_my_own_data(world: World) -> None:
    mine = world.client.get(f"{V1}/me", headers=world.as_("member")).json()
    theirs = world.client.get(f"{V1}/me", headers=world.as_("member_b")).json()
    assert mine["id"] == world.member_a["id"]
    assert theirs["id"] == world.member_b["id"]
    assert mine["phone"] == world.member_a["phone"]  # a member sees their own phone
    card = world.client.get(f"{V1}/me/card", headers=world.as_("member")).json()
    assert card["member_code"] == world.member_a["member_code"]
    png = world.client.get(f"{V1}/me/card/qr.png", headers=world.as_("member"))
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    svg = world.client.get(f"{V1}/me/card/qr.svg", headers=world.as_("member"))
    assert b"<svg" in svg.content
    # the member token opens nothing outside /me, not even their own record by id
    for path in (f"/members/{world.member_a['id']}", f"/members/{world.member_b['id']}/points", "/tiers"):
        _problem(world.client.get(V1 + path, headers=world.as_("member")), 403, "FORBIDDEN")


# --- errors ------------------------------------------------------------------------------------------


def test_validation_problem_lists_each_bad_field(world: World) -> None:
    body = purchase_body(world.store_a, None, "bad order id!")
    body["lines"][0]["quantity"] = 0
    body["lines"][1]["unit_price"] = 12.5  # a float, not a decimal string
    body["occurred_at"] = "2026-03-01T10:00:00"  # no offset
    resp = world.client.post(f"{V1}/purchases", json=body, headers=world.as_("pos"))
    problem = _problem(resp, 422, "VALIDATION_FAILED")
    fields = {e["field"] for e in problem["errors"]}
    assert {"order_id", "lines.0.quantity", "lines.1.unit_price", "occurred_at"} <= fields


def test_sub_minor_amounts_are_rejected_not_rounded(world: World) -> None:
    body = purchase_body(world.store_a, None, f"o-{next(_seq)}", price="1.005")
    _problem(
        world.client.post(f"{V1}/purchases", json=body, headers=world.as_("pos")), 422, "VALIDATION_FAILED"
    )


@pytest.mark.parametrize("path", ["/members/999999", "/purchases/999999"])
def test_missing_objects_are_404_problems(world: World, path: str) -> None:
    resp = world.client.get(V1 + path, headers=world.as_("admin"))
    assert resp.status_code == 404
    assert resp.json()["code"].endswith("_NOT_FOUND")
