"""The console's administration pages through the test client, on SQLite and PostgreSQL: stores and
merchants, staff accounts, POS keys, the programme and its tiers, the audit log.

Each write is checked in the database (through the services) and in the audit log; each refusal
(another role, another store, a bad field, a missing CSRF token) is checked to have written nothing.
"""

from __future__ import annotations

import itertools
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from sqlalchemy import text

from loyalty.services import auth, merchants, programme_settings, tiers
from loyalty.services import purchases as purchases_service
from loyalty.services.schemas import PurchaseIn, PurchaseLineIn
from loyalty.web.console.admin import audit as audit_page
from tests.api.api_world import World, register
from tests.web.console_client import Console, as_

_n = itertools.count(1)


def _unique() -> int:
    return next(_n)


def _last_audit(world: World) -> int:
    with world.ctx.engine.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar_one())


def _audited_since(world: World, last: int) -> list[dict[str, Any]]:
    with world.ctx.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT actor_kind, actor_id, action, entity, entity_id FROM audit_log"
                " WHERE id > :last ORDER BY id"
            ),
            {"last": last},
        )
        return [dict(r._mapping) for r in rows]


def _error_of(html: str, field_id: str) -> str:
    """The error shown beside the input `field_id` (the page names the field it is about)."""
    found = re.search(rf'<p class="error" id="{re.escape(field_id)}-error">([^<]*)</p>', html)
    assert found, f"no error beside {field_id}"
    assert re.search(rf'id="{re.escape(field_id)}"[^>]*aria-invalid="true"', html), field_id
    return found.group(1)


class _Controls(HTMLParser):
    """Every input, select and textarea (but hidden ones) and the ids the page's labels point to."""

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


def _admin_pages(world: World) -> list[str]:
    tier = tiers.list_tiers(world.ctx)[0]
    return [
        "/console/admin",
        "/console/admin/stores",
        "/console/admin/stores/new",
        f"/console/admin/stores/{world.store_a}",
        "/console/admin/merchants/new",
        f"/console/admin/merchants/{world.merchant_id}",
        "/console/admin/staff",
        "/console/admin/staff/new",
        f"/console/admin/staff/{world.staff_ids['cashier']}",
        "/console/admin/keys",
        f"/console/admin/stores/{world.store_a}/keys",
        "/console/admin/programme",
        f"/console/admin/tiers/{tier.id}",
        "/console/admin/audit",
    ]


# --- the index and every page ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "sections"),
    [
        ("admin", {"stores", "staff", "keys", "programme", "audit", "jobs"}),
        ("store_manager", {"keys"}),
        ("marketer", {"programme"}),
        ("auditor", {"audit", "jobs"}),
        ("analyst", {"jobs"}),
    ],
)
def test_the_index_lists_the_sections_the_role_may_open(world: World, role: str, sections: set[str]) -> None:
    console = as_(world.app, f"{role}1")
    page = console.get("/console/admin")
    assert page.status_code == 200
    linked = set(re.findall(r'href="/console/admin/([a-z]+)"', page.text))
    assert linked == sections
    assert 'href="/console/admin"' in console.get("/console").text  # the nav links to it


def test_a_cashier_has_no_administration(world: World) -> None:
    console = as_(world.app, "cashier1")
    assert 'href="/console/admin"' not in console.get("/console").text
    page = console.get("/console/admin")
    assert page.status_code == 403
    assert "Your role does not allow this page." in page.text


def test_every_admin_page_renders_labelled_without_inline_script(world: World) -> None:
    console = as_(world.app, "admin1")
    checked = 0
    for path in _admin_pages(world):
        page = console.get(path)
        assert page.status_code == 200, (path, page.text[:500])
        html = page.text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert " style=" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path
        parser = _Controls()
        parser.feed(html)
        for control in parser.controls:
            assert control.get("id") in parser.labels or control.get("aria-label"), (path, control)
            checked += 1
    assert checked > 40


def test_the_pages_speak_chinese_and_english(world: World) -> None:
    zh = Console(world.app, **{"Accept-Language": "zh-CN"})
    assert zh.login("admin1").status_code == 303
    index = zh.get("/console/admin").text
    assert "门店与商户" in index
    assert "审计日志" in index
    assert "Stores and merchants" not in index
    en = Console(world.app, **{"Accept-Language": "en"})
    assert en.login("admin1").status_code == 303
    programme = en.get("/console/admin/programme").text
    assert "Tier ladder" in programme
    assert "Days after the sale points expire" in programme
    assert "等级阶梯" not in programme


