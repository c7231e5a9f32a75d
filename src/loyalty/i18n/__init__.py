"""Two languages, zh-CN (the default) and English, through gettext message catalogs.

Source strings are English; `locale/zh_CN/LC_MESSAGES/<domain>.po` holds their Chinese, compiled to
`.mo` beside it (`python -m loyalty.i18n compile`; a test keeps both in step and checks that every
marked string has a translation). One catalog per area (`cli`, `api`, `report`, …) so that each area
owns its own file.

Usage in a module::

    from loyalty.i18n import translator

    _ = translator("cli")
    typer.echo(_("{count} members scored", count=n))

The locale of the moment comes from `use_locale(...)` (the API sets it per request from
Accept-Language) and falls back to `LOYALTY_LOCALE`. Only the standard library is imported here, so
entry points can use it without slowing their start-up; money and number formatting (Babel) is in
`loyalty.i18n.formats`.
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any, Protocol

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
LOCALE_DIR = Path(__file__).parent / "locale"

_current: ContextVar[str | None] = ContextVar("loyalty_locale", default=None)


def normalise(value: str | None) -> str | None:
    """'zh', 'zh_CN', 'zh-Hans-CN', 'ZH-cn' → 'zh-CN'; 'en', 'en-US', 'en_GB' → 'en'; others → None."""
    if not value:
        return None
    tag = value.strip().replace("_", "-").lower()
    if tag.startswith("zh"):
        return "zh-CN"
    if tag.startswith("en"):
        return "en"
    return None


def from_accept_language(header: str | None) -> str | None:
    """The first supported language of an Accept-Language header, by its q weights; None if none is."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        found = normalise(tag)
        if found and weight > 0:
            ranked.append((-weight, index, found))
    return min(ranked)[2] if ranked else None


def configured_locale() -> str:
    """`LOYALTY_LOCALE` (environment, then `loyalty.toml`), normalised; zh-CN when unset or unsupported."""
    raw = os.environ.get("LOYALTY_LOCALE")
    if raw is None:
        raw = _toml_locale()
    return normalise(raw) or DEFAULT_LOCALE


def _toml_locale(path: Path = Path("loyalty.toml")) -> str | None:
    """`locale` in ./loyalty.toml, where the settings read it, without importing them: every CLI
    message (and `--help`) asks for the locale, and pydantic-settings would add ~0.1 s to each.
    The file is parsed again only when it changes (one stat per call)."""
    try:
        changed = path.stat().st_mtime_ns
    except OSError:
        return None
    return _parsed_locale(os.path.abspath(path), changed)


@cache
def _parsed_locale(path: str, _changed: int) -> str | None:
    import tomllib

    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    value = data.get("locale")
    return value if isinstance(value, str) else None


def current_locale() -> str:
    """The locale in force: the innermost `use_locale`, else the configured one."""
    return _current.get() or configured_locale()


@contextmanager
def use_locale(locale: str | None) -> Iterator[str]:
    """Run a block in `locale` (None or unsupported: the configured one)."""
    chosen = normalise(locale) or configured_locale()
    token = _current.set(chosen)
    try:
        yield chosen
    finally:
        _current.reset(token)


@cache
def _catalog(domain: str, locale: str) -> gettext.NullTranslations:
    if locale == "en":
        return gettext.NullTranslations()
    language = locale.replace("-", "_")
    return gettext.translation(domain, LOCALE_DIR, languages=[language], fallback=True)


class Translate(Protocol):
    def __call__(self, message: str, /, **values: Any) -> str: ...


def translate(domain: str, message: str, /, locale: str | None = None, **values: Any) -> str:
    """`message` in `locale` (default: the current one), with `{name}` fields filled from `values`."""
    text = _catalog(domain, normalise(locale) or current_locale()).gettext(message)
    return text.format(**values) if values else text


def translator(domain: str) -> Translate:
    """The `_` of a module: translate into the current locale, then fill `{name}` fields (any names,
    `message` and `locale` included)."""

    def _(message: str, /, **values: Any) -> str:
        text = _catalog(domain, current_locale()).gettext(message)
        return text.format(**values) if values else text

    return _


def plural(domain: str, singular: str, plural_: str, n: int, **values: Any) -> str:
    """ngettext with `{n}` and `values` filled in."""
    text = _catalog(domain, current_locale()).ngettext(singular, plural_, n)
    return text.format(n=n, **values)


def marker(domain: str) -> Callable[[str], str]:
    """`N_` for strings declared before a locale is known (translate them later with `translate`)."""
    del domain
    return lambda message: message
