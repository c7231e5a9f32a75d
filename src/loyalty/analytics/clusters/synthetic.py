"""Synthetic members with planted behaviour, for the tests and the benchmark (``bench/clusters.py``).

Four personas, each buying in its own way over :data:`DAYS` days, drawn with NumPy on whole arrays
(a million members in seconds):

==========  ==================================================================================
fresh       frequent small baskets, mostly fresh food, mostly online
gifts       rare big baskets, gift boxes, in store
deals       medium baskets of snacks and drinks, mostly on discount
lapsed      a few purchases long ago, a bit of everything
==========  ==================================================================================

:func:`members` returns the ``visits``, ``spend`` and ``joined`` tables that
:func:`~loyalty.analytics.clusters.member_features` reads, and each member's planted persona.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

DAYS = 540
START = dt.date(2025, 1, 1)
AS_OF = START + dt.timedelta(days=DAYS)
CATEGORIES = ("生鲜", "礼盒", "零食", "饮料", "乳制品", "烘焙", "个护", "家居")
PERSONAS = ("fresh", "gifts", "deals", "lapsed")

# per persona: share of members, mean visits, mean ticket (fen), online share, discount share,
# favourite categories and the share of visits that buy one of them, active days (lapsed: early only)
_SHARE = np.array([0.3, 0.2, 0.3, 0.2])
_VISITS = np.array([30.0, 5.0, 12.0, 3.0])
_TICKET = np.array([3_000.0, 40_000.0, 8_000.0, 6_000.0])
_ONLINE = np.array([0.8, 0.02, 0.1, 0.2])
_DISCOUNT = np.array([0.05, 0.02, 0.85, 0.1])
_FAVOURITE = (
    (0,),  # 生鲜
    (1,),  # 礼盒
    (2, 3),  # 零食, 饮料
    tuple(range(len(CATEGORIES))),
)
_LOYALTY = np.array([0.85, 0.85, 0.8, 0.2])


@dataclass(frozen=True)
class Synthetic:
    """The three input tables and each member's persona (index into :data:`PERSONAS`), by member id."""

    visits: pa.Table
    spend: pa.Table
    joined: pa.Table
    persona: npt.NDArray[np.int64]
    as_of: dt.date = AS_OF


def members(n: int, *, seed: int = 0) -> Synthetic:
    """``n`` members (ids 1…n) of the four personas, seeded."""
    rng = np.random.default_rng(seed)
    persona = rng.choice(len(PERSONAS), size=n, p=_SHARE).astype(np.int64)
    ids = np.arange(1, n + 1, dtype=np.int64)
    visits = 1 + rng.poisson(_VISITS[persona] - 1)
    lapsed = persona == 3
    start = rng.integers(0, DAYS // 3, size=n)
    end = np.where(lapsed, start + rng.integers(20, 90, size=n), DAYS - 1)
    # the visits: one row each, over the member's active days
    member = np.repeat(np.arange(n), visits)
    p = persona[member]
    span = (end - start + 1)[member]
    day = start[member] + (rng.random(len(member)) * span).astype(np.int64)
    online = rng.random(len(member)) < _ONLINE[p]
    ticket = np.round(_TICKET[p] * rng.lognormal(0.0, 0.35, size=len(member)))
    discounted = rng.random(len(member)) < _DISCOUNT[p]
    # each visit's spend goes to one category: a favourite one, or any
    favourite = np.zeros(len(member), dtype=np.int64)
    for k, cats in enumerate(_FAVOURITE):
        at = p == k
        favourite[at] = np.array(cats)[rng.integers(0, len(cats), size=int(at.sum()))]
    loyal = rng.random(len(member)) < _LOYALTY[p]
    category = np.where(loyal, favourite, rng.integers(0, len(CATEGORIES), size=len(member)))
    days = (np.datetime64(START) + day.astype("timedelta64[D]")).astype("datetime64[D]")
    visits_t = pa.table(
        {
            "member_id": pa.array(ids[member]),
            "day": pa.array(days, pa.date32()),
            "channel": pa.DictionaryArray.from_arrays(
                pa.array(online.astype(np.int8)), pa.array(["store", "online"])
            ).cast(pa.string()),
            "net_minor": pa.array(ticket),
        }
    )
    key = member * len(CATEGORIES) + category
    net = np.bincount(key, weights=ticket, minlength=n * len(CATEGORIES))
    disc = np.bincount(key, weights=np.where(discounted, ticket, 0.0), minlength=n * len(CATEGORIES))
    kept = np.flatnonzero(net > 0)
    spend_t = pa.table(
        {
            "member_id": pa.array(ids[kept // len(CATEGORIES)]),
            "category": pa.DictionaryArray.from_arrays(
                pa.array((kept % len(CATEGORIES)).astype(np.int32)), pa.array(list(CATEGORIES))
            ).cast(pa.string()),
            "net_minor": pa.array(net[kept]),
            "discounted_minor": pa.array(disc[kept]),
        }
    )
    registered = np.maximum(start - rng.integers(0, 60, size=n), 0)
    joined_t = pa.table(
        {
            "member_id": pa.array(ids),
            "day": pa.array(
                (np.datetime64(START) + registered.astype("timedelta64[D]")).astype("datetime64[D]"),
                pa.date32(),
            ),
        }
    )
    return Synthetic(visits_t, spend_t, joined_t, persona)