# --- stores and merchants ------------------------------------------------------------------------------


def test_an_admin_opens_and_changes_a_store_audited(world: World) -> None:
    console = as_(world.app, "admin1")
    code = f"SH{_unique():03d}"
    last = _last_audit(world)
    body = {
        "code": code,
        "name": "静安寺店",
        "city": "上海",
        "timezone": "Asia/Shanghai",
        "merchant_id": str(world.merchant_id),
    }
    opened = console.post("/console/admin/stores", body)
    assert opened.status_code == 303
    store = next(s for s in merchants.list_stores(world.ctx) if s.code == code)
    assert opened.headers["location"] == f"/console/admin/stores/{store.id}"
    assert (store.name, store.city, store.timezone) == ("静安寺店", "上海", "Asia/Shanghai")
    changed = console.post(
        f"/console/admin/stores/{store.id}",
        {**body, "name": "静安寺旗舰店", "city": "", "timezone": "Asia/Tokyo"},
        follow_redirects=True,
    )
    assert changed.status_code == 200
    assert f"Store {code} 静安寺旗舰店 saved." in changed.text or "已保存" in changed.text
    after = merchants.get_store(world.ctx, store.id)
    assert (after.name, after.city, after.timezone) == ("静安寺旗舰店", None, "Asia/Tokyo")
    rows = _audited_since(world, last)
    admin = str(world.staff_ids["admin"])
    assert [(r["action"], r["entity_id"], r["actor_id"]) for r in rows] == [
        ("store.create", str(store.id), admin),
        ("store.update", str(store.id), admin),
    ]
    with world.ctx.engine.connect() as conn:
        before, after_values = conn.execute(
            text("SELECT before, after FROM audit_log WHERE action = 'store.update' ORDER BY id DESC LIMIT 1")
        ).one()
    assert "Asia/Shanghai" in str(before)
    assert "Asia/Tokyo" in str(after_values)


def test_a_bad_store_names_each_field_and_writes_nothing(world: World) -> None:
    console = as_(world.app, "admin1")
    stores_before = merchants.list_stores(world.ctx)
    last = _last_audit(world)
    bad = {"code": "SH 01", "name": "", "city": "x" * 65, "timezone": "Mars/Olympus", "merchant_id": "nope"}
    page = console.post("/console/admin/stores", bad)
    assert page.status_code == 422
    for field in ("code", "name", "city", "timezone", "merchant_id"):
        assert _error_of(page.text, f"store-{field}")
    assert 'value="SH 01"' in page.text  # what was typed is kept
    taken = {
        **bad,
        "code": "S001",
        "name": "Clash",
        "city": "",
        "timezone": "UTC",
        "merchant_id": str(world.merchant_id),
    }
    clash = console.post("/console/admin/stores", taken)
    assert clash.status_code == 422
    assert "S001" in _error_of(clash.text, "store-code")
    changed = console.post(f"/console/admin/stores/{world.store_b}", {**taken, "name": "Store B"})
    assert changed.status_code == 422
    assert "S001" in _error_of(changed.text, "store-code")
    assert merchants.list_stores(world.ctx) == stores_before
    assert _audited_since(world, last) == []


def test_a_post_without_the_csrf_token_writes_nothing(world: World) -> None:
    console = as_(world.app, "admin1")
    body = {
        "code": f"X{_unique()}",
        "name": "Forged",
        "timezone": "UTC",
        "merchant_id": str(world.merchant_id),
    }
    refused = console.post("/console/admin/stores", body, token=False)
    assert refused.status_code == 403
    assert body["code"] not in {s.code for s in merchants.list_stores(world.ctx)}


def test_merchants_are_added_and_renamed(world: World) -> None:
    console = as_(world.app, "admin1")
    code = f"BRAND{_unique()}"
    added = console.post("/console/admin/merchants", {"code": code, "name": "悦享烘焙"})
    assert added.status_code == 303
    merchant = next(m for m in merchants.list_merchants(world.ctx) if m.code == code)
    assert merchant.currency == "CNY"
    again = console.post("/console/admin/merchants", {"code": code, "name": "Twice"})
    assert again.status_code == 422
    assert code in _error_of(again.text, "merchant-code")
    empty = console.post(f"/console/admin/merchants/{merchant.id}", {"name": "  "})
    assert empty.status_code == 422
    assert _error_of(empty.text, "merchant-name")
    renamed = console.post(f"/console/admin/merchants/{merchant.id}", {"name": "悦享面包"})
    assert renamed.status_code == 303
    assert merchants.get_merchant(world.ctx, merchant.id).name == "悦享面包"
    assert console.get("/console/admin/merchants/987654").status_code == 404


