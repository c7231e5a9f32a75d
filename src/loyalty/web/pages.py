"""What every console page shares: who is asking (a `Page`), rendering in their language, redirects
with a one-shot message, CSRF-checked forms, and the error pages.

Routes declare `StaffPage` (a logged-in staff user; the login page otherwise) or `VisitorPage` (the
login page itself) and, for a form post, `StaffForm`/`VisitorForm`, which refuse a request without the
session's CSRF token before the route runs. Permissions and store scopes are the API's
(`loyalty.api.security`): a page asks `page.require("members:write")` as an API route does.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response

from loyalty.api.security import Principal
from loyalty.domain.errors import DomainError, NotFound
from loyalty.i18n import LOCALES, marker, translator, use_locale
from loyalty.services import auth as auth_service
from loyalty.web import csrf, session
from loyalty.web.i18n import LANGUAGE_NAMES, html_lang, request_locale
from loyalty.web.security import secure
from loyalty.web.templates import render

if TYPE_CHECKING:
    from loyalty.bootstrap import Context

_ = translator("web")
N_ = marker("web")

PREFIX = "/console"
LOGIN_PATH = f"{PREFIX}/login"
HOME_PATH = PREFIX


class LoginRequired(Exception):
    """No live session: the visitor is sent to the login page."""


class Denied(Exception):
    """The user's role or stores do not allow this page or action."""


@dataclass
class Page:
    """One request to the console: the caller, their language, the CSRF token and cookies to set."""

    request: Request
    ctx: Context
    locale: str
    csrf: str
    principal: Principal | None = None
    user: auth_service.StaffUser | None = None
    flash: tuple[str, str] | None = None
    #: whose cookies the page reads and writes: the console's, or the member portal's
    cookies: session.CookieSpec = session.CONSOLE
    #: the signed-in member of a portal page
    member_id: int | None = None
    _after: list[Callable[[Response], None]] = field(default_factory=list)

    # --- authorisation (the API's permissions and store scopes) ---------------------------------

    @property
    def staff(self) -> Principal:
        if self.principal is None:
            raise LoginRequired
        return self.principal

    def can(self, permission: str) -> bool:
        return self.principal is not None and self.principal.can(permission)

    def require(self, permission: str) -> None:
        if not self.staff.can(permission):
            raise Denied

    def require_store(self, store_id: int | None) -> None:
        if not self.staff.covers_store(store_id):
            raise Denied

    # --- responses -----------------------------------------------------------------------------

    def html(self, template: str, values: dict[str, Any] | None = None, status: int = 200) -> HTMLResponse:
        """`template` rendered in the page's language with the layout's values."""
        with use_locale(self.locale):
            body = render(template, {**self._layout(), **(values or {})})
        return HTMLResponse(body, status_code=status)

    def redirect(self, url: str, *, flash: str | None = None, kind: str = "ok") -> RedirectResponse:
        """303 to `url` (a path of this site), with a message shown once there."""
        response = RedirectResponse(url, status_code=303)
        if flash is not None:
            session.write_flash(
                response, self.request, self.ctx.settings.secret_key, kind, flash, self.cookies
            )
        return response

    def after(self, action: Callable[[Response], None]) -> None:
        """Run `action` on whatever response this request ends with (cookies)."""
        self._after.append(action)

    def finish(self, response: Response) -> Response:
        for action in self._after:
            action(response)
        return secure(response)

    def _layout(self) -> dict[str, Any]:
        principal = self.principal
        return {
            "page": self,
            "csrf_field": csrf.FIELD,
            "csrf_token": self.csrf,
            "locale": self.locale,
            "html_lang": html_lang(self.locale),
            "languages": [(code, LANGUAGE_NAMES[code]) for code in LOCALES],
            "here": self.request.url.path,
            "user": self.user,
            "role_name": role_name(principal.role) if principal else "",
            "flash": self.flash,
            "can": self.can,
        }


ROLE_NAMES = {
    "admin": N_("Administrator"),
    "marketer": N_("Marketer"),
    "store_manager": N_("Store manager"),
    "cashier": N_("Cashier"),
    "analyst": N_("Analyst"),
    "auditor": N_("Auditor"),
}


def role_name(role: str) -> str:
    """A role as people call it, in the current language."""
    return _(ROLE_NAMES[role]) if role in ROLE_NAMES else role


def safe_next(target: str | None) -> str:
    """A path of the console to go back to after a switch; anything else (another site) → home."""
    if not target:
        return HOME_PATH
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(PREFIX) or target.startswith("//"):
        return HOME_PATH
    return parts.path


# --- dependencies --------------------------------------------------------------------------------


def _ctx(request: Request) -> Context:
    return request.app.state.ctx  # type: ignore[no-any-return]


def _flash(page: Page) -> None:
    found = session.read_flash(page.request, page.ctx.settings.secret_key, page.cookies)
    if found is not None:
        page.flash = found
        page.after(lambda response: session.end_flash(response, page.request, page.cookies))


