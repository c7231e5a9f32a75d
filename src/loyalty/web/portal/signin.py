"""Signing in to the member portal with phone and a one-time code, signing out, the language switch.

Asking for a code and checking one both count against the API's `login` limit for the client's
address; the code service limits codes per phone. The answer to a code request is the same whether
or not the phone is a member's (no enumeration), and the phone travels in the form body, never in a
URL. A good code starts a fresh portal session (new id, new CSRF token).
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from loyalty.api.deps import client_key
from loyalty.api.errors import ApiError
from loyalty.api.security import mask_phone
from loyalty.domain.errors import DomainError
from loyalty.i18n import translator
from loyalty.services import member_otp
from loyalty.services.members import normalise_phone
from loyalty.web import csrf, session
from loyalty.web.i18n import remember_language
from loyalty.web.pages import Page
from loyalty.web.portal.access import (
    HOME_PATH,
    LOGIN_PATH,
    PREFIX,
    MemberForm,
    MemberPage,
    PortalRoute,
    VisitorForm,
    VisitorPage,
)

_ = translator("web")

router = APIRouter(route_class=PortalRoute, include_in_schema=False)


async def _limited(page: Page) -> str | None:
    """Count one attempt against the `login` window; the seconds to wait when over it."""
    limiter = page.request.app.state.limiter
    try:
        if limiter.blocking_io:
            await run_in_threadpool(limiter.hit, "login", client_key(page.request))
        else:
            limiter.hit("login", client_key(page.request))
    except ApiError as exc:
        if exc.status != 429:
            raise
        return str(exc.headers.get("Retry-After", "60"))
    return None


def _phone_form(page: Page, phone: str, error: str | None, status: int = 200) -> Response:
    return page.html("portal/login.html", {"phone": phone, "error": error}, status=status)


def _code_form(page: Page, phone: str, error: str | None, status: int = 200) -> Response:
    minutes = int(member_otp.CODE_TTL.total_seconds() // 60)
    values = {"phone": phone, "shown_phone": mask_phone(phone), "error": error, "minutes": minutes}
    return page.html("portal/code.html", values, status=status)


@router.get("/login")
def login_form(page: VisitorPage) -> Response:
    """The phone form (a signed-in member goes on to their card)."""
    secret = page.ctx.settings.secret_key
    if session.read_session(page.request, secret, page.ctx.now(), session.PORTAL) is not None:
        return page.redirect(HOME_PATH)
    return _phone_form(page, "", None)


@router.post("/login")
async def request_code(page: VisitorPage, form: VisitorForm) -> Response:
    """Send a code to the phone if it is a member's; the same next page either way."""
    raw = str(form.get("phone") or "").strip()
    wait = await _limited(page)
    if wait is not None:
        response = _phone_form(
            page, raw, _("Too many attempts. Try again in {seconds} s.", seconds=wait), 429
        )
        response.headers["Retry-After"] = wait
        return response
    try:
        phone = normalise_phone(raw, page.ctx.settings.phone_region)
    except DomainError:
        return _phone_form(page, raw, _("Enter a valid mobile number."), 422)
    issued = await run_in_threadpool(member_otp.request_code, page.ctx, phone)
    if not issued.sent:
        message = _(
            "A code was sent to this number a moment ago. Try again in {seconds} s.",
            seconds=issued.retry_after,
        )
        return _code_form(page, phone, message, 429)
    return _code_form(page, phone, None)


def _outcome_message(outcome: str) -> str:
    if outcome == "wrong":
        return _("That code is not right. Check the message and try again.")
    if outcome == "locked":
        return _("Too many wrong codes. Ask for a new code.")
    return _("This code has expired. Ask for a new code.")


@router.post("/login/verify")
async def verify_code(page: VisitorPage, form: VisitorForm) -> Response:
    """Check the code; a good one starts a member session and opens the card."""
    raw = str(form.get("phone") or "").strip()
    code = str(form.get("code") or "").strip()
    try:
        phone = normalise_phone(raw, page.ctx.settings.phone_region)
    except DomainError:
        return _phone_form(page, raw, _("Enter a valid mobile number."), 422)
    wait = await _limited(page)
    if wait is not None:
        response = _code_form(
            page, phone, _("Too many attempts. Try again in {seconds} s.", seconds=wait), 429
        )
        response.headers["Retry-After"] = wait
        return response
    if not code.isdigit() or len(code) != member_otp.CODE_DIGITS:
        return _code_form(page, phone, _("Enter the 6-digit code from the message."), 422)
    checked = await run_in_threadpool(member_otp.check_code, page.ctx, phone, code)
    if checked.outcome != "ok" or checked.member_id is None:
        return _code_form(page, phone, _outcome_message(checked.outcome), 401)
    response = page.redirect(HOME_PATH)
    fresh = session.new_session(checked.member_id, page.ctx.now())
    session.write_session(response, page.request, page.ctx.settings.secret_key, fresh, session.PORTAL)
    session.end_login_token(response, page.request, session.PORTAL)
    return response


@router.post("/logout")
def logout(page: MemberPage, form: MemberForm) -> Response:
    """End the member's session on this device."""
    del form
    response = page.redirect(LOGIN_PATH)
    session.end_session(response, page.request, session.PORTAL)
    return response


def _safe_next(target: str) -> str:
    if target == PREFIX or (target.startswith(PREFIX + "/") and "//" not in target and "?" not in target):
        return target
    return HOME_PATH


@router.post("/language")
async def switch_language(page: VisitorPage) -> Response:
    """Remember the chosen language and go back to the portal page the switch was on."""
    form = await page.request.form()
    secret = page.ctx.settings.secret_key
    live = session.read_session(page.request, secret, page.ctx.now(), session.PORTAL)
    expected = live.csrf if live is not None else session.login_token(page.request, secret, session.PORTAL)
    given = form.get(csrf.FIELD)
    csrf.check(expected, given if isinstance(given, str) else None)
    target = page.redirect(_safe_next(str(form.get("next") or "")))
    return remember_language(page.request, target, str(form.get("lang") or ""))