# --- staff ---------------------------------------------------------------------------------------------


def test_an_admin_creates_changes_disables_and_resets_a_staff_account(world: World) -> None:
    admin = as_(world.app, "admin1")
    username = f"till{_unique()}"
    last = _last_audit(world)
    created = admin.post(
        "/console/admin/staff",
        {"username": username, "role": "cashier", "store_ids": str(world.store_a), "display_name": "小李"},
    )
    assert created.status_code == 200  # the generated password is on this page, once
    secret = re.search(r'id="secret-value"[^>]*value="([^"]+)"', created.text)
    assert secret
    user = next(u for u in auth.list_staff(world.ctx) if u.username == username)
    assert (user.role, user.store_ids, user.display_name) == ("cashier", [world.store_a], "小李")
    assert secret.group(1) not in admin.get(f"/console/admin/staff/{user.id}").text  # never again
    clerk = Console(world.app)
    assert clerk.login(username, secret.group(1)).status_code == 303

    promoted = admin.post(
        f"/console/admin/staff/{user.id}",
        {"role": "store_manager", "store_ids": [str(world.store_a), str(world.store_b)], "display_name": ""},
    )
    assert promoted.status_code == 303
    user = auth.get_staff(world.ctx, user.id)
    assert user is not None
    assert (user.role, user.store_ids, user.display_name) == (
        "store_manager",
        [world.store_a, world.store_b],
        None,
    )
    assert clerk.get("/console/admin/keys").status_code == 200  # the new role at the next click

    disabled = admin.post(f"/console/admin/staff/{user.id}/active", {"active": "0"})
    assert disabled.status_code == 303
    assert clerk.get("/console").headers["location"] == "/console/login"
    assert admin.post(f"/console/admin/staff/{user.id}/active", {"active": "1"}).status_code == 303

    chosen = "a-new-passw0rd"
    reset = admin.post(f"/console/admin/staff/{user.id}/password", {"password": chosen})
    assert reset.status_code == 303
    assert Console(world.app).login(username, secret.group(1)).status_code == 401
    assert Console(world.app).login(username, chosen).status_code == 303
    generated = admin.post(f"/console/admin/staff/{user.id}/password", {})
    assert generated.status_code == 200
    fresh = re.search(r'id="secret-value"[^>]*value="([^"]+)"', generated.text)
    assert fresh
    assert Console(world.app).login(username, fresh.group(1)).status_code == 303

    actions = [(r["action"], r["entity_id"]) for r in _audited_since(world, last)]
    assert actions == [
        ("staff.create", str(user.id)),
        ("staff.update", str(user.id)),
        ("staff.update", str(user.id)),
        ("staff.update", str(user.id)),
        ("staff.password_reset", str(user.id)),
        ("staff.password_reset", str(user.id)),
    ]
    with world.ctx.engine.connect() as conn:
        logged = str(conn.execute(text("SELECT after FROM audit_log WHERE entity = 'staff_user'")).all())
    assert chosen not in logged
    assert fresh.group(1) not in logged
    assert secret.group(1) not in logged


def test_bad_staff_input_is_named_and_nothing_is_written(world: World) -> None:
    admin = as_(world.app, "admin1")
    staff_before = auth.list_staff(world.ctx)
    last = _last_audit(world)
    page = admin.post("/console/admin/staff", {"username": "x", "role": "wizard", "password": "short"})
    assert page.status_code == 422
    for field in ("username", "role", "password"):
        assert _error_of(page.text, f"new-{field}")
    no_store = admin.post("/console/admin/staff", {"username": f"nostore{_unique()}", "role": "cashier"})
    assert no_store.status_code == 422
    assert "store" in no_store.text.lower()
    assert 'id="new-store_ids-error"' in no_store.text
    taken = admin.post("/console/admin/staff", {"username": "cashier1", "role": "analyst"})
    assert taken.status_code == 422
    assert "cashier1" in _error_of(taken.text, "new-username")
    target = world.staff_ids["analyst"]
    bad_role = admin.post(f"/console/admin/staff/{target}", {"role": "cashier"})  # a store role, no store
    assert bad_role.status_code == 422
    assert auth.list_staff(world.ctx) == staff_before
    assert _audited_since(world, last) == []


