"""Staff sessions of the web console: a signed cookie naming the user, checked against the staff
service on every request.

The cookie holds a JWT signed with the API's secret key, with an audience of its own so that it is
neither accepted as an API bearer token nor the other way round. It names the staff user and carries
the session's CSRF token; the role and stores are read from the staff service on each request (one
indexed read), so a deactivated user or a changed role takes effect at the next click, and a shift
does not end every 15 minutes as an API access token would. It is HttpOnly, SameSite=Lax, Secure
when the page is served over https, scoped to `/console`, and ends after `IDLE` without a request
or `ABSOLUTE` after login.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from starlette.requests import Request
from starlette.responses import Response

from loyalty.web import csrf

SESSION_COOKIE = "loyalty_console"
#: a visitor of the login page before there is a session: holds the login form's CSRF token
LOGIN_COOKIE = "loyalty_console_login"
FLASH_COOKIE = "loyalty_console_flash"
COOKIE_PATH = "/console"
IDLE = timedelta(hours=2)
ABSOLUTE = timedelta(hours=12)
#: a session is re-signed (its idle clock restarted) at most this often
REFRESH = timedelta(minutes=5)
LOGIN_FORM_AGE = timedelta(hours=1)

_ALGORITHM = "HS256"
_SESSION_AUDIENCE = "loyalty-console"
_LOGIN_AUDIENCE = "loyalty-console-login"
_FLASH_AUDIENCE = "loyalty-console-flash"


@dataclass(frozen=True)
class CookieSpec:
    """The cookies of one front end: the console's, or the member portal's (other names, path and
    audiences, so that a staff cookie is no member session and the other way round)."""

    session_cookie: str
    login_cookie: str
    flash_cookie: str
    path: str
    session_audience: str
    login_audience: str
    flash_audience: str
    idle: timedelta
    absolute: timedelta


CONSOLE = CookieSpec(
    SESSION_COOKIE,
    LOGIN_COOKIE,
    FLASH_COOKIE,
    COOKIE_PATH,
    _SESSION_AUDIENCE,
    _LOGIN_AUDIENCE,
    _FLASH_AUDIENCE,
    IDLE,
    ABSOLUTE,
)
#: the member portal (`/m`): a member signs in with a one-time code, so a day's absolute limit
PORTAL = CookieSpec(
    "loyalty_member",
    "loyalty_member_login",
    "loyalty_member_flash",
    "/m",
    "loyalty-member",
    "loyalty-member-login",
    "loyalty-member-flash",
    timedelta(hours=2),
    timedelta(hours=24),
)


@dataclass(frozen=True)
class StaffSession:
    """A logged-in staff user's session as its cookie states it."""

    user_id: int
    csrf: str
    issued_at: datetime
    seen_at: datetime
    session_id: str

    def claims(self, spec: CookieSpec = CONSOLE) -> dict[str, Any]:
        return {
            "aud": spec.session_audience,
            "sub": str(self.user_id),
            "csrf": self.csrf,
            "iat": int(self.issued_at.timestamp()),
            "seen": int(self.seen_at.timestamp()),
            "sid": self.session_id,
        }

    def expired(self, now: datetime, spec: CookieSpec = CONSOLE) -> bool:
        return now - self.seen_at > spec.idle or now - self.issued_at > spec.absolute

    def stale(self, now: datetime) -> bool:
        """Worth re-signing so that the idle clock restarts."""
        return now - self.seen_at > REFRESH


def new_session(user_id: int, now: datetime) -> StaffSession:
    """A fresh session (a new CSRF token and id: nothing carries over from before the login)."""
    return StaffSession(user_id, csrf.new_token(), now, now, secrets.token_hex(8))


def _decode(secret: str, token: str | None, audience: str) -> dict[str, Any] | None:
    if not token:
        return None
    try:
        claims: dict[str, Any] = jwt.decode(token, secret, algorithms=[_ALGORITHM], audience=audience)
    except jwt.PyJWTError:
        return None
    return claims


def read_session(
    request: Request, secret: str, now: datetime, spec: CookieSpec = CONSOLE
) -> StaffSession | None:
    """The request's live session, or None (no cookie, a forged or expired one)."""
    claims = _decode(secret, request.cookies.get(spec.session_cookie), spec.session_audience)
    if claims is None:
        return None
    try:
        session = StaffSession(
            user_id=int(claims["sub"]),
            csrf=str(claims["csrf"]),
            issued_at=datetime.fromtimestamp(int(claims["iat"]), now.tzinfo),
            seen_at=datetime.fromtimestamp(int(claims["seen"]), now.tzinfo),
            session_id=str(claims["sid"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
    return None if session.expired(now, spec) else session


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def write_session(
    response: Response, request: Request, secret: str, session: StaffSession, spec: CookieSpec = CONSOLE
) -> None:
    token = jwt.encode(session.claims(spec), secret, algorithm=_ALGORITHM)
    response.set_cookie(
        spec.session_cookie,
        token,
        max_age=int(spec.absolute.total_seconds()),
        path=spec.path,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def end_session(response: Response, request: Request, spec: CookieSpec = CONSOLE) -> None:
    response.delete_cookie(
        spec.session_cookie, path=spec.path, httponly=True, samesite="lax", secure=_secure(request)
    )


def login_token(request: Request, secret: str, spec: CookieSpec = CONSOLE) -> str | None:
    """The login form's CSRF token held by this visitor's pre-session cookie, if valid."""
    claims = _decode(secret, request.cookies.get(spec.login_cookie), spec.login_audience)
    return str(claims["csrf"]) if claims and "csrf" in claims else None


def write_login_token(
    response: Response, request: Request, secret: str, token: str, now: datetime, spec: CookieSpec = CONSOLE
) -> None:
    claims = {"aud": spec.login_audience, "csrf": token, "exp": int((now + LOGIN_FORM_AGE).timestamp())}
    response.set_cookie(
        spec.login_cookie,
        jwt.encode(claims, secret, algorithm=_ALGORITHM),
        max_age=int(LOGIN_FORM_AGE.total_seconds()),
        path=spec.path,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def end_login_token(response: Response, request: Request, spec: CookieSpec = CONSOLE) -> None:
    response.delete_cookie(
        spec.login_cookie, path=spec.path, httponly=True, samesite="strict", secure=_secure(request)
    )


# --- one-shot messages after a redirect ------------------------------------------------------------


def write_flash(
    response: Response, request: Request, secret: str, kind: str, text: str, spec: CookieSpec = CONSOLE
) -> None:
    """A message for the page the response redirects to ("Sale posted: +120 points"), shown once.

    Signed so that nobody can make the console show a text of their choosing.
    """
    token = jwt.encode({"aud": spec.flash_audience, "kind": kind, "text": text}, secret, algorithm=_ALGORITHM)
    response.set_cookie(
        spec.flash_cookie,
        token,
        max_age=60,
        path=spec.path,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def read_flash(request: Request, secret: str, spec: CookieSpec = CONSOLE) -> tuple[str, str] | None:
    claims = _decode(secret, request.cookies.get(spec.flash_cookie), spec.flash_audience)
    if claims is None:
        return None
    return str(claims.get("kind", "info")), str(claims.get("text", ""))


def end_flash(response: Response, request: Request, spec: CookieSpec = CONSOLE) -> None:
    response.delete_cookie(
        spec.flash_cookie, path=spec.path, httponly=True, samesite="lax", secure=_secure(request)
    )
