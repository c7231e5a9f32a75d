"""The member portal (`/m`) through the test client, on both backends: signing in with phone and a
one-time code read from the local outbox, wrong/expired/exhausted codes, the same answer for a phone
that is no member's, per-phone limits, sessions kept apart from the staff console's, a member seeing
only their own data, CSRF refusal, consent, languages and security headers."""

from __future__ import annotations

import itertools
import re
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from loyalty.api.security import mask_phone
from loyalty.cli import app as cli_app
from loyalty.config import get_settings
from loyalty.db.auth_tables import member_otps, outbox
from loyalty.services import member_otp
from loyalty.services import members as members_service
from loyalty.services import purchases as purchases_service
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn
from loyalty.web import session
from tests.api.api_world import World
from tests.web.console_client import as_, token_of

_serial = itertools.count(1)
_CODE = re.compile(r"\b(\d{6})\b")


def _member(world: World, name: str = "Mia", consent: bool = False) -> Any:
    """A fresh member with a phone of their own (each test stays clear of the per-phone limits)."""
    phone = f"+861390000{next(_serial):04d}"
    return members_service.register_member(
        world.ctx,
        MemberIn(phone=phone, name=name, registration_store_id=world.store_a, marketing_consent=consent),
    )


def _free_phone() -> str:
    return f"+861370000{next(_serial):04d}"


def _sale(world: World, member_id: int, price_minor: int) -> None:
    purchases_service.post_purchase(
        world.ctx,
        PurchaseIn(
            store_id=world.store_a,
            order_id=f"P-{next(_serial)}-{member_id}",
            occurred_at=world.ctx.now(),
            member_id=member_id,
            currency="CNY",
            lines=[PurchaseLineIn(sku="SKU-1", quantity=1, unit_price_minor=price_minor)],
        ),
    )


class Portal:
    """A phone's browser: its own cookie jar and the page's CSRF token."""

    def __init__(self, world: World, **headers: str) -> None:
        headers.setdefault("accept-language", "en")
        self.world = world
        self.client = TestClient(world.app, headers=headers)
        self.token = ""
        self.urls: list[str] = []
        self.client.event_hooks["request"] = [lambda request: self.urls.append(str(request.url))]

    def ask_code(self, phone: str) -> Any:
        self.token = token_of(self.client.get("/m/login").text)
        return self.post("/m/login", {"phone": phone})

    def verify(self, phone: str, code: str) -> Any:
        return self.post("/m/login/verify", {"phone": phone, "code": code})

    def sign_in(self, phone: str) -> Any:
        assert self.ask_code(phone).status_code == 200
        response = self.verify(phone, _code(self.world, phone))
        assert response.status_code == 303, response.text
        self.token = token_of(self.client.get("/m").text)
        return response

    def get(self, path: str, **kw: Any) -> Any:
        kw.setdefault("follow_redirects", False)
        return self.client.get(path, **kw)

    def post(self, path: str, data: dict[str, str], *, token: bool = True) -> Any:
        body = dict(data)
        if token:
            body.setdefault("csrf_token", self.token)
        return self.client.post(path, data=body, follow_redirects=False)

    def close(self) -> None:
        self.client.close()


def _code(world: World, phone: str) -> str:
    messages = member_otp.list_outbox(world.ctx, phone, limit=1)
    assert messages, f"no message to {phone} in the outbox"
    found = _CODE.search(messages[0].body)
    assert found
    return found.group(1)


def _outbox_count(world: World, phone: str) -> int:
    with world.ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(outbox.c.recipient == phone)).scalar_one())


def _cookies(response: Any) -> dict[str, str]:
    return {c.split("=", 1)[0]: c for c in response.headers.get_list("set-cookie")}


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- signing in -----------------------------------------------------------------------------------


def test_sign_in_with_the_code_from_the_outbox(world: World) -> None:
    member = _member(world, "Mia")
    _sale(world, member.id, 32_000)
    portal = Portal(world)
    try:
        page = portal.ask_code(member.phone)
        assert page.status_code == 200
        assert "One-time code" in page.text
        assert member.phone not in page.text.replace(f'value="{member.phone}"', "")  # masked on screen
        code = _code(world, member.phone)
        response = portal.verify(member.phone, code)
        assert response.status_code == 303
        assert response.headers["location"] == "/m"
        cookie = _cookies(response)[session.PORTAL.session_cookie]
        assert "HttpOnly" in cookie
        assert "Path=/m" in cookie
        assert "SameSite=lax" in cookie
        card = portal.get("/m")
        assert card.status_code == 200
        text = _text(card.text)
        assert "Mia" in text
        assert member.card_no in text
        assert 'src="data:image/svg+xml;base64,' in card.text  # the QR code, inside the page
        assert re.search(r'id="points-available">\s*\d', card.text)
        assert 'id="tier-name"' in card.text
        # the code is used once (another browser replaying it gets nowhere)
        replay = Portal(world)
        replay.token = token_of(replay.client.get("/m/login").text)
        assert replay.verify(member.phone, code).status_code == 401
        replay.close()
        history = portal.get("/m/history")
        assert history.status_code == 200
        assert "Earned" in history.text
        assert "¥320.00" in history.text
        # no personal data in any URL the browser asked for
        for url in portal.urls:
            assert member.phone not in url
            assert member.phone[1:] not in url
            assert member.card_no not in url
    finally:
        portal.close()


