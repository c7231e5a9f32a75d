"""The currency of the product database's amounts, and minor units as Decimal major units.

Analytics sums purchases across members, which only means something in one currency: the one the
purchases are in, else (no purchases yet) the programme's, else ``LOYALTY_CURRENCY``. Light on
purpose (SQLAlchemy, Arrow and Babel; no pandas or Ibis) so exports can use it without loading the
analytics stack.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Engine, MetaData, Table, select

from loyalty.analytics.errors import InputError


def database_currency(bind: Engine | Connection) -> str:
    """The one currency of the purchases; raises :class:`InputError` when they mix currencies."""
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return database_currency(conn)
    md = MetaData()
    md.reflect(bind, only=lambda name, _md: name in ("purchases", "programmes"))
    found: list[str] = []
    if "purchases" in md.tables:
        p = md.tables["purchases"]
        found = sorted(str(c) for c in bind.execute(select(p.c.currency).distinct()).scalars())
    if len(found) > 1:
        raise InputError(
            f"the purchases are in several currencies ({', '.join(found)}); member analytics sums one "
            "currency",
            {"currencies": found},
        )
    if found:
        return found[0]
    if "programmes" in md.tables:
        prog: Table = md.tables["programmes"]
        row = bind.execute(select(prog.c.currency).order_by(prog.c.id).limit(1)).scalar()
        if row:
            return str(row)
    from loyalty.config import get_settings

    return get_settings().currency


def minor_exponent(currency: str) -> int:
    """Digits after the decimal point of `currency` (CNY 2, JPY 0), from CLDR."""
    from babel.numbers import get_currency_precision

    return int(get_currency_precision(currency))


def to_major(values: npt.ArrayLike, currency: str) -> pa.Array:
    """Amounts in minor units (sums of integers, or model outputs) as exact major-unit decimals.

    Rounded to a whole minor unit first (half to even), then scaled in decimal arithmetic, so
    ``126200527.0`` fen becomes ``1262005.27`` with no binary-float digits in a file; NaN stays null.
    Returns an Arrow ``decimal128`` array (``.to_pandas()`` gives ``Decimal`` objects).
    """
    exp = minor_exponent(currency)
    minor = np.rint(np.asarray(values, dtype=np.float64))
    missing = np.isnan(minor)
    whole = pa.array(np.where(missing, 0, minor).astype(np.int64), mask=missing)
    scaled = pc.multiply(
        whole.cast(pa.decimal128(19, 0)), pa.scalar(Decimal(1).scaleb(-exp), pa.decimal128(exp + 1, exp))
    )
    return scaled.cast(pa.decimal128(19 + exp, exp))


def to_minor(value: float | int | Decimal, currency: str) -> int:
    """A major-unit amount (``29.33`` dollars) as integer minor units (``2933``), half to even."""
    exp = minor_exponent(currency)
    d = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    return int(d.scaleb(exp).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
