"""The member's 360° page through the test client, on both backends: tier progress and history in both
languages, merging a duplicate (find, compare side by side, confirm; each refusal beside its field),
and the privacy actions (the data package as a download, erasure with a typed confirmation) with
what an erased member looks like everywhere afterwards: the page, the search, the API, the portal,
the exports and the audit log."""

from __future__ import annotations

import html as html_lib
import itertools
import json
import re
from html.parser import HTMLParser
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from loyalty.api.security import mask_phone
from loyalty.db.auth_tables import outbox
from loyalty.exports import service as exports
from loyalty.i18n.formats import money
from loyalty.services import auth, member_otp, points
from loyalty.services import members as members_service
from loyalty.services import purchases as purchases_service
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn
from tests.api.api_world import World
from tests.web.console_client import Console, as_, token_of

_serial = itertools.count(1)


def _phone() -> str:
    return f"+861350000{next(_serial):04d}"


def _member(world: World, name: str, store: int | None = None, **extra: Any) -> Any:
    data = MemberIn(phone=_phone(), name=name, registration_store_id=store or world.store_a, **extra)
    return members_service.register_member(world.ctx, data)


def _sale(world: World, member_id: int, price_minor: int, store: int | None = None) -> str:
    order = f"M360-{next(_serial)}"
    purchases_service.post_purchase(
        world.ctx,
        PurchaseIn(
            store_id=store or world.store_a,
            order_id=order,
            occurred_at=world.ctx.now(),
            member_id=member_id,
            currency="CNY",
            lines=[PurchaseLineIn(sku="SKU-1", quantity=1, unit_price_minor=price_minor)],
        ),
    )
    return order


def _page(console: Console, member_id: int) -> str:
    response = console.get(f"/console/members/{member_id}")
    assert response.status_code == 200, response.text
    return str(response.text)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _error_beside(html: str, field_id: str) -> str:
    """The error message shown beside the input `field_id` (its aria-describedby target)."""
    tag = re.search(rf'<input[^>]*\bid="{field_id}"[^>]*>', html)
    assert tag, f"no input {field_id}"
    described = re.search(r'aria-describedby="([^"]+)"', tag.group(0))
    assert described, f"{field_id} names no error"
    found = re.search(rf'id="{described.group(1)}"[^>]*>([^<]+)<', html)
    assert found, f"no element {described.group(1)}"
    return html_lib.unescape(found.group(1).strip())


# --- tier progress and history ---------------------------------------------------------------------


def test_tier_progress_says_how_much_more_to_spend_in_both_languages(world: World) -> None:
    member = _member(world, "Tiering")
    _sale(world, member.id, 968_000)  # ¥9,680.00: 银卡 at once, ¥320.00 short of 金卡 (¥10,000.00)
    english = Console(world.app, **{"Accept-Language": "en"})
    assert english.login("admin1").status_code == 303
    page = _text(_page(english, member.id))
    assert "Spend CN¥320.00 more to reach 金卡" in page
    assert money(32_000, "CNY", "en") == "CN¥320.00"  # the page's formatting is the locale's
    assert "Qualifying spend in the last 365 days: CN¥9,680.00" in page
    chinese = Console(world.app, **{"Accept-Language": "zh-CN"})
    assert chinese.login("admin1").status_code == 303
    zh = _text(_page(chinese, member.id))
    assert "再消费 ¥320.00 升级金卡" in zh
    assert "最近 365 天的定级消费：¥9,680.00" in zh


def test_tier_history_lists_each_change_with_its_reason(world: World) -> None:
    member = _member(world, "Climber")
    _sale(world, member.id, 250_000)  # past 银卡 (¥2,000.00)
    html = _page(as_(world.app, "analyst1"), member.id)
    history = _text(html.split('id="tiers-title"', 1)[1].split("</table>", 1)[0])
    assert "Upgraded" in history
    assert "Registered" in history
    assert history.index("Upgraded") < history.index("Registered")  # newest first
    assert "银卡" in history


