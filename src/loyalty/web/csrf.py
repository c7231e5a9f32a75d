"""Cross-site request forgery: a synchronizer token checked on every state-changing request.

Each session (and each visitor of the login page, before there is one) holds a random token inside
its signed cookie; every form carries it in a hidden `csrf_token` field, and htmx requests in the
`X-CSRF-Token` header. A forged request from another site can send the cookie but cannot read the
token. SameSite cookies are the second line, not the only one.
"""

from __future__ import annotations

import hmac
import secrets

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"


class CsrfRefused(Exception):
    """A state-changing request without the session's token."""


def new_token() -> str:
    """A fresh token (128 bits)."""
    return secrets.token_urlsafe(16)


def check(expected: str | None, given: str | None) -> None:
    """Refuse unless `given` is the session's token (compared in constant time)."""
    if not expected or not given or not hmac.compare_digest(expected.encode(), given.encode()):
        raise CsrfRefused
