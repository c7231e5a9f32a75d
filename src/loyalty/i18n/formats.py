"""Money, numbers and dates shown to a person, per locale (Babel's CLDR data).

Money arrives as integer minor units and is shown with its currency: 1_262_005_270 fen →
"¥12,620,052.70" (zh-CN) or "CN¥12,620,052.70" (en). Never float: the amount becomes a Decimal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from babel import Locale
from babel.dates import format_date as _format_date
from babel.dates import format_datetime as _format_datetime
from babel.numbers import (
    format_compact_currency,
    format_currency,
    format_decimal,
    format_percent,
    get_currency_precision,
)

from loyalty.i18n import current_locale, normalise


def _babel(locale: str | None) -> Locale:
    return _parsed((normalise(locale) or current_locale()).replace("-", "_"))


@lru_cache(maxsize=16)
def _parsed(name: str) -> Locale:
    """The locale's CLDR data, parsed once: Babel parses a locale given by name on every call, which
    a page of a few hundred figures paid for again and again."""
    return Locale.parse(name)


def major(minor: int, currency: str) -> Decimal:
    """Minor units as a Decimal amount of the currency (12000, CNY → Decimal('120.00'))."""
    exp = get_currency_precision(currency)
    return Decimal(int(minor)).scaleb(-exp).quantize(Decimal(1).scaleb(-exp))


def money(minor: int, currency: str, locale: str | None = None) -> str:
    """ "¥120.00" — the amount with its currency sign, grouped per locale."""
    return format_currency(major(minor, currency), currency, locale=_babel(locale))


@dataclass(frozen=True)
class Amount:
    """Money inside an error message (`DomainError` details): written with its currency in the
    language the message is shown in ("¥500.00", "CN¥500.00"), and as a decimal string with its
    currency where the details are data (`as_json`, the API's problem members)."""

    minor: int
    currency: str

    def localized(self, locale: str | None) -> str:
        return money(self.minor, self.currency, locale)

    def as_json(self) -> dict[str, str]:
        return {"amount": str(major(self.minor, self.currency)), "currency": self.currency}

    def __str__(self) -> str:
        return money(self.minor, self.currency, "en")


def money_compact(minor: int, currency: str, locale: str | None = None) -> str:
    """ "¥1263万" / "CN¥12.6M": for chart axes and headline figures."""
    return format_compact_currency(major(minor, currency), currency, locale=_babel(locale), fraction_digits=1)


def number(value: int | float | Decimal, locale: str | None = None, digits: int | None = None) -> str:
    fmt = None if digits is None else ("#,##0." + "0" * digits if digits else "#,##0")
    return format_decimal(value, format=fmt, locale=_babel(locale))


def percent(value: float, locale: str | None = None, digits: int = 1) -> str:
    fmt = "#,##0." + "0" * digits + "%" if digits else "#,##0%"
    return format_percent(value, format=fmt, locale=_babel(locale))


def day(value: date, locale: str | None = None) -> str:
    return _format_date(value, format="medium", locale=_babel(locale))


def moment(value: datetime, locale: str | None = None) -> str:
    """An aware time shown in its own zone (convert to the store's zone first)."""
    return _format_datetime(value, format="medium", tzinfo=value.tzinfo, locale=_babel(locale))