# --- merging a duplicate -----------------------------------------------------------------------------


def test_merge_a_duplicate_found_by_phone_compared_and_confirmed(world: World) -> None:
    survivor = _member(world, "Keeper")
    duplicate = _member(world, "Keeper Twin")
    points.adjust(world.ctx, survivor.id, 100, reason="welcome", operator="test")
    points.adjust(world.ctx, duplicate.id, 40, reason="welcome", operator="test")
    order = _sale(world, duplicate.id, 10_000)
    both = points.balance(world.ctx, survivor.id).balance + points.balance(world.ctx, duplicate.id).balance
    console = as_(world.app, "store_manager1")
    page = f"/console/members/{survivor.id}"
    assert 'id="merge-q"' in _page(console, survivor.id)

    compare = console.post(f"{page}/merge/find", {"q": duplicate.phone})
    assert compare.status_code == 200, compare.text
    shown = _text(compare.text)
    for value in (survivor.card_no, duplicate.card_no, "Keeper", "Keeper Twin", duplicate.phone):
        assert value in shown
    assert f'id="keep-{survivor.id}" name="survivor" value="{survivor.id}" checked' in compare.text

    last_audit = _last_audit(world)
    done = console.post(f"{page}/merge", {"other": str(duplicate.id), "survivor": str(survivor.id)})
    assert (done.status_code, done.headers["location"]) == (303, page)
    landed = _text(console.get(page).text)
    assert f"Member {duplicate.card_no} was merged into this member." in landed
    assert order in landed  # the duplicate's receipt is the survivor's now
    assert points.balance(world.ctx, survivor.id).balance == both > 140  # with what the sale earned
    assert members_service.get_member(world.ctx, duplicate.id).status == "merged"
    rows = _audit_since(world, last_audit)
    assert [
        (r["action"], r["actor_kind"], r["entity_id"]) for r in rows if r["action"] == "member.merge"
    ] == [("member.merge", "staff", str(survivor.id))]
    # the merged-away record points to the survivor, and its old card leads there
    old = _page(console, duplicate.id)
    assert f'href="/console/members/{survivor.id}"' in old.split('id="merged-into"', 1)[1].split("</p>", 1)[0]
    assert 'id="sale-order"' not in old  # nothing more is posted on a merged record
    found = console.post("/console/find", {"q": duplicate.card_no})
    assert found.headers["location"] == page
    # nothing personal travelled in a URL
    assert not [u for u in console.urls if duplicate.phone in u or duplicate.card_no in u]


def test_merge_refusals_are_shown_beside_the_field(world: World) -> None:
    me = _member(world, "Refusals")
    console = as_(world.app, "admin1")
    find = f"/console/members/{me.id}/merge/find"

    same = console.post(find, {"q": me.card_no})
    assert same.status_code == 422
    assert _error_beside(same.text, "merge-q") == "cannot merge a member into itself"

    missing = console.post(find, {"q": "+8613599999999"})
    assert missing.status_code == 404
    assert _error_beside(missing.text, "merge-q") == "No member found for what you typed."
    assert 'value="+8613599999999"' in missing.text  # what was typed is kept

    empty = console.post(find, {"q": ""})
    assert empty.status_code == 422
    assert "Type the duplicate&#39;s member code" in empty.text

    gone = _member(world, "Gone")
    other = _member(world, "Other")
    members_service.merge_members(world.ctx, duplicate_id=gone.id, survivor_id=other.id)
    merged = console.post(find, {"q": gone.member_code})
    assert merged.status_code == 422
    assert _error_beside(merged.text, "merge-q") == f"member {gone.id} was already merged into {other.id}"

    # a store manager merges only members registered at their own stores
    far = _member(world, "Far away", store=world.store_b)
    manager = as_(world.app, "store_manager1")
    refused = manager.post(find, {"q": far.phone})
    assert refused.status_code == 422
    assert _error_beside(refused.text, "merge-q") == "You may merge only members registered at your stores."
    assert manager.post(f"/console/members/{far.id}/merge/find", {"q": me.phone}).status_code == 403

    # nothing was merged by any of these
    assert members_service.get_member(world.ctx, me.id).status == "active"
    assert members_service.get_member(world.ctx, far.id).status == "active"


