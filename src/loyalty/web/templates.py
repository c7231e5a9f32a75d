"""The Jinja2 environment of the web pages: templates from this package, autoescaped, with `_` from
the `web` message catalog and filters that format money, numbers and times per locale."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from loyalty.i18n import current_locale, formats, translator

TEMPLATE_DIR = Path(__file__).parent / "templates"

_ = translator("web")


def _money(minor: int | None, currency: str) -> str:
    return "" if minor is None else formats.money(int(minor), currency, current_locale())


def _number(value: int | float | None, digits: int | None = None) -> str:
    return "" if value is None else formats.number(value, current_locale(), digits)


def _percent(value: float | None) -> str:
    return "" if value is None else formats.percent(value, current_locale())


def _moment(value: datetime | None, zone: str | None = None) -> str:
    """An instant shown in `zone` (a store's time zone) per locale."""
    if value is None:
        return ""
    if value.tzinfo is None:  # SQLite hands stored instants back without their zone (UTC)
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(ZoneInfo(zone)) if zone else value
    return formats.moment(local, current_locale())


def _day(value: date | None) -> str:
    return "" if value is None else formats.day(value, current_locale())


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["_"] = _
    env.filters.update(money=_money, number=_number, percent=_percent, moment=_moment, day=_day)
    return env


def render(name: str, values: dict[str, Any]) -> str:
    """Template `name` filled with `values`, in the current locale (`use_locale` around the call)."""
    return environment().get_template(name).render(values)