def visitor(request: Request, cookies: session.CookieSpec = session.CONSOLE) -> Page:
    """A sign-in page of the side `cookies` names: the CSRF token of the visitor's pre-session cookie
    (made when missing)."""
    ctx = _ctx(request)
    secret = ctx.settings.secret_key
    token = session.login_token(request, secret, cookies)
    page = Page(request, ctx, request_locale(request), token or csrf.new_token(), cookies=cookies)
    if token is None:
        fresh = page.csrf
        page.after(lambda r: session.write_login_token(r, request, secret, fresh, ctx.now(), cookies))
    request.state.page = page
    return page


def keep_alive(page: Page, live: session.StaffSession, now: datetime) -> None:
    """Renew a session that has gone stale (sliding idle time) and pick up its flash message."""
    if live.stale(now):
        renewed = session.StaffSession(live.user_id, live.csrf, live.issued_at, now, live.session_id)
        secret = page.ctx.settings.secret_key
        page.after(lambda r: session.write_session(r, page.request, secret, renewed, page.cookies))
    _flash(page)


async def visitor_page(request: Request) -> Page:
    """A page for anyone (the login page): the CSRF token of the visitor's pre-session cookie."""
    page = visitor(request)
    _flash(page)
    return page


async def staff_page(request: Request) -> Page:
    """A page for a logged-in staff user whose account is still active; else the login page."""
    ctx = _ctx(request)
    secret = ctx.settings.secret_key
    now = ctx.now()
    live = session.read_session(request, secret, now)
    page = Page(request, ctx, request_locale(request), live.csrf if live else csrf.new_token())
    request.state.page = page
    if live is None:
        raise LoginRequired
    user = await run_in_threadpool(auth_service.get_staff, ctx, live.user_id)
    if user is None or not user.active:
        page.after(lambda r: session.end_session(r, request))
        raise LoginRequired
    page.user = user
    page.principal = principal_of(user)
    keep_alive(page, live, now)
    return page


def principal_of(user: auth_service.StaffUser) -> Principal:
    """The API's principal for a staff user: the same role, and the same stores for store roles."""
    scoped = user.role in auth_service.STORE_SCOPED_ROLES
    return Principal(
        kind="staff",
        id=str(user.id),
        role=user.role,
        store_ids=frozenset(user.store_ids) if scoped else None,
        username=user.username,
    )


async def checked_form(page: Page) -> FormData:
    """The posted form once the page's CSRF token (field or header) is checked."""
    form = await page.request.form()
    given = form.get(csrf.FIELD) or page.request.headers.get(csrf.HEADER)
    csrf.check(page.csrf, given if isinstance(given, str) else None)
    return form


async def staff_form(page: Annotated[Page, Depends(staff_page)]) -> FormData:
    """The posted form of a logged-in user, once its CSRF token is checked."""
    return await checked_form(page)


async def visitor_form(page: Annotated[Page, Depends(visitor_page)]) -> FormData:
    """The posted login form, once the pre-session CSRF token is checked."""
    return await checked_form(page)


StaffPage = Annotated[Page, Depends(staff_page)]
VisitorPage = Annotated[Page, Depends(visitor_page)]
StaffForm = Annotated[FormData, Depends(staff_form)]
VisitorForm = Annotated[FormData, Depends(visitor_form)]


# --- the route class: errors as pages, security headers on everything ----------------------------


class ConsoleRoute(APIRoute):
    """A console route: login, permission, CSRF and lookup failures become pages (not problem+json),
    and every response gets the page's cookies and the security headers."""

    #: where a request without a session is sent, and the template of an error page
    login_path = LOGIN_PATH
    error_template = "console/error.html"

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()
        template = self.error_template

        async def handler(request: Request) -> Response:
            # The page's language for everything the request does, the worker thread of a sync
            # route included (it runs in a copy of this context): messages made in Python too.
            with use_locale(request_locale(request)):
                return await _handle(request)

        async def _handle(request: Request) -> Response:
            try:
                response = await original(request)
            except LoginRequired:
                response = RedirectResponse(self.login_path, status_code=303)
            except Denied:
                response = _error(request, 403, _("Your role does not allow this page."), template)
            except csrf.CsrfRefused:
                response = _error(
                    request,
                    403,
                    _("This form has expired or did not come from this console. Please try again."),
                    template,
                )
            except (NotFound, RequestValidationError):
                response = _error(request, 404, _("Not found."), template)
            except DomainError as exc:
                response = _error(request, 422, exc.localized(request_locale(request)), template)
            page: Page | None = getattr(request.state, "page", None)
            return page.finish(response) if page is not None else secure(response)

        return handler


def _error(request: Request, status: int, message: str, template: str = "console/error.html") -> Response:
    page: Page | None = getattr(request.state, "page", None)
    if page is None:
        page = Page(request, _ctx(request), request_locale(request), csrf.new_token())
    return page.html(template, {"status": status, "message": message}, status=status)