def test_an_inactive_member_does_not_stay_and_a_forged_choice_is_refused(world: World) -> None:
    inactive = _member(world, "Sleeping")
    active = _member(world, "Awake")
    members_service.deactivate_member(world.ctx, inactive.id)
    console = as_(world.app, "admin1")
    compare = console.post(f"/console/members/{inactive.id}/merge/find", {"q": active.phone})
    assert compare.status_code == 200
    # the page's member cannot stay: the other one is chosen instead
    assert f'id="keep-{active.id}" name="survivor" value="{active.id}" checked' in compare.text
    forced = console.post(
        f"/console/members/{inactive.id}/merge", {"other": str(active.id), "survivor": str(inactive.id)}
    )
    assert forced.status_code == 422
    assert f"member {inactive.id} is not active (inactive)" in forced.text
    assert 'aria-describedby="survivor-error"' in forced.text
    forged = console.post(f"/console/members/{inactive.id}/merge", {"other": str(active.id), "survivor": "1"})
    assert forged.status_code == 422
    assert "Choose which member stays." in forged.text
    assert members_service.get_member(world.ctx, active.id).status == "active"
    done = console.post(
        f"/console/members/{inactive.id}/merge", {"other": str(active.id), "survivor": str(active.id)}
    )
    assert done.headers["location"] == f"/console/members/{active.id}"
    assert members_service.get_member(world.ctx, inactive.id).merged_into_id == active.id


def test_only_managers_see_and_use_the_merge(world: World) -> None:
    a, b = _member(world, "Cashier A"), _member(world, "Cashier B")
    cashier = as_(world.app, "cashier1")
    assert 'id="merge-q"' not in _page(cashier, a.id)
    assert cashier.post(f"/console/members/{a.id}/merge/find", {"q": b.phone}).status_code == 403
    assert (
        cashier.post(
            f"/console/members/{a.id}/merge", {"other": str(b.id), "survivor": str(a.id)}
        ).status_code
        == 403
    )
    assert members_service.get_member(world.ctx, b.id).status == "active"


def test_the_comparison_page_is_labelled_and_has_no_inline_script(world: World) -> None:
    a, b = _member(world, "Label A"), _member(world, "Label B")
    html = as_(world.app, "admin1").post(f"/console/members/{a.id}/merge/find", {"q": b.phone}).text
    parser = _Inputs()
    parser.feed(html)
    assert {c.get("id") for c in parser.controls} == {f"keep-{a.id}", f"keep-{b.id}"}
    assert all(c.get("id") in parser.labels for c in parser.controls)
    assert "<legend>Which member stays?</legend>" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert " style=" not in html


# --- privacy: the data package and erasure ------------------------------------------------------------


