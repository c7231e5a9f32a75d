"""The language of a page: the visitor's choice (a cookie set by the language switch), else their
browser's Accept-Language, else the configured default (zh-CN)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from loyalty.i18n import LOCALES, configured_locale, from_accept_language, normalise

LANG_COOKIE = "loyalty_lang"
#: a year: the choice is a preference, not a credential
LANG_COOKIE_AGE = 365 * 24 * 3600

#: each language as its own speakers name it, for the switch
LANGUAGE_NAMES = {"zh-CN": "中文", "en": "English"}


def request_locale(request: Request) -> str:
    """The locale to render `request` in."""
    chosen = normalise(request.cookies.get(LANG_COOKIE))
    if chosen in LOCALES:
        return chosen
    return from_accept_language(request.headers.get("accept-language")) or configured_locale()


def html_lang(locale: str) -> str:
    """The `lang` attribute of a page in `locale` (screen readers pick their voice by it)."""
    return "zh-Hans" if locale == "zh-CN" else "en"


def remember_language(request: Request, response: Response, lang: str) -> Response:
    """Keep the visitor's choice of `lang` (when it is one we speak) in the language cookie of `response`."""
    chosen = normalise(lang)
    if chosen in LOCALES:
        response.set_cookie(
            LANG_COOKIE,
            chosen,
            max_age=LANG_COOKIE_AGE,
            path="/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response
