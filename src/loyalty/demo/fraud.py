"""Plant known fraud into a chain, through the product's own services, to show and to measure detection.

Four patterns, each instance planted on existing members of the chain (so the fraud mixes with their
ordinary buying) within the last `days` business days:

- ``card_sharing``: one member's card used in store in two cities 15–45 minutes apart, on two or three
  days;
- ``return_abuse``: four to seven large purchases (¥300–¥1,200), all but at most two returned within days;
- ``points_farming``: a burst of six to twelve ¥200–¥600 purchases 3–8 minutes apart at one store, then
  the points redeemed at night (02:00–04:00, store time) once they are available;
- ``staff_adjustments``: a new store manager who grants 8–16 manual adjustments of 300–2,000 points to
  three or four members on one day.

The sizes vary from one instance to the next, some near the default rules' lines, so that recall and
precision measure something.

Every sale, return, redemption and adjustment goes through `services.purchases` / `services.points`
with a clock set to the event's time, so the ledger, the audit log and the detection see exactly what
a real fraud would leave. :func:`plant_fraud` returns the ground truth: which subjects (members, and
the staff operator) each instance involves. `loyalty demo` plants a few; ``bench/anomalies.py`` plants
many and measures recall and precision.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select

from loyalty.bootstrap import FrozenClock
from loyalty.db.core_tables import members, stores
from loyalty.domain.actors import Actor
from loyalty.services.common import read

if TYPE_CHECKING:
    from loyalty.bootstrap import Context

PATTERNS: tuple[str, ...] = ("card_sharing", "return_abuse", "points_farming", "staff_adjustments")
CATEGORIES = (("礼盒", "咖啡礼盒"), ("家居", "保温杯"), ("个护", "面膜"), ("咖啡", "拿铁"), ("烘焙", "可颂"))


@dataclass(frozen=True)
class Planted:
    """One planted instance: its pattern and the subjects it involves ("member:12", "staff:staff:7")."""

    pattern: str
    subjects: tuple[str, ...]
    #: the member or staff the pattern is about (the card's owner, the farmer, the operator)
    main: str


@dataclass(frozen=True)
class _Store:
    id: int
    city: str | None
    zone: ZoneInfo


class Planter:
    """Posts a pattern's events at their own times (a frozen clock moved to each)."""

    def __init__(self, ctx: Context, seed: int, end: date, days: int, home: int | None = None) -> None:
        self.clock = FrozenClock(ctx.now())
        self.real_now = ctx.now()
        self.ctx = replace(ctx, clock=self.clock, cache={})
        self.rng = np.random.default_rng(seed)
        self.end = end
        self.days = days
        self.n = 0
        with read(ctx) as conn:
            rows = conn.execute(
                select(stores.c.id, stores.c.city, stores.c.timezone).order_by(stores.c.id)
            ).all()
            self.stores = [_Store(int(r.id), r.city, ZoneInfo(r.timezone)) for r in rows]
            self.candidates = [
                (int(r.id), int(r.registration_store_id))
                for r in conn.execute(
                    select(members.c.id, members.c.registration_store_id)
                    .where(
                        members.c.status == "active",
                        members.c.erased_at.is_(None),
                        members.c.registration_store_id.is_not(None),
                    )
                    .order_by(members.c.id)
                )
            ]
        order = self.rng.permutation(len(self.candidates))
        self.candidates = [self.candidates[i] for i in order.tolist()]
        #: the store whose member the first instance is about (the demo's scoped logins see it)
        self.home = home
        self.tag = secrets.token_hex(3)

    # --- helpers --------------------------------------------------------------------------------

    def member(self) -> int:
        if not self.candidates:
            raise ValueError("no member left to plant fraud on")
        if self.home is not None:
            at_home = [i for i, (_m, store) in enumerate(self.candidates) if store == self.home]
            self.home = None
            if at_home:
                return self.candidates.pop(at_home[-1])[0]
        return self.candidates.pop()[0]

    def store(self, *, city_not: str | None = None, with_city: bool = False) -> _Store:
        pool = [
            s for s in self.stores if (not with_city or s.city) and (city_not is None or s.city != city_not)
        ]
        return pool[int(self.rng.integers(len(pool)))]

    def day(self, earliest_back: int, latest_back: int = 0) -> date:
        """A business day between `earliest_back` and `latest_back` days before the period's end."""
        back = int(self.rng.integers(latest_back, earliest_back + 1))
        return self.end - timedelta(days=back)

    def at(self, store: _Store, day: date, hour: float) -> datetime:
        local = datetime.combine(day, time(0), tzinfo=store.zone) + timedelta(hours=hour)
        return min(local.astimezone(UTC), self.real_now - timedelta(minutes=1))

    def order(self) -> str:
        self.n += 1
        return f"FRAUD-{self.tag}-{self.n:05d}"

    def sale(self, member_id: int, store: _Store, when: datetime, minor: int) -> str:
        from loyalty.services import purchases
        from loyalty.services.schemas import PurchaseIn, PurchaseLineIn

        category, name = CATEGORIES[int(self.rng.integers(len(CATEGORIES)))]
        order_id = self.order()
        self.clock.now = when
        purchases.post_purchase(
            self.ctx,
            PurchaseIn(
                store_id=store.id,
                order_id=order_id,
                occurred_at=when,
                member_id=member_id,
                lines=[PurchaseLineIn(sku=name, category=category, quantity=1, unit_price_minor=minor)],
            ),
        )
        return order_id

    def refund(self, store: _Store, order_id: str, when: datetime, minor: int) -> None:
        from loyalty.services import purchases
        from loyalty.services.schemas import ReturnIn

        self.clock.now = when
        purchases.post_return(
            self.ctx,
            ReturnIn(
                store_id=store.id,
                return_id=f"R{order_id}",
                order_id=order_id,
                occurred_at=when,
                refund_minor=minor,
            ),
        )

    def yuan(self, low: int, high: int) -> int:
        return int(self.rng.integers(low, high + 1)) * 100

    # --- the patterns -----------------------------------------------------------------------------

    def card_sharing(self) -> Planted:
        member_id = self.member()
        days = int(self.rng.integers(2, 4))
        for back in sorted(
            self.rng.choice(np.arange(1, self.days), days, replace=False).tolist(), reverse=True
        ):
            day = self.end - timedelta(days=int(back))
            first = self.store(with_city=True)
            second = self.store(with_city=True, city_not=first.city)
            when = self.at(first, day, float(self.rng.uniform(11, 18)))
            gap = timedelta(minutes=float(self.rng.uniform(15, 45)))  # in real time, whatever the zones
            self.sale(member_id, first, when, self.yuan(30, 120))
            self.sale(
                member_id, second, min(when + gap, self.real_now - timedelta(seconds=30)), self.yuan(30, 120)
            )
        subject = f"member:{member_id}"
        return Planted("card_sharing", (subject,), subject)

    def return_abuse(self) -> Planted:
        member_id = self.member()
        store = self.store()
        n = int(self.rng.integers(4, 8))
        returned = int(self.rng.integers(n - 2, n + 1))
        for i in range(n):
            day = self.day(self.days - 4, 3)
            minor = self.yuan(300, 1200)
            when = self.at(store, day, float(self.rng.uniform(10, 20)))
            order_id = self.sale(member_id, store, when, minor)
            if i < returned:
                back = when + timedelta(
                    days=int(self.rng.integers(1, 3)), hours=float(self.rng.uniform(0, 3))
                )
                self.refund(store, order_id, min(back, self.real_now - timedelta(seconds=30)), minor)
        subject = f"member:{member_id}"
        return Planted("return_abuse", (subject,), subject)

    def points_farming(self) -> Planted:
        from loyalty.services import points

        member_id = self.member()
        store = self.store()
        day = self.day(self.days - 2, 11)
        start = float(self.rng.uniform(10, 19))
        for k in range(int(self.rng.integers(6, 13))):
            minute = k * float(self.rng.uniform(3, 8)) / 60
            self.sale(member_id, store, self.at(store, day, start + minute), self.yuan(200, 600))
        night = day + timedelta(days=int(self.rng.integers(8, 11)))
        self.clock.now = self.at(store, night, float(self.rng.uniform(2, 4)))
        available = points.balance(self.ctx, member_id).available
        if available > 0:
            points.redeem(self.ctx, member_id, min(available, self.yuan(20, 50)), store_id=store.id)
        subject = f"member:{member_id}"
        return Planted("points_farming", (subject,), subject)

    def staff_adjustments(self) -> Planted:
        from loyalty.services import auth, points

        store = self.store()
        user = auth.create_staff(
            self.ctx,
            username=f"planted-{self.tag}-{self.n + 1}",
            password=secrets.token_urlsafe(16),
            role="store_manager",
            store_ids=[store.id],
        )
        self.n += 1
        operator = f"staff:{user.id}"
        actor = Actor(kind="staff", id=str(user.id), role="store_manager", store_ids=frozenset({store.id}))
        friends = [self.member() for _ in range(int(self.rng.integers(3, 5)))]
        day = self.day(self.days - 2, 1)
        start = float(self.rng.uniform(9, 17))
        for k in range(int(self.rng.integers(8, 17))):
            self.clock.now = self.at(store, day, start + k * 0.1)
            points.adjust(
                self.ctx,
                friends[k % len(friends)],
                int(self.rng.integers(3, 21)) * 100,
                reason="goodwill",
                operator=operator,
                store_id=store.id,
                actor=actor,
            )
        main = f"staff:{operator}"
        return Planted("staff_adjustments", (main, *(f"member:{m}" for m in friends)), main)