def test_an_admin_downloads_the_members_data_package(world: World) -> None:
    member = _member(world, "Exported", email="exported@example.com", marketing_consent=True)
    order = _sale(world, member.id, 12_345)
    points.adjust(world.ctx, member.id, 7, reason="birthday gift", operator="test")
    console = as_(world.app, "admin1")
    assert 'id="data-export"' in _page(console, member.id)
    last = _last_audit(world)
    response = console.post(f"/console/members/{member.id}/data-export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["content-disposition"] == f'attachment; filename="member-{member.id}-data.json"'
    package = json.loads(response.text)
    assert package["format"] == "loyalty.member-data/1"
    assert (package["member"]["phone"], package["member"]["email"]) == (member.phone, "exported@example.com")
    assert package["consents"]["marketing_consent"] is True
    assert [p["order_id"] for p in package["purchases"]] == [order]
    assert package["purchases"][0]["lines"][0]["sku"] == "SKU-1"
    assert "birthday gift" in {e["reason"] for e in package["points"]["statement"]}
    assert [h["reason"] for h in package["tier"]["history"]] == ["register"]
    rows = [r for r in _audit_since(world, last) if r["action"] == "member.data_export"]
    assert len(rows) == 1
    assert member.phone not in json.dumps(rows[0]["after"])
    # the form leaves htmx's boost, so the browser saves the file instead of swapping it in
    assert re.search(r'action="/console/members/\d+/data-export" hx-boost="false"', _page(console, member.id))


def test_privacy_actions_are_for_administrators_only(world: World) -> None:
    member = _member(world, "Private")
    for role in ("store_manager1", "cashier1", "auditor1", "analyst1"):
        console = as_(world.app, role)
        assert 'id="privacy-title"' not in _page(console, member.id), role
        assert console.post(f"/console/members/{member.id}/data-export").status_code == 403, role
        refused = console.post(f"/console/members/{member.id}/erase", {"confirm": member.card_no})
        assert refused.status_code == 403, role
    assert members_service.get_member(world.ctx, member.id).erased_at is None


def test_erasure_needs_the_card_number_typed(world: World) -> None:
    member = _member(world, "Careful")
    console = as_(world.app, "admin1")
    for typed in ("", "8800000000000000", member.member_code):
        response = console.post(f"/console/members/{member.id}/erase", {"confirm": typed})
        assert response.status_code == 422
        assert _error_beside(response.text, "erase-confirm") == (
            "type the member's card number to confirm the erasure"
        )
    kept = members_service.get_member(world.ctx, member.id)
    assert (kept.name, kept.phone, kept.erased_at) == ("Careful", member.phone, None)


def test_an_erased_member_is_gone_everywhere_but_the_books(world: World) -> None:
    member = _member(world, "Erasable Person", email="erasable@example.com", marketing_consent=True)
    order = _sale(world, member.id, 20_000)
    balance = points.balance(world.ctx, member.id)
    auth.issue_member_token(world.ctx, member.id)
    assert member_otp.request_code(world.ctx, member.phone).sent  # a code in the outbox for the phone
    console = as_(world.app, "admin1")
    confirm = f"{member.card_no[:4]} {member.card_no[4:8]}-{member.card_no[8:]}"  # as printed on a card
    done = console.post(f"/console/members/{member.id}/erase", {"confirm": confirm})
    assert (done.status_code, done.headers["location"]) == (303, f"/console/members/{member.id}")

    page = _text(console.get(f"/console/members/{member.id}").text)
    assert "Personal data erased. Purchases and points stay, on an anonymised record." in page
    assert "Erased member" in page
    for old in ("Erasable Person", member.phone, "erasable@example.com", member.card_no, member.member_code):
        assert old not in page
    assert order in page  # the receipt stays for the books
    assert points.balance(world.ctx, member.id).balance == balance.balance
    assert 'id="erase-confirm"' not in page  # nothing left to erase
    assert 'id="merge-q"' not in page

    # the till no longer finds them by anything they carried
    for query in (member.phone, member.card_no, member.member_code, "Erasable"):
        assert console.post("/console/find", {"q": query}).status_code == 404, query
    # the API shows the record without personal data
    api = world.client.get(f"/api/v1/members/{member.id}", headers=world.as_("admin")).json()
    assert (api["phone"], api["name"], api["email"]) == (None, None, None)
    assert api["erased_at"] is not None
    assert api["status"] == "inactive"
    lookup = world.client.get(
        "/api/v1/members/lookup", params={"phone": member.phone}, headers=world.as_("admin")
    )
    assert lookup.status_code == 404
    # the portal answers the old phone as it answers anyone's, and sends nothing
    _portal_answers_like_a_stranger(world, member.phone)
    # exports and the audit log keep none of it
    with world.ctx.engine.connect() as conn:
        exported = exports.members_query(conn)
        dumped = json.dumps([list(r) for r in conn.execute(exported)], default=str)
        audit_text = json.dumps(
            [list(r) for r in conn.execute(text("SELECT before, after FROM audit_log"))], default=str
        )
    for old in ("Erasable Person", member.phone, "erasable@example.com", member.card_no, member.member_code):
        assert old not in dumped
        assert old not in audit_text
    # the phone is free for a new registration
    again = console.post(
        "/console/members", {"phone": member.phone, "name": "New Person", "store_id": str(world.store_a)}
    )
    assert again.status_code == 303
    assert again.headers["location"] != f"/console/members/{member.id}"
    # and a second erasure is refused
    second = console.post(f"/console/members/{member.id}/erase", {"confirm": "x"})
    assert second.status_code == 422
    assert f"member {member.id} was erased" in second.text


def _portal_answers_like_a_stranger(world: World, phone: str) -> None:
    stranger = f"+861360000{next(_serial):04d}"
    client = TestClient(world.app, headers={"accept-language": "en"})
    try:
        answers = []
        for number in (phone, stranger):
            token = token_of(client.get("/m/login").text)
            response = client.post("/m/login", data={"phone": number, "csrf_token": token})
            shown = _text(response.text).replace(number, "PHONE").replace(mask_phone(number) or "", "SHOWN")
            answers.append((response.status_code, shown))
        assert answers[0] == answers[1]
        assert answers[0][0] == 200
    finally:
        client.close()
    with world.ctx.engine.connect() as conn:
        sent = conn.execute(select(func.count()).where(outbox.c.recipient == phone)).scalar_one()
    assert sent == 0  # the code asked for before the erasure went with it, and none was sent since


# --- helpers -----------------------------------------------------------------------------------------


def _last_audit(world: World) -> int:
    with world.ctx.engine.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar_one())


