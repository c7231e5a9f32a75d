"""Log in, log out and switch the language.

Login takes the same staff accounts as the API (`services.auth.authenticate_staff`, argon2, the same
timing whether or not the user exists) and counts against the API's `login` rate limit for the
client's address. A successful login starts a fresh session: new id, new CSRF token.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from loyalty.api.deps import client_key
from loyalty.api.errors import ApiError
from loyalty.i18n import translator
from loyalty.services import auth as auth_service
from loyalty.web import csrf, session
from loyalty.web.i18n import remember_language
from loyalty.web.pages import (
    HOME_PATH,
    LOGIN_PATH,
    ConsoleRoute,
    Page,
    StaffForm,
    StaffPage,
    VisitorForm,
    VisitorPage,
    safe_next,
)

_ = translator("web")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@router.get("/login")
def login_form(page: VisitorPage) -> Response:
    """The login form (a logged-in user goes on to the console)."""
    if session.read_session(page.request, page.ctx.settings.secret_key, page.ctx.now()) is not None:
        return page.redirect(HOME_PATH)
    return page.html("console/login.html", {"username": "", "error": None})


@router.post("/login")
async def login(page: VisitorPage, form: VisitorForm) -> Response:
    """Check the username and password; on success start a session and open the console."""
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    limiter = page.request.app.state.limiter
    try:
        if limiter.blocking_io:
            await run_in_threadpool(limiter.hit, "login", client_key(page.request))
        else:
            limiter.hit("login", client_key(page.request))
    except ApiError as exc:
        if exc.status != 429:
            raise
        wait = exc.headers.get("Retry-After", "60")
        message = _("Too many login attempts. Try again in {seconds} s.", seconds=wait)
        response = _form(page, username, message, 429)
        response.headers["Retry-After"] = wait
        return response
    if not username or not password:
        return _form(page, username, _("Enter your username and password."), 422)
    user = await run_in_threadpool(auth_service.authenticate_staff, page.ctx, username, password)
    if user is None:
        return _form(page, username, _("Wrong username or password."), 401)
    response = page.redirect(HOME_PATH)
    secret = page.ctx.settings.secret_key
    fresh = session.new_session(user.id, page.ctx.now())
    session.write_session(response, page.request, secret, fresh)
    session.end_login_token(response, page.request)
    return response


def _form(page: Page, username: str, error: str, status: int) -> Response:
    return page.html("console/login.html", {"username": username, "error": error}, status=status)


@router.post("/logout")
def logout(page: StaffPage, form: StaffForm) -> Response:
    """End the session on this browser."""
    del form
    response = page.redirect(LOGIN_PATH)
    session.end_session(response, page.request)
    return response


@router.post("/language")
async def switch_language(page: VisitorPage) -> Response:
    """Remember the chosen language in a cookie and go back to the page the switch was on.

    The form carries the session's CSRF token, or the login page's before there is a session.
    """
    form = await page.request.form()
    secret = page.ctx.settings.secret_key
    live = session.read_session(page.request, secret, page.ctx.now())
    expected = live.csrf if live is not None else session.login_token(page.request, secret)
    given = form.get(csrf.FIELD)
    csrf.check(expected, given if isinstance(given, str) else None)
    return _switch(page, str(form.get("lang") or ""), str(form.get("next") or ""))


def _switch(page: Page, lang: str, next_path: str) -> Response:
    return remember_language(page.request, page.redirect(safe_next(next_path)), lang)
