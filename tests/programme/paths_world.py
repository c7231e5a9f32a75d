"""Worlds for `test_paths_hypothesis`: identical databases, reset to one starting state per example,
and their rows dumped in a form that is equal across posting paths.

A world is the chain of `tests.imports.test_bulk_equivalence` (the seeded programme, three stores in
three time zones) with a few members (one in debt, birthdays in the sales' month). Building one costs
a migration, so it is built once per backend and put back before each Hypothesis example: on SQLite
by copying the database file built once, on PostgreSQL by emptying every table and refilling it from
a copy kept in a schema of its own, sequences included (creating and dropping a database per example
costs seconds: DROP DATABASE waits for a checkpoint).

The dumps leave out what is meant to differ between paths: surrogate ids (PostgreSQL sequences may
skip values a refused sale took) are replaced by the row's rank in its table, wherever they appear
(a transfer's purchase, a lot's transfer, …), and `created_at`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text, update

from loyalty.bootstrap import Context, FrozenClock
from loyalty.db.core_tables import members
from loyalty.services import points, purchases
from loyalty.services.schemas import PurchaseIn, PurchaseLineIn, ReturnIn
from tests.conftest import create_pg_database, drop_pg_database
from tests.imports.test_bulk_equivalence import NOW, _add_members, _chain, _store_ids

#: the posting paths a stream goes through, each in a world of its own
PATHS = ("live", "group_commit", "set_based", "import")
#: the members' birthdays (in the sales' month, so that birthday rules apply to some sales)
BIRTHDAYS = [date(1990, 9, 15), date(1985, 9, 28), date(2000, 3, 3)]


@dataclass
class Chain:
    """The chain as every world holds it after a reset: stores and members by position."""

    store_ids: list[int]  # EQ-SH, EQ-NY, EQ-LN
    member_ids: list[int]


def _populate(ctx: Context) -> Chain:
    """The members, the second owing 700 points as the ledger records a debt: a sale long ago earned
    900, 700 of them were spent, then the sale was returned."""
    ids = _add_members(ctx, len(BIRTHDAYS), "PH", [])
    with ctx.engine.begin() as conn:
        for mid, born in zip(ids, BIRTHDAYS, strict=True):
            conn.execute(update(members).where(members.c.id == mid).values(birthday=born))
    store_ids = _store_ids(ctx)
    at = NOW - timedelta(days=200)
    line = PurchaseLineIn(sku="OLD", category=None, quantity=1, unit_price_minor=90_000)
    purchases.post_purchase(
        ctx, PurchaseIn(store_id=store_ids[0], order_id="OLD", occurred_at=at, member_id=ids[1], lines=[line])
    )
    points.adjust(ctx, ids[1], -700, reason="spent", operator="test", store_id=store_ids[0])
    purchases.post_return(
        ctx,
        ReturnIn(store_id=store_ids[0], return_id="OLD", order_id="OLD", occurred_at=at, refund_minor=90_000),
    )
    with ctx.engine.connect() as conn:
        debt = conn.execute(
            text("SELECT debt FROM accounts WHERE member_id = :m"), {"m": ids[1]}
        ).scalar_one()
    assert debt == 700
    return Chain(store_ids, ids)


@dataclass
class Worlds:
    """One database per path, put back to the same starting state by `fresh`."""

    backend: str
    urls: dict[str, str]
    chain: Chain
    template: Path | None = None  # SQLite: the file every world is copied from
    contexts: dict[str, Context] = field(default_factory=dict)
    _reset_sql: str = ""

    def fresh(self) -> dict[str, Context]:
        """Every world back to the starting state, on a frozen clock at NOW; their contexts."""
        for path, url in self.urls.items():
            if self.backend == "sqlite":
                old = self.contexts.pop(path, None)
                if old is not None:
                    old.engine.dispose()
                assert self.template is not None
                shutil.copyfile(self.template, url.removeprefix("sqlite:///"))
                self.contexts[path] = Context.from_url(url)
            else:
                ctx = self.contexts.setdefault(path, Context.from_url(url))
                with ctx.engine.begin() as conn:
                    conn.exec_driver_sql(self._reset_sql)
                ctx.invalidate()
            self.contexts[path].clock = FrozenClock(NOW)
        return dict(self.contexts)

    def close(self) -> None:
        for ctx in self.contexts.values():
            ctx.engine.dispose()
        self.contexts.clear()


def _pg_reset_sql(engine: Engine) -> str:
    """Keep a copy of every non-empty table in schema `start`; the SQL that puts the database back
    to it (every table emptied, the copies put back, the sequences where they were)."""
    with engine.begin() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        ).scalars()
        tables = [t for t in tables if t != "alembic_version"]
        conn.execute(text("CREATE SCHEMA start"))
        kept = []
        for table in tables:
            if conn.execute(text(f'SELECT EXISTS (SELECT 1 FROM public."{table}")')).scalar_one():
                conn.execute(text(f'CREATE TABLE start."{table}" AS TABLE public."{table}"'))
                kept.append(table)
        sequences = conn.execute(
            text("SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'")
        ).all()
    script = ["SET LOCAL session_replication_role = replica"]  # no foreign-key checks while refilling
    script += [f'DELETE FROM public."{t}"' for t in tables]
    script += [f'INSERT INTO public."{t}" SELECT * FROM start."{t}"' for t in kept]
    for name, value in sequences:
        called = "false" if value is None else "true"
        script.append(f"SELECT setval('public.\"{name}\"', {1 if value is None else value}, {called})")
    return ";\n".join(script)


def build_worlds(backend: str, base: Path) -> Iterator[Worlds]:
    """The worlds of one backend (a generator for a fixture: cleaned up after the last example)."""
    if backend == "sqlite":
        template = base / "start.db"
        ctx = _chain(f"sqlite:///{template}")
        chain = _populate(ctx)
        ctx.engine.dispose()
        urls = {path: f"sqlite:///{base / path}.db" for path in PATHS}
        worlds = Worlds(backend, urls, chain, template=template)
        try:
            yield worlds
        finally:
            worlds.close()
        return
    urls = {}
    try:
        for path in PATHS:
            urls[path] = create_pg_database()
        chains = []
        reset = ""
        for url in urls.values():
            ctx = _chain(url)
            chains.append(_populate(ctx))
            reset = _pg_reset_sql(ctx.engine)
            ctx.engine.dispose()
        assert all(c == chains[0] for c in chains)
        worlds = Worlds(backend, urls, chains[0], _reset_sql=reset)
        try:
            yield worlds
        finally:
            worlds.close()
    finally:
        for url in urls.values():
            drop_pg_database(url)


# --- dumps -----------------------------------------------------------------------------------------

#: table → (order, columns left out, {column: the table its id points to})
_TABLES: dict[str, tuple[str, set[str], dict[str, str]]] = {
    "purchases": ("id", {"id", "created_at"}, {}),
    "purchase_lines": ("purchase_id, line_no", set(), {"purchase_id": "purchases"}),
    "purchase_line_rules": (
        "purchase_id, line_no, rule_id",
        set(),
        {"purchase_id": "purchases", "rule_id": "earning_rules"},
    ),
    "transfers": (
        "id",
        {"id", "created_at"},
        {
            "purchase_id": "purchases",
            "return_id": "returns",
            "lot_id": "point_lots",
            "reverses_transfer_id": "transfers",
        },
    ),
    "postings": ("id", {"id", "created_at"}, {"transfer_id": "transfers"}),
    "point_lots": (
        "id",
        {"id", "created_at"},
        {"transfer_id": "transfers", "purchase_id": "purchases", "expired_transfer_id": "transfers"},
    ),
    "lot_allocations": ("id", {"id"}, {"lot_id": "point_lots", "transfer_id": "transfers"}),
    "accounts": ("id", {"created_at"}, {}),
    "tier_history": ("id", {"id"}, {}),
    "returns": ("id", {"id", "created_at"}, {"purchase_id": "purchases"}),
    "rule_usage": ("programme_id, rule_code, subject_kind, subject_id, period", set(), {}),
    "coupon_uses": ("id", {"id"}, {"coupon_id": "coupons", "purchase_id": "purchases"}),
    "coupons": ("id", {"id"}, {}),
    "offers": ("id", {"id"}, {}),
}
_RANKED = ("purchases", "transfers", "point_lots", "returns", "coupons", "earning_rules")
#: what an import cannot know: coupons (it is given the amounts the coupons left) and request hashes
IMPORT_BLIND = {"coupon_uses", "coupons", "offers"}


def dump(ctx: Context, *, for_import: bool = False) -> dict[str, list[tuple[Any, ...]]]:
    """The rows a stream leaves, comparable across paths (see the module docstring); `for_import`
    leaves out what an import never writes."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with ctx.engine.connect() as conn:
        ranks = {
            table: {
                v: i
                for i, v in enumerate(conn.execute(text(f"SELECT id FROM {table} ORDER BY id")).scalars())
            }
            for table in _RANKED
        }
        for table, (order, left_out, refs) in _TABLES.items():
            if for_import and table in IMPORT_BLIND:
                continue
            drop = left_out | ({"request_hash"} if for_import else set())
            result = conn.execute(text(f"SELECT * FROM {table} ORDER BY {order}"))
            names = list(result.keys())
            out[table] = [
                tuple(
                    ranks[refs[name]][value] if name in refs and value is not None else value
                    for name, value in zip(names, row, strict=True)
                    if name not in drop
                )
                for row in result
            ]
        out["members"] = [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT id, tier_id, tier_grace_until, tier_locked_until, status FROM members ORDER BY id"
                )
            )
        ]
    return out


def assert_same_rows(
    a: dict[str, list[tuple[Any, ...]]], b: dict[str, list[tuple[Any, ...]]], what: str
) -> None:
    assert a.keys() == b.keys()
    for table in a:
        assert len(a[table]) == len(b[table]), (what, table, a[table], b[table])
        for ra, rb in zip(a[table], b[table], strict=True):
            assert ra == rb, (what, table, ra, rb)
