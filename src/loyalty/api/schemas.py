"""Wire types shared by the routers: money as decimal strings with a currency, aware timestamps.

Storage keeps integer minor units; JSON carries `{"amount": "12.30", "currency": "CNY"}` so no client
ever parses money into a float. Input amounts are strings matching a strict pattern for the same reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path
from pydantic import AfterValidator, BaseModel, Field

from loyalty.domain.errors import InvalidInput
from loyalty.domain.staff import MAX_STAFF_CODE, is_staff_code

#: ISO 4217 minor-unit exponents that differ from 2 (the default).
_EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3, "JOD": 3, "OMR": 3}

DecimalString = Annotated[
    str,
    Field(
        pattern=r"^-?(0|[1-9][0-9]{0,11})(\.[0-9]{1,3})?$",
        examples=["12.30"],
        description="A decimal amount as a string (never a float).",
    ),
]
PositiveDecimalString = Annotated[
    str,
    Field(pattern=r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,3})?$", examples=["12.30"]),
]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["CNY"])]


def _staff_code(value: str) -> str:
    if not is_staff_code(value):
        raise ValueError("a staff code is printable characters, without spaces at either end")
    return value


#: who made a sale or a sign-up: a cashier's code as the till knows it (`domain.staff`)
StaffCode = Annotated[
    str,
    Field(min_length=1, max_length=MAX_STAFF_CODE, examples=["C0107"]),
    AfterValidator(_staff_code),
]


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


class Money(BaseModel):
    """An amount of money: a decimal string quantised to the currency, and the ISO 4217 code."""

    amount: str = Field(examples=["128.00"])
    currency: str = Field(examples=["CNY"])


def money(minor: int, currency: str) -> Money:
    """Format integer minor units as a `Money` (128_00 CNY → "128.00")."""
    exp = exponent(currency)
    value = Decimal(minor).scaleb(-exp)
    return Money(amount=f"{value:.{exp}f}", currency=currency)


class AmountError(InvalidInput, ValueError):
    """An amount with more decimals than its currency has."""

    default_code = "AMOUNT_INVALID"


def to_minor(amount: str | Decimal, currency: str) -> int:
    """Parse a decimal string into minor units, refusing sub-minor precision instead of rounding."""
    exp = exponent(currency)
    value = Decimal(amount).scaleb(exp)
    if value != value.to_integral_value():
        raise AmountError(
            "AMOUNT_INVALID",
            "{amount} has more than {decimals} decimals for {currency}",
            {"amount": str(amount), "decimals": exp, "currency": currency},
        )
    return int(value)


def minor_of(amount: str, currency: str, field: str) -> int:
    """`to_minor` of a body's amount: more decimals than the currency has is VALIDATION_FAILED naming
    `field` (`refund`, `order_total`), never a problem without a field."""
    try:
        return to_minor(amount, currency)
    except AmountError as exc:
        raise InvalidInput.field(field, exc.template, "VALIDATION_FAILED", exc.details) from exc


def _is_none(value: object) -> bool:
    return value is None


#: an optional `currency` beside a body's amounts: the programme's (the default) or refused; left out
#: of the body's dump when omitted, so an Idempotency-Key's hash is what it was before the field
OptionalCurrency = Annotated[
    str | None,
    Field(
        pattern=r"^[A-Z]{3}$",
        examples=["CNY"],
        exclude_if=_is_none,
        description="The currency of the amounts: the programme's (the default); any other is refused.",
    ),
]


def aware(value: datetime) -> datetime:
    """The instant in UTC: naive values (SQLite reads) are UTC already; aware ones are converted."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of results; pass `next_cursor` back as `cursor` for the next page (null at the end)."""

    items: list[T]
    next_cursor: str | None = None


def dump(model: BaseModel | Any) -> dict[str, Any]:
    """`model_dump` for either a Pydantic model or a mapping-like row."""
    if isinstance(model, BaseModel):
        return model.model_dump()
    if hasattr(model, "_mapping"):
        return dict(model._mapping)
    return dict(model)


MAX_ID = 2_147_483_647  # ids are 32-bit integers on PostgreSQL; larger numbers can name nothing

#: a database id in a body or query
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]

#: a database id in a path
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