def test_a_wrong_code_is_refused_without_a_session(world: World) -> None:
    member = _member(world)
    portal = Portal(world)
    try:
        portal.ask_code(member.phone)
        good = _code(world, member.phone)
        wrong = f"{(int(good) + 1) % 1_000_000:06d}"
        response = portal.verify(member.phone, wrong)
        assert response.status_code == 401
        assert "That code is not right" in response.text
        assert session.PORTAL.session_cookie not in _cookies(response)
        assert portal.get("/m").headers["location"] == "/m/login"
        assert portal.verify(member.phone, good).status_code == 303  # a slip does not burn the code
    finally:
        portal.close()


def test_an_expired_code_is_refused(world: World) -> None:
    member = _member(world)
    portal = Portal(world)
    try:
        portal.ask_code(member.phone)
        code = _code(world, member.phone)
        with world.ctx.engine.begin() as conn:
            conn.execute(
                update(member_otps)
                .where(member_otps.c.phone == member.phone)
                .values(expires_at=world.ctx.now() - member_otp.CODE_TTL)
            )
        response = portal.verify(member.phone, code)
        assert response.status_code == 401
        assert "has expired" in response.text
        assert session.PORTAL.session_cookie not in _cookies(response)
    finally:
        portal.close()


def test_after_too_many_wrong_codes_even_the_right_one_is_refused(world: World) -> None:
    member = _member(world)
    portal = Portal(world)
    try:
        portal.ask_code(member.phone)
        good = _code(world, member.phone)
        wrong = f"{(int(good) + 7) % 1_000_000:06d}"
        for _ in range(member_otp.MAX_ATTEMPTS):
            assert portal.verify(member.phone, wrong).status_code == 401
        response = portal.verify(member.phone, good)
        assert response.status_code == 401
        assert "Too many wrong codes" in response.text
        assert session.PORTAL.session_cookie not in _cookies(response)
    finally:
        portal.close()


def test_a_phone_that_is_no_members_gets_the_same_answer_and_no_message(world: World) -> None:
    member = _member(world)
    stranger = _free_phone()
    portal = Portal(world)
    try:
        known = portal.ask_code(member.phone)
        unknown = portal.ask_code(stranger)
        assert known.status_code == unknown.status_code == 200

        def shape(html: str, phone: str) -> str:
            return html.replace(phone, "PHONE").replace(mask_phone(phone) or "", "SHOWN")

        assert shape(known.text, member.phone) == shape(unknown.text, stranger)
        assert _outbox_count(world, stranger) == 0
        assert _outbox_count(world, member.phone) == 1
        # and the per-phone limit answers alike too
        again_known = portal.post("/m/login", {"phone": member.phone})
        again_unknown = portal.post("/m/login", {"phone": stranger})
        assert again_known.status_code == again_unknown.status_code == 429
        # a guess for the stranger never signs anyone in
        assert portal.verify(stranger, "000000").status_code == 401
    finally:
        portal.close()


def test_a_bad_phone_is_named(world: World) -> None:
    portal = Portal(world)
    try:
        response = portal.ask_code("12")
        assert response.status_code == 422
        assert "valid mobile number" in response.text
    finally:
        portal.close()


# --- sessions, isolation, CSRF --------------------------------------------------------------------


def test_member_and_staff_sessions_are_kept_apart(world: World) -> None:
    member = _member(world)
    staff = as_(world.app, "admin1")
    portal = Portal(world)
    try:
        # the staff session opens no portal page (another cookie, another path, another audience)
        staff_cookie = staff.client.cookies.get(session.SESSION_COOKIE)
        assert staff_cookie
        intruder = TestClient(world.app)
        intruder.cookies.set(session.PORTAL.session_cookie, staff_cookie, path="/m")
        assert intruder.get("/m", follow_redirects=False).headers["location"] == "/m/login"
        portal.sign_in(member.phone)
        member_cookie = portal.client.cookies.get(session.PORTAL.session_cookie)
        assert member_cookie
        # ...and the member's session opens no console page
        intruder.cookies.clear()
        intruder.cookies.set(session.SESSION_COOKIE, member_cookie, path="/console")
        assert intruder.get("/console", follow_redirects=False).headers["location"] == "/console/login"
        intruder.close()
        # a staff user signed in to the console is still no member
        assert staff.get("/m").headers["location"] == "/m/login"
    finally:
        staff.close()
        portal.close()