def test_the_last_active_administrator_cannot_be_disabled_or_demoted(world: World) -> None:
    admin = as_(world.app, "admin1")
    me = world.staff_ids["admin"]
    others = [u for u in auth.list_staff(world.ctx) if u.role == "admin" and u.active and u.id != me]
    assert others == []  # the world has one administrator
    last = _last_audit(world)
    disabled = admin.post(f"/console/admin/staff/{me}/active", {"active": "0"})
    assert disabled.status_code == 409
    assert "last active administrator" in disabled.text
    demoted = admin.post(f"/console/admin/staff/{me}", {"role": "analyst"})
    assert demoted.status_code == 409
    assert "last active administrator" in _error_of(demoted.text, "edit-role")
    still = auth.get_staff(world.ctx, me)
    assert still is not None
    assert (still.role, still.active) == ("admin", True)
    assert _audited_since(world, last) == []


# --- POS keys ------------------------------------------------------------------------------------------


def test_a_store_manager_manages_the_keys_of_their_store_only(world: World) -> None:
    manager = as_(world.app, "store_manager1")  # store A
    listing = manager.get("/console/admin/keys").text
    assert f"/console/admin/stores/{world.store_a}/keys" in listing
    assert f"/console/admin/stores/{world.store_b}/keys" not in listing
    assert manager.get(f"/console/admin/stores/{world.store_b}/keys").status_code == 403
    keys_b = auth.list_api_keys(world.ctx, world.store_b)
    refused = manager.post(f"/console/admin/stores/{world.store_b}/keys", {"name": "sneaky"})
    assert refused.status_code == 403
    assert auth.list_api_keys(world.ctx, world.store_b) == keys_b
    key_b, _secret = auth.create_api_key(world.ctx, store_id=world.store_b, name="till-b2")
    assert manager.post(f"/console/admin/keys/{key_b.id}/revoke").status_code == 403
    assert auth.get_api_key(world.ctx, key_b.id).revoked_at is None  # type: ignore[union-attr]
    assert manager.get(f"/console/admin/stores/{world.store_a}/keys").status_code == 200


def test_a_new_key_is_shown_once_works_and_is_revoked(world: World) -> None:
    manager = as_(world.app, "store_manager1")
    path = f"/console/admin/stores/{world.store_a}/keys"
    empty = manager.post(path, {"name": ""})
    assert empty.status_code == 422
    assert _error_of(empty.text, "key-name")
    last = _last_audit(world)
    created = manager.post(path, {"name": "till-9"})
    assert created.status_code == 200
    found = re.search(r'id="secret-value"[^>]*value="(lk_[^"]+)"', created.text)
    assert found
    secret = found.group(1)
    assert "not shown again" in created.text or "不会再次显示" in created.text
    who = world.client.get("/api/v1/auth/whoami", headers={"X-API-Key": secret})
    assert who.status_code == 200
    assert (who.json()["kind"], who.json()["store_ids"]) == ("api_key", [world.store_a])
    assert secret not in manager.get(path).text  # shown once
    key = next(k for k in auth.list_api_keys(world.ctx, world.store_a) if k.name == "till-9")
    revoked = manager.post(f"/console/admin/keys/{key.id}/revoke")
    assert revoked.status_code == 303
    assert revoked.headers["location"] == path
    assert auth.verify_api_key(world.ctx, secret) is None
    manager_id = str(world.staff_ids["store_manager"])
    assert [(r["action"], r["actor_id"]) for r in _audited_since(world, last)] == [
        ("api_key.create", manager_id),
        ("api_key.revoke", manager_id),
    ]
    assert manager.post("/console/admin/keys/987654/revoke").status_code == 404


# --- programme and tiers -------------------------------------------------------------------------------


def _programme_form(console: Console) -> dict[str, str]:
    """The programme form's fields as the page fills them (the tier form below it left out)."""
    html = console.get("/console/admin/programme").text.split('id="tiers-title"')[0]
    values = dict(re.findall(r'name="([a-z_]+)" type="text" value="([^"]*)"', html))
    policy = re.search(r'<option value="([a-z_]+)" selected>', html)
    assert policy
    return {**values, "downgrade_policy": policy.group(1)}