def _audit_since(world: World, last: int) -> list[dict[str, Any]]:
    with world.ctx.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT action, actor_kind, entity_id, after FROM audit_log WHERE id > :last ORDER BY id"),
            {"last": last},
        )
        out = []
        for r in rows:
            row = dict(r._mapping)
            if isinstance(row["after"], str):
                row["after"] = json.loads(row["after"])
            out.append(row)
        return out


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


def test_an_erased_members_portal_session_ends(world: World) -> None:
    member = _member(world, "Portal User")
    client = TestClient(world.app, headers={"accept-language": "en"})
    try:
        token = token_of(client.get("/m/login").text)
        assert client.post("/m/login", data={"phone": member.phone, "csrf_token": token}).status_code == 200
        code = re.search(r"\b(\d{6})\b", member_otp.list_outbox(world.ctx, member.phone, limit=1)[0].body)
        assert code
        signed_in = client.post(
            "/m/login/verify",
            data={"phone": member.phone, "code": code.group(1), "csrf_token": token},
            follow_redirects=False,
        )
        assert signed_in.status_code == 303
        assert client.get("/m", follow_redirects=False).status_code == 200
        console = as_(world.app, "admin1")
        assert (
            console.post(f"/console/members/{member.id}/erase", {"confirm": member.card_no}).status_code
            == 303
        )
        assert client.get("/m", follow_redirects=False).headers["location"] == "/m/login"
    finally:
        client.close()


def test_a_merged_record_cannot_take_a_duplicate(world: World) -> None:
    gone, kept, third = _member(world, "Gone Again"), _member(world, "Kept Again"), _member(world, "Third")
    members_service.merge_members(world.ctx, duplicate_id=gone.id, survivor_id=kept.id)
    refused = as_(world.app, "admin1").post(f"/console/members/{gone.id}/merge/find", {"q": third.phone})
    assert refused.status_code == 422
    assert f"member {gone.id} was already merged into {kept.id}" in refused.text
    assert members_service.get_member(world.ctx, third.id).status == "active"
