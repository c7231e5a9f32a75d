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
class StaffSession:
    """A logged-in staff user's session as its cookie states it."""

    user_id: int
    csrf: str
    issued_at: datetime
    seen_at: datetime
    session_id: str

    def claims(self) -> dict[str, Any]:
        return {
            "aud": _SESSION_AUDIENCE,
            "sub": str(self.user_id),
            "csrf": self.csrf,
            "iat": int(self.issued_at.timestamp()),
            "seen": int(self.seen_at.timestamp()),
            "sid": self.session_id,
        }

    def expired(self, now: datetime) -> bool:
        return now - self.seen_at > IDLE or now - self.issued_at > ABSOLUTE

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


def read_session(request: Request, secret: str, now: datetime) -> StaffSession | None:
    """The request's live session, or None (no cookie, a forged or expired one)."""
    claims = _decode(secret, request.cookies.get(SESSION_COOKIE), _SESSION_AUDIENCE)
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
    return None if session.expired(now) else session


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def write_session(response: Response, request: Request, secret: str, session: StaffSession) -> None:
    token = jwt.encode(session.claims(), secret, algorithm=_ALGORITHM)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(ABSOLUTE.total_seconds()),
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def end_session(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax", secure=_secure(request)
    )


def login_token(request: Request, secret: str) -> str | None:
    """The login form's CSRF token held by this visitor's pre-session cookie, if valid."""
    claims = _decode(secret, request.cookies.get(LOGIN_COOKIE), _LOGIN_AUDIENCE)
    return str(claims["csrf"]) if claims and "csrf" in claims else None


def write_login_token(response: Response, request: Request, secret: str, token: str, now: datetime) -> None:
    claims = {"aud": _LOGIN_AUDIENCE, "csrf": token, "exp": int((now + LOGIN_FORM_AGE).timestamp())}
    response.set_cookie(
        LOGIN_COOKIE,
        jwt.encode(claims, secret, algorithm=_ALGORITHM),
        max_age=int(LOGIN_FORM_AGE.total_seconds()),
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def end_login_token(response: Response, request: Request) -> None:
    response.delete_cookie(
        LOGIN_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=_secure(request)
    )


# --- one-shot messages after a redirect ------------------------------------------------------------


def write_flash(response: Response, request: Request, secret: str, kind: str, text: str) -> None:
    """A message for the page the response redirects to ("Sale posted: +120 points"), shown once.

    Signed so that nobody can make the console show a text of their choosing.
    """
    token = jwt.encode({"aud": _FLASH_AUDIENCE, "kind": kind, "text": text}, secret, algorithm=_ALGORITHM)
    response.set_cookie(
        FLASH_COOKIE,
        token,
        max_age=60,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def read_flash(request: Request, secret: str) -> tuple[str, str] | None:
    claims = _decode(secret, request.cookies.get(FLASH_COOKIE), _FLASH_AUDIENCE)
    if claims is None:
        return None
    return str(claims.get("kind", "info")), str(claims.get("text", ""))


def end_flash(response: Response, request: Request) -> None:
    response.delete_cookie(
        FLASH_COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax", secure=_secure(request)
    )