def plant_fraud(
    ctx: Context,
    counts: Mapping[str, int] | int = 1,
    *,
    seed: int = 0,
    end: date | None = None,
    days: int = 28,
    home: int | None = None,
) -> list[Planted]:
    """Plant `counts` instances of each pattern (a number: that many of every pattern) within the
    `days` business days ending `end` (default: today in the chain's zone); the ground truth. With
    `home`, the first instance is about a member of that store."""
    wanted = dict.fromkeys(PATTERNS, counts) if isinstance(counts, int) else dict(counts)
    unknown = set(wanted) - set(PATTERNS)
    if unknown:
        raise ValueError(f"unknown fraud patterns: {sorted(unknown)}")
    end = end or ctx.now().astimezone(ctx.settings.tz).date()
    planter = Planter(ctx, seed, end, days, home)
    out = []
    for pattern in PATTERNS:
        for _ in range(int(wanted.get(pattern, 0))):
            out.append(getattr(planter, pattern)())
    return out


#: how many instances of each pattern `loyalty demo` plants: enough to fill the review queue
DEMO_PER_PATTERN = 2


def _home_store(ctx: Context) -> int | None:
    """The demo's first store with members, where its till and manager logins work (as
    `demo.chain`'s): one planted member is theirs, so the manager's queue is not empty."""
    with read(ctx) as conn:
        found = conn.execute(
            select(stores.c.id)
            .where(select(members.c.id).where(members.c.registration_store_id == stores.c.id).exists())
            .order_by(stores.c.id)
            .limit(1)
        ).scalar()
    return None if found is None else int(found)


def plant_for_demo(ctx: Context, console: Any) -> None:
    """`loyalty demo`: plant a few instances of each pattern and scan the last 30 days (the
    anomaly-scan job), so the console's review queue opens with flags to review."""
    from loyalty.domain.errors import DomainError
    from loyalty.i18n import translator
    from loyalty.services import jobs

    _ = translator("cli")
    actor = Actor(kind="system", id="demo", role="system")
    with console.status(_("planting a few fraud patterns and scanning for them…")):
        try:
            planted = plant_fraud(ctx, DEMO_PER_PATTERN, seed=7, home=_home_store(ctx))
            _job, result = jobs.run_now(ctx, jobs.ANOMALY_SCAN, actor, actor_name=actor.id)
        except (DomainError, ValueError) as exc:  # a chain too small to plant on (recorded on the job too)
            console.print(_("[yellow]no fraud planted: {reason}[/]", reason=str(exc)))
            return
    console.print(
        _(
            "{planted} fraud patterns planted; the scan raised {flags} flags to review",
            planted=len(planted),
            flags=int(result.get("new", 0)),
        )
    )