def test_a_member_sees_only_their_own_data(world: World) -> None:
    mine = _member(world, "Mine")
    theirs = _member(world, "Theirs")
    _sale(world, theirs.id, 55_500)
    portal = Portal(world)
    try:
        portal.sign_in(mine.phone)
        for path in (
            "/m",
            "/m/history",
            "/m/profile",
            f"/m?member_id={theirs.id}",
            f"/m/history?id={theirs.id}",
        ):
            page = portal.get(path)
            assert page.status_code == 200
            assert theirs.card_no not in page.text
            assert "Theirs" not in page.text
            assert "¥555.00" not in page.text
        # no portal route takes a member id
        assert portal.get(f"/m/members/{theirs.id}").status_code == 404
        # a cookie naming another member, signed with another key, is no session
        forged = session.StaffSession(theirs.id, "x", world.ctx.now(), world.ctx.now(), "s")
        token = jwt.encode(
            forged.claims(session.PORTAL), "not-the-servers-secret-key-00000", algorithm="HS256"
        )
        intruder = TestClient(world.app)
        intruder.cookies.set(session.PORTAL.session_cookie, token, path="/m")
        assert intruder.get("/m", follow_redirects=False).headers["location"] == "/m/login"
        intruder.close()
    finally:
        portal.close()


def test_forms_without_the_csrf_token_are_refused_and_change_nothing(world: World) -> None:
    member = _member(world, consent=False)
    portal = Portal(world)
    try:
        portal.client.get("/m/login")
        refused = portal.post("/m/login", {"phone": member.phone}, token=False)
        assert refused.status_code == 403
        assert _outbox_count(world, member.phone) == 0
        portal.sign_in(member.phone)
        refused = portal.post("/m/profile", {"marketing_consent": "yes"}, token=False)
        assert refused.status_code == 403
        refused = portal.post("/m/profile", {"marketing_consent": "yes", "csrf_token": "forged"}, token=False)
        assert refused.status_code == 403
        assert members_service.get_member(world.ctx, member.id).marketing_consent is False
        assert portal.post("/m/logout", {}, token=False).status_code == 403
        assert portal.get("/m").status_code == 200
    finally:
        portal.close()


def test_a_member_gives_and_withdraws_consent(world: World) -> None:
    member = _member(world, consent=False)
    portal = Portal(world)
    try:
        portal.sign_in(member.phone)
        assert portal.post("/m/profile", {"marketing_consent": "yes"}).status_code == 303
        assert members_service.get_member(world.ctx, member.id).marketing_consent is True
        page = portal.get("/m/profile")
        assert "You will receive offers." in page.text
        assert member.phone not in page.text  # masked as everywhere
        assert portal.post("/m/profile", {"marketing_consent": "no"}).status_code == 303
        assert members_service.get_member(world.ctx, member.id).marketing_consent is False
    finally:
        portal.close()


def test_sign_out_ends_the_session(world: World) -> None:
    member = _member(world)
    portal = Portal(world)
    try:
        portal.sign_in(member.phone)
        response = portal.post("/m/logout", {})
        assert response.status_code == 303
        assert response.headers["location"] == "/m/login"
        assert portal.get("/m").headers["location"] == "/m/login"
    finally:
        portal.close()


# --- language, headers ----------------------------------------------------------------------------


def test_chinese_by_default_and_english_on_request(world: World) -> None:
    member = _member(world)
    portal = Portal(world, **{"accept-language": "zh-CN"})
    try:
        assert "获取验证码" in portal.client.get("/m/login").text
        portal.sign_in(member.phone)
        card = portal.get("/m").text
        assert "可用积分" in card
        assert "Points available" not in card
        switched = portal.post("/m/language", {"lang": "en", "next": "/m/history"})
        assert switched.status_code == 303
        assert switched.headers["location"] == "/m/history"
        page = portal.get("/m/history").text
        assert "Points history" in page
        assert "积分记录" not in page
        # the switch never sends anywhere outside the portal
        away = portal.post("/m/language", {"lang": "en", "next": "//evil.example/m"})
        assert away.headers["location"] == "/m"
    finally:
        portal.close()


def test_every_portal_response_carries_the_security_headers(world: World) -> None:
    member = _member(world)
    portal = Portal(world)
    try:
        responses = [portal.get("/m/login"), portal.get("/m")]
        portal.sign_in(member.phone)
        responses += [portal.get(p) for p in ("/m", "/m/history", "/m/profile")]
        for response in responses:
            assert "default-src 'none'" in response.headers["content-security-policy"]
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["cache-control"] == "no-store"
            assert "<script>" not in response.text
            assert "style=" not in response.text
    finally:
        portal.close()


def test_the_outbox_command_prints_the_code(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    member = _member(world)
    portal = Portal(world)
    try:
        portal.ask_code(member.phone)
    finally:
        portal.close()
    code = _code(world, member.phone)
    monkeypatch.setenv("LOYALTY_DATABASE_URL", world.url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli_app, ["members", "outbox", "--phone", member.phone])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert code in result.output
    assert member.phone in result.output