def test_a_marketer_changes_the_programme_audited(world: World) -> None:
    marketer = as_(world.app, "marketer1")
    values = _programme_form(marketer)
    assert values["expiry_days"] == str(programme_settings.programme_settings(world.ctx).expiry_days)
    assert values["downgrade_policy"] == "one_step"
    last = _last_audit(world)
    body = {
        **values,
        "name": "悦享会员计划",
        "redeem_cap_pct": "30",
        "excluded_categories": "tobacco，gift_card, lottery",
        "downgrade_policy": "window",
    }
    saved = marketer.post("/console/admin/programme", body)
    assert saved.status_code == 303, saved.text[:2000]
    settings = programme_settings.programme_settings(world.ctx)
    assert (settings.name, settings.redeem_cap_pct, settings.downgrade_policy) == (
        "悦享会员计划",
        30,
        "window",
    )
    assert settings.excluded_categories == ["gift_card", "lottery", "tobacco"]
    rows = _audited_since(world, last)
    assert [(r["action"], r["actor_id"]) for r in rows] == [
        ("programme.update", str(world.staff_ids["marketer"]))
    ]
    with world.ctx.engine.connect() as conn:
        before = (
            conn.execute(text("SELECT before FROM audit_log WHERE action = 'programme.update'"))
            .scalars()
            .all()
        )
    assert "one_step" in str(before[-1])


def test_bad_programme_rules_are_named_and_nothing_changes(world: World) -> None:
    admin = as_(world.app, "admin1")
    before = programme_settings.programme_settings(world.ctx)
    last = _last_audit(world)
    values = _programme_form(admin)
    body = {**values, "redeem_cap_pct": "150", "expiry_days": "abc", "name": ""}
    page = admin.post("/console/admin/programme", body)
    assert page.status_code == 422
    for field in ("redeem_cap_pct", "expiry_days", "name"):
        assert _error_of(page.text, f"prog-{field}")
    short = admin.post(
        "/console/admin/programme", {**values, "return_window_days": "30", "expiry_days": "20"}
    )
    assert short.status_code == 422
    assert "30" in _error_of(short.text, "prog-expiry_days")
    assert programme_settings.programme_settings(world.ctx) == before
    assert _audited_since(world, last) == []


def _sale(world: World, member_id: int, amount_minor: int) -> None:
    purchases_service.post_purchase(
        world.ctx,
        PurchaseIn(
            store_id=world.store_a,
            order_id=f"TIER-{_unique()}",
            occurred_at=world.ctx.now(),
            member_id=member_id,
            currency="CNY",
            lines=[PurchaseLineIn(sku="SKU-T", quantity=1, unit_price_minor=amount_minor)],
        ),
    )


