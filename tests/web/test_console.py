"""The staff console through the test client: sessions, CSRF, authorisation by role and store,
masking, no personal data in URLs, security headers, languages and labelled inputs.

The browser journey is in test_console_browser.py; these run without a browser, on both backends.
"""

from __future__ import annotations

import itertools
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from loyalty.api.app import create_app
from loyalty.domain.actors import SYSTEM
from loyalty.services import auth, jobs, points, purchase_history, tiers
from loyalty.services import purchases as purchases_service
from loyalty.services.schemas import PurchaseIn, PurchaseLineIn
from tests.anomalies.helpers import flag_for
from tests.api.api_world import PASSWORD, World
from tests.api.routes import app_routes
from tests.web.console_client import Console, as_, token_of

ALL = frozenset({"admin", "marketer", "store_manager", "cashier", "analyst", "auditor"})
FRONT = frozenset({"admin", "store_manager", "cashier"})
_serial = itertools.count(1)


def _unique() -> int:
    return next(_serial)


def _sale(world: World, store_id: int, member_id: int, order_id: str, price_minor: int = 10_000) -> None:
    purchases_service.post_purchase(
        world.ctx,
        PurchaseIn(
            store_id=store_id,
            order_id=order_id,
            occurred_at=world.ctx.now(),
            member_id=member_id,
            currency="CNY",
            lines=[PurchaseLineIn(sku="SKU-1", quantity=1, unit_price_minor=price_minor)],
        ),
    )


# --- sessions and login ---------------------------------------------------------------------------


def _cookies(response: Any) -> dict[str, str]:
    return {c.split("=", 1)[0]: c for c in response.headers.get_list("set-cookie")}