def test_tiers_are_added_and_changed_and_members_follow_at_the_next_evaluation(world: World) -> None:
    admin = as_(world.app, "admin1")
    ladder = tiers.list_tiers(world.ctx)
    silver = next(t for t in ladder if t.code == "silver")
    gold = next(t for t in ladder if t.code == "gold")
    member = int(register(world, "admin", f"+86135{_unique():08d}", world.store_a)["id"])
    _sale(world, member, silver.threshold_minor + 50_000)  # qualifies for silver: upgraded at the sale
    assert tiers.member_tier(world.ctx, member).tier.code == "silver"
    last = _last_audit(world)

    above_gold = admin.post(
        f"/console/admin/tiers/{silver.id}",
        {"name": silver.name, "threshold": "999999", "multiplier_pct": "120"},
    )
    assert above_gold.status_code == 422
    assert gold.name in _error_of(above_gold.text, "tier-threshold")
    raised = admin.post(
        f"/console/admin/tiers/{silver.id}",
        {
            "name": "银卡会员",
            "threshold": str((silver.threshold_minor + 100_000) // 100),
            "multiplier_pct": "125",
        },
    )
    assert raised.status_code == 303
    changed = next(t for t in tiers.list_tiers(world.ctx) if t.id == silver.id)
    assert (changed.name, changed.threshold_minor, changed.multiplier_pct) == (
        "银卡会员",
        silver.threshold_minor + 100_000,
        125,
    )
    # the member keeps silver until the next evaluation, which moves them down (spend below it now)
    assert tiers.member_tier(world.ctx, member).tier.code == "silver"
    tiers.evaluate_tiers(world.ctx)
    assert tiers.member_tier(world.ctx, member).tier.code == "normal"

    bad = admin.post("/console/admin/tiers", {"name": "", "threshold": "12.345", "multiplier_pct": "2000"})
    assert bad.status_code == 422
    for field in ("name", "threshold", "multiplier_pct"):
        assert _error_of(bad.text, f"tier-{field}")
    same = admin.post(
        "/console/admin/tiers",
        {"name": "重复", "threshold": str(gold.threshold_minor // 100), "multiplier_pct": "130"},
    )
    assert same.status_code == 422
    assert gold.name in _error_of(same.text, "tier-threshold")
    spend = (gold.threshold_minor + 100_000) // 100
    added = admin.post(
        "/console/admin/tiers", {"name": "白金", "threshold": f"{spend}.00", "multiplier_pct": "180"}
    )
    assert added.status_code == 303
    codes = [t.code for t in tiers.list_tiers(world.ctx)]
    assert codes[codes.index("gold") + 1] == "platinum"  # placed by its spend, between gold and diamond
    assert [t.rank for t in tiers.list_tiers(world.ctx)] == list(range(len(codes)))
    assert [r["action"] for r in _audited_since(world, last)] == ["tier.update", "tier.create"]
    assert admin.get("/console/admin/tiers/987654").status_code == 404


# --- the audit log -------------------------------------------------------------------------------------


def test_the_audit_log_filters_by_actor_action_object_and_day(world: World) -> None:
    admin = as_(world.app, "admin1")
    code = f"AUD{_unique()}"
    body = {"code": code, "name": "Audit me", "timezone": "UTC", "merchant_id": str(world.merchant_id)}
    assert admin.post("/console/admin/stores", body).status_code == 303
    store = next(s for s in merchants.list_stores(world.ctx) if s.code == code)
    auditor = as_(world.app, "auditor1")
    who = f"staff:{world.staff_ids['admin']}"
    page = auditor.get("/console/admin/audit", params={"actor": who, "action": "store.create"})
    assert page.status_code == 200
    assert f"store #{store.id}" in page.text
    assert "member.register" not in page.text.split("Entries")[-1]
    by_object = auditor.get("/console/admin/audit", params={"entity": "store", "entity_id": str(store.id)})
    assert f"store #{store.id}" in by_object.text
    assert code in by_object.text  # the values after
    today = world.ctx.now().date()
    yesterday = today.fromordinal(today.toordinal() - 1)
    none = auditor.get(
        "/console/admin/audit",
        params={"entity": "store", "entity_id": str(store.id), "until": str(yesterday)},
    )
    assert f"store #{store.id}" not in none.text
    bad = auditor.get("/console/admin/audit", params={"since": "2026-13-40", "actor": "wizard:1"})
    assert bad.status_code == 422
    assert _error_of(bad.text, "audit-since")
    assert _error_of(bad.text, "audit-actor")
    assert auditor.get("/console/admin/audit", params={"cursor": "nope"}).status_code == 422
    assert as_(world.app, "cashier1").get("/console/admin/audit").status_code == 403


def test_the_audit_log_pages_with_the_cursor_and_keeps_contact_data_masked(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_page, "PAGE_SIZE", 2)
    auditor = as_(world.app, "auditor1")
    first = auditor.get("/console/admin/audit", params={"action": "member.register"})
    assert first.status_code == 200
    older = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert older
    link = older.group(1).replace("&amp;", "&")
    assert "action=member.register" in link
    assert "cursor=" in link
    second = auditor.get(link)
    assert second.status_code == 200
    ids_first = set(re.findall(r"member #(\d+)", first.text))
    ids_second = set(re.findall(r"member #(\d+)", second.text))
    assert len(ids_first) == 2
    assert ids_second
    assert not ids_first & ids_second
    # world members: +8613800000001 (Alice) and +8613800000002 (Bob), registered first
    everything = auditor.get(
        "/console/admin/audit", params={"action": "member.register", "entity_id": str(world.member_a["id"])}
    )
    assert "+86138****0001" in everything.text
    assert "+8613800000001" not in everything.text
    shown = as_(world.app, "admin1").get(
        "/console/admin/audit", params={"action": "member.register", "entity_id": str(world.member_a["id"])}
    )
    assert "+8613800000001" in shown.text
    assert all("+86" not in url for url in auditor.urls)  # no personal data in any URL