def test_login_starts_an_httponly_samesite_session_scoped_to_the_console(world: World) -> None:
    console = Console(world.app)
    response = console.login("cashier1")
    assert response.status_code == 303
    assert response.headers["location"] == "/console"
    cookie = _cookies(response)["loyalty_console"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/console" in cookie
    assert "secure" not in cookie  # plain http (a till on the shop's network): a Secure cookie would vanish
    assert console.get("/console").status_code == 200


def test_over_https_the_session_cookie_is_secure(world: World) -> None:
    console = Console(world.app, base_url="https://testserver")
    response = console.login("cashier1")
    assert "secure" in _cookies(response)["loyalty_console"].lower()


def test_wrong_password_is_refused_without_a_session(world: World) -> None:
    console = Console(world.app)
    response = console.login("cashier1", "not-the-password")
    assert response.status_code == 401
    assert "Wrong username or password." in response.text
    assert "loyalty_console" not in _cookies(response)
    assert console.get("/console").headers["location"] == "/console/login"


def test_login_counts_against_the_apis_login_limit(world: World) -> None:
    """Three attempts allowed per window, shared by the API's token endpoint and the console."""
    app = create_app(world.ctx, rate_limits={"login": (3, 60.0)})
    console = Console(app)
    assert (
        console.client.post(
            "/api/v1/auth/token", data={"username": "cashier1", "password": "wrong"}
        ).status_code
        == 401
    )
    assert console.login("cashier1", "wrong").status_code == 401
    assert console.login("cashier1", "wrong").status_code == 401
    refused = console.login("cashier1")  # the right password, but the window is full
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert "Too many login attempts" in refused.text
    assert "loyalty_console" not in _cookies(refused)


def test_a_forged_or_foreign_token_is_no_session(world: World) -> None:
    console = as_(world.app, "admin1")
    good = console.client.cookies.get("loyalty_console")
    assert good is not None
    # the API's bearer token is signed with the same key but is not a console session
    api_token = world.headers["admin"]["Authorization"].removeprefix("Bearer ")
    for forged in (good[:-2] + "xx", api_token):
        console.client.cookies.set("loyalty_console", forged, path="/console")
        assert console.get("/console").headers["location"] == "/console/login"
    # nor is a console session an API credential
    api = console.client.get("/api/v1/auth/whoami", headers={"Authorization": f"Bearer {good}"})
    assert api.status_code == 401


def test_a_disabled_user_is_logged_out_at_the_next_request(world: World) -> None:
    user = auth.create_staff(
        world.ctx, username=f"temp{_unique()}", password=PASSWORD, role="cashier", store_ids=[world.store_a]
    )
    console = as_(world.app, user.username)
    assert console.get("/console").status_code == 200
    auth.set_staff_active(world.ctx, user.id, False)
    assert console.get("/console").headers["location"] == "/console/login"


def test_logout_ends_the_session(world: World) -> None:
    console = as_(world.app, "cashier1")
    response = console.post("/console/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login"
    assert (
        'loyalty_console=""' in response.headers["set-cookie"]
        or "Max-Age=0" in response.headers["set-cookie"]
    )
    assert console.get("/console").headers["location"] == "/console/login"


# --- CSRF ------------------------------------------------------------------------------------------


def test_a_post_without_the_sessions_csrf_token_is_refused_and_writes_nothing(world: World) -> None:
    console = as_(world.app, "cashier1")
    phone = f"+86139{_unique():08d}"
    for data, token in (({}, False), ({"csrf_token": "forged"}, False)):
        body = {"phone": phone, "name": "Forged", **data}
        response = console.post("/console/members", body, token=token)
        assert response.status_code == 403
        assert "did not come from this console" in response.text
    other = as_(world.app, "admin1")  # another session's token is no good either
    assert (
        console.post(
            "/console/members", {"phone": phone, "name": "X", "csrf_token": other.token}, token=False
        ).status_code
        == 403
    )
    found = console.post("/console/find", {"q": phone})
    assert found.status_code == 404  # nobody was registered


def test_the_login_form_needs_its_own_token(world: World) -> None:
    console = Console(world.app)
    response = console.client.post(
        "/console/login", data={"username": "admin1", "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 403
    assert "loyalty_console" not in _cookies(response)


# --- headers ---------------------------------------------------------------------------------------


def test_every_console_response_carries_the_security_headers(world: World) -> None:
    console = as_(world.app, "cashier1")
    pages = [
        console.get("/console/login"),
        console.get("/console"),
        console.get(f"/console/members/{world.member_a['id']}"),
        console.get("/console/admin/staff"),  # a 403 page
        console.get("/console/members/999999"),  # a 404 page
        console.post("/console/find", {"q": "+8613800000001"}),  # a redirect
    ]
    for response in pages:
        csp = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in csp
        assert "default-src 'none'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["referrer-policy"] == "no-referrer"
    assert [r.status_code for r in pages] == [303, 200, 200, 403, 404, 303]


def test_pages_have_no_inline_script_or_style(world: World) -> None:
    """The CSP forbids them; a page that used one would break in the browser."""
    console = as_(world.app, "admin1")
    for path in (
        "/console",
        f"/console/members/{world.member_a['id']}",
        "/console/members/new",
        "/console/admin/staff",
    ):
        html = console.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert "<style" not in html, path
        assert " style=" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path  # no inline event handlers
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), path  # nothing from elsewhere


def test_static_assets_are_served_from_the_package(world: World) -> None:
    for asset in (
        "/static/console.css",
        "/static/vendor/htmx-2.0.11.min.js",
        "/static/vendor/chart-4.6.1.umd.min.js",
    ):
        response = world.client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 1000


# --- authorisation: role × console route ------------------------------------------------------------

# (method, path) → the roles allowed; None: open to anyone (login, language)
MATRIX: dict[tuple[str, str], frozenset[str] | None] = {
    ("GET", "/console/login"): None,
    ("POST", "/console/login"): None,
    ("POST", "/console/language"): None,
    ("GET", "/console"): ALL,
    ("POST", "/console/find"): ALL,
    ("GET", "/console/members/new"): FRONT,
    ("POST", "/console/members"): FRONT,
    ("GET", "/console/members/{member_id}"): ALL,
    ("POST", "/console/members/{member_id}/sales"): FRONT,
    ("POST", "/console/members/{member_id}/redeem"): FRONT,
    ("POST", "/console/members/{member_id}/returns"): FRONT,
    ("POST", "/console/members/{member_id}/merge/find"): frozenset({"admin", "store_manager"}),
    ("POST", "/console/members/{member_id}/merge"): frozenset({"admin", "store_manager"}),
    ("POST", "/console/members/{member_id}/data-export"): frozenset({"admin"}),
    ("POST", "/console/members/{member_id}/erase"): frozenset({"admin"}),
    ("GET", "/console/admin"): frozenset({"admin", "marketer", "store_manager", "analyst", "auditor"}),
    ("GET", "/console/admin/stores"): frozenset({"admin"}),
    ("GET", "/console/admin/stores/new"): frozenset({"admin"}),
    ("POST", "/console/admin/stores"): frozenset({"admin"}),
    ("GET", "/console/admin/stores/{store_id}"): frozenset({"admin"}),
    ("POST", "/console/admin/stores/{store_id}"): frozenset({"admin"}),
    ("GET", "/console/admin/merchants/new"): frozenset({"admin"}),
    ("POST", "/console/admin/merchants"): frozenset({"admin"}),
    ("GET", "/console/admin/merchants/{merchant_id}"): frozenset({"admin"}),
    ("POST", "/console/admin/merchants/{merchant_id}"): frozenset({"admin"}),
    ("GET", "/console/admin/staff"): frozenset({"admin"}),
    ("GET", "/console/admin/staff/new"): frozenset({"admin"}),
    ("POST", "/console/admin/staff"): frozenset({"admin"}),
    ("GET", "/console/admin/staff/{user_id}"): frozenset({"admin"}),
    ("POST", "/console/admin/staff/{user_id}"): frozenset({"admin"}),
    ("POST", "/console/admin/staff/{user_id}/active"): frozenset({"admin"}),
    ("POST", "/console/admin/staff/{user_id}/password"): frozenset({"admin"}),
    ("GET", "/console/admin/keys"): frozenset({"admin", "store_manager"}),
    ("GET", "/console/admin/stores/{store_id}/keys"): frozenset({"admin", "store_manager"}),
    ("POST", "/console/admin/stores/{store_id}/keys"): frozenset({"admin", "store_manager"}),
    ("POST", "/console/admin/keys/{key_id}/revoke"): frozenset({"admin", "store_manager"}),
    ("GET", "/console/admin/programme"): frozenset({"admin", "marketer"}),
    ("POST", "/console/admin/programme"): frozenset({"admin", "marketer"}),
    ("POST", "/console/admin/tiers"): frozenset({"admin", "marketer"}),
    ("GET", "/console/admin/tiers/{tier_id}"): frozenset({"admin", "marketer"}),
    ("POST", "/console/admin/tiers/{tier_id}"): frozenset({"admin", "marketer"}),
    ("GET", "/console/admin/audit"): frozenset({"admin", "auditor"}),
    ("GET", "/console/analytics"): frozenset({"admin", "marketer", "analyst"}),
    ("POST", "/console/analytics/refresh"): frozenset({"admin", "analyst"}),
    ("POST", "/console/analytics/download"): frozenset({"admin", "marketer", "analyst"}),
    ("GET", "/console/analytics/basket"): frozenset({"admin", "marketer", "analyst"}),
    ("POST", "/console/analytics/basket/refresh"): frozenset({"admin", "analyst"}),
    ("GET", "/console/analytics/clusters"): frozenset({"admin", "marketer", "analyst"}),
    ("POST", "/console/analytics/clusters/refresh"): frozenset({"admin", "analyst"}),
    ("GET", "/console/analytics/churn"): frozenset({"admin", "marketer", "analyst"}),
    ("POST", "/console/analytics/churn/refresh"): frozenset({"admin", "analyst"}),
    ("GET", "/console/analytics/recommendations"): frozenset({"admin", "marketer", "analyst"}),
    ("POST", "/console/analytics/recommendations/refresh"): frozenset({"admin", "analyst"}),
    ("GET", "/console/admin/jobs"): frozenset({"admin", "analyst", "auditor"}),
    ("GET", "/console/admin/jobs/{job_id}/progress"): frozenset({"admin", "analyst", "auditor"}),
    ("POST", "/console/admin/jobs"): frozenset({"admin"}),  # a tier evaluation: jobs:run
    # anomalies: read by anomalies:read (a store manager: their stores' members), reviewed by anomalies:review
    ("GET", "/console/anomalies"): frozenset({"admin", "auditor", "analyst", "store_manager"}),
    ("GET", "/console/anomalies/rules"): frozenset({"admin", "auditor", "analyst", "store_manager"}),
    ("POST", "/console/anomalies/rules"): frozenset({"admin", "auditor"}),
    ("POST", "/console/anomalies/scan"): frozenset({"admin", "auditor"}),
    ("GET", "/console/anomalies/{flag_id}"): frozenset({"admin", "auditor", "analyst", "store_manager"}),
    ("POST", "/console/anomalies/{flag_id}/review"): frozenset({"admin", "auditor"}),
    ("POST", "/console/anomalies/suspensions/{member_id}/lift"): frozenset({"admin", "auditor"}),
    ("GET", "/console/dashboard"): frozenset({"admin", "marketer", "store_manager", "analyst"}),
    # store targets: followed as the KPIs (kpis:read), set by the chain (targets:write)
    ("GET", "/console/targets"): frozenset({"admin", "marketer", "store_manager", "analyst"}),
    ("POST", "/console/targets/plan"): frozenset({"admin"}),
    ("POST", "/console/targets/store"): frozenset({"admin"}),
    ("POST", "/console/targets/alert-rules"): frozenset({"admin"}),
    # members' feedback: read as the KPIs (feedback:read), handled by the stores (feedback:handle)
    ("GET", "/console/feedback"): frozenset({"admin", "marketer", "store_manager", "analyst"}),
    ("POST", "/console/feedback/handle"): frozenset({"admin", "store_manager"}),
    # earning rules: read by programme:read, changed by programme:write; the till's quote: purchases:write
    ("GET", "/console/programme/rules"): frozenset({"admin", "marketer", "analyst", "auditor"}),
    ("GET", "/console/programme/rules.yaml"): frozenset({"admin", "marketer", "analyst", "auditor"}),
    ("POST", "/console/programme/rules"): frozenset({"admin", "marketer"}),
    ("POST", "/console/programme/rules/{code}/retire"): frozenset({"admin", "marketer"}),
    ("GET", "/console/programme/rewards"): frozenset({"admin", "marketer", "analyst", "auditor"}),
    ("GET", "/console/programme/offers"): frozenset({"admin", "marketer", "analyst", "auditor"}),
    ("POST", "/console/programme/offers"): frozenset({"admin", "marketer"}),
    ("POST", "/console/programme/offers/{code}/issue"): frozenset({"admin", "marketer"}),
    ("POST", "/console/programme/offers/{code}/end"): frozenset({"admin", "marketer"}),
    ("GET", "/console/programme.yaml"): frozenset({"admin", "marketer", "analyst", "auditor"}),
    ("POST", "/console/programme/import"): frozenset({"admin", "marketer"}),
    ("POST", "/console/programme/rewards"): frozenset({"admin", "marketer"}),
    ("POST", "/console/members/{member_id}/sales/quote"): FRONT,
    ("POST", "/console/logout"): ALL,  # last: it ends the session
}


def test_the_matrix_covers_every_console_route(world: World) -> None:
    routes = app_routes(world.app, console=True)
    assert routes == set(MATRIX)


def _path(world: World, template: str) -> str:
    """`template` with its {parameters} filled: member A, store A, and for the admin pages objects
    made for this test (a staff account, a POS key) where an allowed request may change them."""
    ids = world.__dict__.setdefault("_console_ids", {})
    if not ids:
        target = auth.create_staff(world.ctx, username="matrix_target", password=PASSWORD, role="analyst")
        key, _secret = auth.create_api_key(world.ctx, store_id=world.store_a, name="matrix-till")
        ids.update(
            member_id=world.member_a["id"],
            store_id=world.store_a,
            merchant_id=world.merchant_id,
            user_id=target.id,
            key_id=key.id,
            tier_id=tiers.list_tiers(world.ctx)[-1].id,
            job_id=jobs.run_now(world.ctx, jobs.TIER_EVALUATION, SYSTEM)[0].id,
            flag_id=flag_for(world.ctx, world.member_a["id"], world.store_a),
        )
    return re.sub(r"\{(\w+)\}", lambda m: str(ids.get(m[1], m[0])), template)


def _body(world: World, path: str) -> dict[str, str]:
    n = _unique()
    if path.endswith("/active"):
        return {"active": "1"}  # enable an enabled account: nothing changes
    if path.endswith("/password"):
        return {"password": "short"}  # refused beside the field: nothing changes
    if path == "/console/members":
        return {"phone": f"+86137{n:08d}", "name": f"Matrix {n}"}
    if path.endswith("/sales"):
        return {"order_id": f"MX-{n}", "sku_0": "SKU-1", "qty_0": "1", "price_0": "10.00"}
    if path.endswith("/redeem"):
        return {"points": "1", "key": f"K-{n}"}
    if path.endswith("/returns"):
        return {"order_id": f"NOPE-{n}", "return_id": f"R-{n}"}
    if path == "/console/find":
        return {"q": "+8613800000001"}
    if path.endswith("/merge/find"):
        return {"q": ""}  # refused beside the field: nothing is merged
    if path.endswith("/erase"):
        return {"confirm": "not-the-card-number"}  # refused beside the field: nothing is erased
    if path == "/console/language":
        return {"lang": "en", "next": "/console"}
    if path == "/console/analytics/download":
        return {"table": "segments", "format": "csv"}
    if path == "/console/analytics/clusters/refresh":
        return {"k": "99"}  # refused beside the form: no job is started
    if path == "/console/analytics/churn/refresh":
        return {"horizon": "7"}  # not a horizon the form offers: refused in the flash, no job started
    if path == "/console/anomalies/scan":
        return {"from": "not-a-day"}  # refused in the flash: no scan is started
    if path == "/console/anomalies/rules":
        return {}  # no rule on the form: nothing changes
    if path.startswith("/console/anomalies/") and path.endswith("/review"):
        return {}  # no decision: refused beside the form, the flag stays open
    if path == "/console/admin/jobs":
        return {"kind": "tier_evaluation"}
    if path == "/console/programme/rules":
        return {"yaml": "", "action": "check"}  # refused beside the box: nothing is defined
    if path == "/console/programme/offers":
        return {"yaml": ""}  # refused beside the form: nothing is defined
    if path == "/console/programme/import":
        return {"document": "", "action": "check"}  # refused beside the box: nothing is imported
    if path.endswith("/issue") or (path.startswith("/console/programme/offers/") and path.endswith("/end")):
        return {}  # no count, no confirmation: refused, nothing issued or ended
    if path == "/console/programme/rewards":
        return {"code": "", "points": "x"}  # refused beside the form: nothing is added
    if path == "/console/targets/plan":
        return {"chain_target": "1000", "method": "equal"}  # not confirmed: refused, no plan is set
    if path == "/console/targets/store":
        return {"target": "x"}  # no store, no amount: refused beside the form, nothing is changed
    if path == "/console/targets/alert-rules":
        return {"behind_points": "x"}  # not a number: refused beside the form, nothing is changed
    if path == "/console/feedback/handle":
        return {}  # no rating named: refused in the flash, nothing is handled
    if path.endswith("/retire"):
        return {}  # not confirmed: refused beside the form, nothing is retired
    if path.endswith("/sales/quote"):
        return {"sku_0": "SKU-1", "price_0": "10.00"}  # a quote writes nothing
    return {}


@pytest.mark.parametrize("role", sorted(ALL))
def test_each_role_reaches_exactly_its_console_routes(world: World, role: str) -> None:
    username = f"{role}1"
    console = as_(world.app, username)
    for (method, template), allowed in MATRIX.items():
        if allowed is None:
            continue
        path = _path(world, template)
        response = console.get(path) if method == "GET" else console.post(path, _body(world, path))
        where = response.headers.get("location", "")
        if template == "/console/logout":
            assert (response.status_code, where) == (303, "/console/login")
        elif role in allowed:
            assert response.status_code != 403, (role, method, template)
            assert where != "/console/login", (role, method, template)
            assert response.status_code < 500
        else:
            assert response.status_code == 403, (role, method, template, response.status_code)
            assert "Your role does not allow this page." in response.text


def test_without_a_session_every_page_sends_to_the_login(world: World) -> None:
    console = Console(world.app)
    token = token_of(console.get("/console/login").text)
    for (method, template), allowed in MATRIX.items():
        if allowed is None:
            continue
        path = _path(world, template)
        response = (
            console.get(path)
            if method == "GET"
            else console.client.post(
                path, data={**_body(world, path), "csrf_token": token}, follow_redirects=False
            )
        )
        assert (response.status_code, response.headers.get("location")) == (303, "/console/login"), path


def test_store_staff_see_only_their_stores_receipts(world: World) -> None:
    member_b = world.member_b["id"]
    order = f"B-ONLY-{_unique()}"
    _sale(world, world.store_b, member_b, order)
    page = f"/console/members/{member_b}"
    assert order not in as_(world.app, "cashier1").get(page).text
    assert order not in as_(world.app, "store_manager1").get(page).text
    assert order in as_(world.app, "cashier_b").get(page).text
    assert order in as_(world.app, "admin1").get(page).text
    # the service agrees: what the console shows is what the API shows a store's staff
    mine = purchase_history.member_purchases(world.ctx, member_b, store_ids=[world.store_a]).items
    assert order not in {r.order_id for r in mine}


def test_a_cashier_cannot_post_for_another_store(world: World) -> None:
    console = as_(world.app, "cashier1")
    member = world.member_a["id"]
    order = f"X-STORE-{_unique()}"
    body = {"order_id": order, "store_id": str(world.store_b), "sku_0": "SKU-1", "price_0": "10.00"}
    response = console.post(f"/console/members/{member}/sales", body)
    assert response.status_code == 422
    assert "You may act only for your own stores." in response.text
    listed = purchases_service.list_purchases(world.ctx, store_ids=[world.store_b], limit=200).items
    assert order not in {p.order_id for p in listed}
    redeem = console.post(
        f"/console/members/{member}/redeem", {"points": "1", "key": "K-x", "store_id": str(world.store_b)}
    )
    assert redeem.status_code == 422
    assert "You may act only for your own stores." in redeem.text


def test_contact_details_are_masked_as_the_api_masks_them(world: World) -> None:
    a, b = world.member_a, world.member_b
    cashier = as_(world.app, "cashier1")
    assert "+8613800000001" in cashier.get(f"/console/members/{a['id']}").text
    other_store = cashier.get(f"/console/members/{b['id']}").text
    assert "+8613800000002" not in other_store
    assert "+86138****0002" in other_store
    analyst = as_(world.app, "analyst1").get(f"/console/members/{a['id']}").text
    assert "+8613800000001" not in analyst
    assert "+86138****0001" in analyst
    assert "Contact details are masked" in analyst
    api = world.client.get(f"/api/v1/members/{b['id']}", headers=world.as_("cashier")).json()
    assert api["phone"] in other_store


# --- the till's journey without a browser -----------------------------------------------------------


def test_no_personal_data_in_any_url(world: World) -> None:
    console = as_(world.app, "cashier1")
    n = _unique()
    phone, name = f"+86136{n:08d}", f"Privacy{n}"
    registered = console.post("/console/members", {"phone": phone, "name": name}, follow_redirects=True)
    assert registered.status_code == 200
    assert name in registered.text
    card = re.search(r"\b88\d{14}\b", registered.text)
    code = re.search(r"\bLM[A-Z2-9]{20}\b", registered.text)
    assert card
    assert code
    for query in (phone, phone[3:], card.group(0), code.group(0), f"loyalty:member:{code.group(0)}", name):
        found = console.post("/console/find", {"q": query}, follow_redirects=True)
        assert found.status_code == 200, query
        assert name in found.text, query
    assert console.get("/console/find").status_code == 405  # a search is never a GET
    secrets = (phone, phone[3:], card.group(0), code.group(0), name)
    leaked = [url for url in console.urls for s in secrets if s in url]
    assert leaked == []
    assert all(re.fullmatch(r"http://testserver/console(/[a-z]+)*(/\d+)?", u) for u in console.urls), (
        console.urls
    )


def test_a_sale_a_redemption_and_a_return_change_the_card(world: World) -> None:
    console = as_(world.app, "cashier1")
    member = world.member_a["id"]
    points.adjust(world.ctx, member, 500, reason="welcome gift", operator="test")
    page = f"/console/members/{member}"
    before = _figures(console.get(page).text)
    order = f"J-{_unique()}"
    body = {
        "order_id": order,
        "sku_0": "TEE",
        "qty_0": "2",
        "price_0": "59.90",
        "sku_1": "CAP",
        "price_1": "30",
        "discount_1": "5.00",
    }
    done = console.post(f"{page}/sales", body, follow_redirects=True)
    assert f"Sale {order} posted: CN¥144.80, 144 points earned." in done.text
    after_sale = _figures(done.text)
    assert after_sale["pending"] == before["pending"] + 144
    again = console.post(f"{page}/sales", body)  # the same form submitted twice
    assert again.status_code == 422
    assert f"Receipt {order} was already posted; nothing was added." in again.text
    assert _figures(again.text) == after_sale
    redeemed = console.post(f"{page}/redeem", {"points": "100", "key": f"K-{order}"}, follow_redirects=True)
    assert "100 points redeemed for" in redeemed.text
    assert _figures(redeemed.text)["available"] == after_sale["available"] - 100
    returned = console.post(
        f"{page}/returns", {"order_id": order, "return_id": f"R-{order}"}, follow_redirects=True
    )
    assert "Return posted: CN¥144.80 refunded, 144 points taken back." in returned.text
    assert _figures(returned.text)["pending"] == before["pending"]
    assert "welcome gift" in returned.text  # the statement shows each movement's reason


def test_a_bad_line_is_named_and_nothing_is_posted(world: World) -> None:
    console = as_(world.app, "cashier1")
    member = world.member_a["id"]
    order = f"BAD-{_unique()}"
    response = console.post(
        f"/console/members/{member}/sales", {"order_id": order, "sku_0": "TEE", "price_0": "59.901"}
    )
    assert response.status_code == 422
    assert "Enter an amount such as 59.90." in response.text
    assert 'value="59.901"' in response.text  # what was typed is kept
    listed = purchases_service.list_purchases(world.ctx, store_ids=[world.store_a], limit=200).items
    assert order not in {p.order_id for p in listed}


def _figures(html: str) -> dict[str, int]:
    found = {k: re.search(rf'id="points-{k}">([\d,]+)<', html) for k in ("available", "pending")}
    return {k: int(m.group(1).replace(",", "")) for k, m in found.items() if m}


# --- languages -------------------------------------------------------------------------------------


def test_the_language_follows_the_browser_then_the_switch(world: World) -> None:
    zh = Console(world.app, **{"Accept-Language": "zh-CN,zh;q=0.9"})
    page = zh.get("/console/login")
    assert "员工登录" in page.text
    assert 'lang="zh-Hans"' in page.text
    en = Console(world.app, **{"Accept-Language": "en-US"})
    assert "Staff login" in en.get("/console/login").text
    token = token_of(en.get("/console/login").text)
    switched = en.client.post(
        "/console/language",
        data={"lang": "zh-CN", "next": "/console/login", "csrf_token": token},
        follow_redirects=False,
    )
    assert switched.headers["location"] == "/console/login"
    assert "员工登录" in en.get("/console/login").text  # the cookie wins over Accept-Language
    assert en.login("cashier1").status_code == 303
    card = en.get(f"/console/members/{world.member_a['id']}").text
    assert "可用积分" in card
    assert "Points available" not in card


def test_the_language_switch_goes_back_only_within_the_console(world: World) -> None:
    console = as_(world.app, "cashier1")
    for target in ("https://evil.example/console", "//evil.example/console", "/api/v1/members", ""):
        response = console.post("/console/language", {"lang": "en", "next": target})
        assert response.headers["location"] == "/console", target


# --- accessibility basics --------------------------------------------------------------------------


class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.labels: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in {"input", "select", "textarea"} and a.get("type") not in {"hidden", "submit"}:
            self.controls.append(a)
        if tag == "label" and a.get("for"):
            self.labels.add(str(a["for"]))


def test_every_input_has_a_label(world: World) -> None:
    console = as_(world.app, "admin1")
    pages = ["/console", "/console/members/new", f"/console/members/{world.member_a['id']}"]
    checked = 0
    for path in pages:
        parser = _Inputs()
        parser.feed(console.get(path).text)
        for control in parser.controls:
            assert control.get("id") in parser.labels or control.get("aria-label"), (path, control)
            checked += 1
    login = _Inputs()
    login.feed(Console(world.app).get("/console/login").text)
    assert {"username", "password"} <= login.labels
    assert checked > 20


def test_a_missing_member_is_a_page_not_a_problem_document(world: World) -> None:
    console = as_(world.app, "cashier1")
    for path in ("/console/members/999999", "/console/members/not-a-number"):
        response = console.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")


def test_messages_made_in_python_follow_the_pages_language(world: World) -> None:
    """A page in Chinese shows the route's own messages in Chinese too, whatever LOYALTY_LOCALE says."""
    console = Console(world.app, **{"Accept-Language": "zh-CN"})
    assert console.login("cashier1").status_code == 303
    missing = console.post("/console/find", {"q": "13999999999"})
    assert "没有找到符合输入的会员。" in missing.text
    assert "No member found" not in missing.text
