"""Database side of an import: reference data for validation, and the per-kind batch loaders.

Validation needs to know what already exists (stores, members, orders, returns, granted balances);
it is read once per import into Arrow tables. Loading uses the core's own code so that imported
history earns points and moves tiers exactly as live traffic would: purchases through the set-based
`purchases_bulk.post_purchase_batch` (the live rules on whole batches), returns through
`purchases.post_return_in` (the routine behind the live `post_return`) and opening balances through
the ledger's `post_transfer` with the lot's original earn date and expiry; each batch inside one
transaction together with its checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Select, insert, select

from loyalty.db.core_tables import (
    members,
    programmes,
    purchases,
    returns,
    stores,
    tiers,
)
from loyalty.db.imports_tables import imported_balances
from loyalty.domain.actors import SYSTEM, Actor
from loyalty.domain.cards import new_card_number, new_member_code
from loyalty.domain.channels import DEFAULT_CHANNEL
from loyalty.imports.mapping import ColumnMap, Kind
from loyalty.imports.report import Summary
from loyalty.imports.runner import Step
from loyalty.imports.validate import Checked, Reference
from loyalty.services import audit
from loyalty.services.common import credit_lot, lock_member_account, post_transfer, store_info
from loyalty.services.purchases_bulk import (
    ANONYMOUS,
    BulkSession,
    OrderBatch,
    next_ids,
    post_purchase_batch,
    stored_date,
    stored_times,
    write_rows,
)
from loyalty.services.schemas import ReturnIn

# Core keeps phone and name NOT NULL; members known only by a card number (Online Retail customers,
# old loyalty cards) get a placeholder that can never collide with a real E.164 number.
NO_PHONE_PREFIX = "nophone:"


def _us(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1_000_000, tz=UTC)


def _np(values: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """Int64 NumPy copy of an Arrow column (a null would be a validation bug: fail loudly)."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if arr.null_count:
        raise ValueError("unexpected null in a validated purchase column")
    out: npt.NDArray[np.int64] = arr.cast(pa.int64()).to_numpy(zero_copy_only=False).astype(np.int64)
    return out


def _to_arrow(conn: Connection, stmt: Select[Any], schema: pa.Schema) -> pa.Table:
    """The rows of a parameterless `stmt` as an Arrow table, fetched on the driver's own cursor
    (a million members through SQLAlchemy's row objects cost seconds of an import)."""
    cur = conn.connection.cursor()
    try:
        cur.execute(str(stmt.compile(dialect=conn.dialect)))
        rows = cur.fetchall()
    finally:
        cur.close()
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    return pa.table([pa.array(list(c), f.type) for c, f in zip(cols, schema, strict=True)], schema=schema)


def load_reference(conn: Connection, kind: Kind, mapping: ColumnMap, ctx: Any) -> Reference:
    """Read what validation must know about the database into Arrow tables (one query each)."""
    ref = Reference.empty(default_timezone=ctx.settings.timezone)
    ref.currency = conn.execute(select(programmes.c.currency).order_by(programmes.c.id).limit(1)).scalar()
    ref.stores = _to_arrow(
        conn,
        select(stores.c.code, stores.c.id, stores.c.timezone),
        pa.schema([("code", pa.string()), ("id", pa.int64()), ("timezone", pa.string())]),
    )
    if kind is not Kind.members or mapping.member_keys():
        ref.members = _to_arrow(
            conn,
            select(members.c.id, members.c.card_no, members.c.phone, members.c.member_code),
            ref.members.schema,
        )
    if kind in (Kind.purchases, Kind.returns):
        ref.orders = _to_arrow(
            conn,
            select(
                purchases.c.store_id,
                purchases.c.order_id,
                purchases.c.id,
                purchases.c.member_id,
                purchases.c.total_minor,
                purchases.c.refunded_minor,
            ),
            ref.orders.schema,
        )
        ref.returns = _to_arrow(conn, select(returns.c.store_id, returns.c.return_id), ref.returns.schema)
    if kind is Kind.balances:
        ref.balances = _to_arrow(
            conn, select(imported_balances.c.member_id, imported_balances.c.source_key), ref.balances.schema
        )
    return ref


class Loader(Protocol):
    def prepare(self, ctx: Any, conn: Connection, mapping: ColumnMap, config: dict[str, Any]) -> None: ...
    def plan(self, checked: Checked, mapping: ColumnMap) -> list[Step]: ...
    def load(
        self, ctx: Any, conn: Connection | None, step: str, batch: pa.Table, run_id: int, actor: Any
    ) -> int: ...
    def after(self, ctx: Any, checked: Checked, summary: Summary) -> None: ...


def _lowest_tier(conn: Connection) -> int:
    return int(conn.execute(select(tiers.c.id).order_by(tiers.c.rank).limit(1)).scalar_one())


def insert_members(
    conn: Connection, rows: list[dict[str, Any]], now: datetime, actor: Actor | None
) -> dict[str, int]:
    """Create members in bulk the way `members.register_member` does (lowest tier, account, history).

    Registration one by one costs a transaction per member; an import of a million members cannot
    afford that, so the same rows are written by three bulk inserts straight through the driver
    (`executemany` on SQLite, `COPY` on PostgreSQL), with values already in the form the columns
    store, as the purchase import does: SQLAlchemy's per-row parameter processing was two thirds of a
    members import. Card numbers and member codes from the old system are kept; missing ones are
    generated by the core's generators. Returns card_no -> member id.
    """
    if not rows:
        return {}
    pg = conn.dialect.name == "postgresql"
    tier_id = _lowest_tier(conn)
    cards = [r.get("card_no") or new_card_number() for r in rows]
    created = stored_times([r.get("created_at") or now for r in rows], pg)
    # Ids are taken up front (sequence on PostgreSQL, after max(id) under SQLite's write lock), so the
    # three inserts need no RETURNING round trip per row.
    ids = [int(i) for i in next_ids(conn, "members", len(rows)).tolist()]
    write_rows(
        conn,
        "members",
        (
            "id", "phone", "name", "email", "birthday", "gender", "registration_store_id",
            "marketing_consent", "card_no", "member_code", "created_at", "updated_at",
        ),
        (
            (
                i, r.get("phone") or f"{NO_PHONE_PREFIX}{card}", r.get("name") or card, r.get("email"),
                stored_date(r.get("birthday")), r.get("gender"), r.get("store_id"),
                bool(r.get("consent")) if pg else int(bool(r.get("consent"))), card,
                r.get("member_code") or new_member_code(), at, at,
            )
            for i, r, card, at in zip(ids, rows, cards, created, strict=True)
        ),
        {"tags": json.dumps(["imported"]), "status": "active", "tier_id": tier_id},
    )  # fmt: skip
    write_rows(
        conn,
        "accounts",
        ("member_id", "created_at"),
        zip(ids, created, strict=True),
        {"kind": "member", "balance": 0, "debt": 0},
    )
    write_rows(
        conn,
        "tier_history",
        ("member_id", "at"),
        zip(ids, created, strict=True),
        {"from_tier_id": None, "to_tier_id": tier_id, "reason": "register"},
    )
    if actor is not None:
        audit.record(
            conn,
            actor,
            "member.import",
            "member",
            ids[0],
            None,
            {"count": len(ids), "first_id": ids[0], "last_id": ids[-1]},
            at=now,
        )
    return {str(card): i for card, i in zip(cards, ids, strict=True)}


def _post_purchases_in(
    conn: Connection, ctx: Any, batch: OrderBatch, session: BulkSession | None = None
) -> int:
    """Post `batch` inside the caller's transaction (the batch and its checkpoint commit together).

    `purchases_bulk.post_purchase_batch` runs the live earning and tier rules on the whole batch at once
    (and falls back to the live per-order routine for anything it does not model set-based).
    """
    return post_purchase_batch(conn, ctx, batch, session)


@dataclass
class MembersLoader:
    def prepare(self, ctx: Any, conn: Connection, mapping: ColumnMap, config: dict[str, Any]) -> None:
        return None

    def plan(self, checked: Checked, mapping: ColumnMap) -> list[Step]:
        # Bulk load: a batch writes only store and tier ids it read and member ids it created.
        return [Step("members", checked.good, bulk_load=True)]

    def load(
        self, ctx: Any, conn: Connection | None, step: str, batch: pa.Table, run_id: int, actor: Any
    ) -> int:
        assert conn is not None
        rows = batch.to_pylist()
        for r in rows:
            r["created_at"] = _us(r.pop("registered_us"))
        return len(insert_members(conn, rows, ctx.now(), actor or SYSTEM))

    def after(self, ctx: Any, checked: Checked, summary: Summary) -> None:
        return None


@dataclass
class PurchasesLoader:
    """Creates unknown members (when the mapping asks), posts orders, then embedded returns."""

    card_ids: dict[str, int] = field(default_factory=dict)
    currency: str | None = None
    session: BulkSession = field(default_factory=BulkSession)

    def prepare(self, ctx: Any, conn: Connection, mapping: ColumnMap, config: dict[str, Any]) -> None:
        ensure_store(ctx, conn, config)

    def plan(self, checked: Checked, mapping: ColumnMap) -> list[Step]:
        steps = []
        if "new_members" in checked.extra:
            steps.append(Step("members", checked.extra["new_members"], counts_rows=False))
        steps.append(
            Step("purchases", checked.good, group_column="first_line", bulk_load=True, defers_indexes=True)
        )
        if "returns" in checked.extra:
            steps.append(Step("returns", checked.extra["returns"], lines_column="lines"))
        return steps

    def load(
        self, ctx: Any, conn: Connection | None, step: str, batch: pa.Table, run_id: int, actor: Any
    ) -> int:
        if step == "members":
            assert conn is not None
            rows = [
                {"card_no": r["card_no"], "member_code": r["member_code"], "phone": r["phone"]}
                for r in batch.to_pylist()
            ]
            new_ids = insert_members(conn, rows, ctx.now(), actor or SYSTEM)
            self.card_ids.update(new_ids)
            return len(new_ids)
        if step == "purchases":
            assert conn is not None
            posted = _post_purchases_in(conn, ctx, self._orders(conn, batch), self.session)
            return _audited(conn, ctx, actor, "purchase.import", run_id, batch.num_rows, posted)
        assert conn is not None
        return _audited(
            conn, ctx, actor, "return.import", run_id, batch.num_rows, _post_returns(ctx, conn, batch)
        )

    def _member_ids(self, conn: Connection, keys: list[str]) -> None:
        missing = [k for k in keys if k not in self.card_ids]
        for i in range(0, len(missing), 500):
            chunk = missing[i : i + 500]
            for card, mid in conn.execute(
                select(members.c.card_no, members.c.id).where(members.c.card_no.in_(chunk))
            ):
                self.card_ids[card] = int(mid)

    def _orders(self, conn: Connection, batch: pa.Table) -> OrderBatch:
        """The batch's lines as columnar orders (lines of one order are contiguous in the batch); an
        anonymous sale (no member key in the file) gets the member id `ANONYMOUS`."""
        n = batch.num_rows
        keys = _np(batch.column("first_line"))  # the file line an order starts on: one per order
        first = np.ones(n, dtype=bool)
        first[1:] = keys[1:] != keys[:-1]
        starts = np.nonzero(first)[0]
        offsets = np.append(starts, n).astype(np.int64)
        head = batch.take(pa.array(starts))
        member = head.column("member_id").combine_chunks()
        if member.null_count:
            cards = head.column("card_no").to_pylist()
            ids = member.to_pylist()
            need = sorted({c for c, m in zip(cards, ids, strict=True) if m is None and c is not None})
            self._member_ids(conn, need)
            member = pa.array(
                [
                    m if m is not None else self.card_ids.get(c) if c is not None else None
                    for c, m in zip(cards, ids, strict=True)
                ],
                pa.int64(),
            )
        if "anonymous" in head.column_names:
            member = pc.if_else(
                head.column("anonymous").combine_chunks(), pa.scalar(ANONYMOUS, pa.int64()), member
            )
        channel = head.column("channel").combine_chunks() if "channel" in head.column_names else None
        if channel is not None and not pc.any(pc.not_equal(channel, DEFAULT_CHANNEL)).as_py():
            channel = None  # every order a store sale: the column's default

        def col(name: str) -> pa.Array:
            return batch.column(name).combine_chunks()

        sku = col("sku")
        order_level = pc.is_null(sku)  # order-level file: one synthetic line carrying the whole amount
        amount = col("amount_minor")
        price = pc.if_else(order_level, amount, pc.coalesce(col("unit_price_minor"), amount))
        return OrderBatch(
            store_id=_np(head.column("store_id")),
            order_id=head.column("order_id").combine_chunks(),
            occurred_us=_np(head.column("occurred_us")),
            member_id=_np(member),
            offsets=offsets,
            sku=pc.if_else(order_level, pa.scalar("ORDER"), sku),
            category=pc.if_else(order_level, pa.scalar(None, pa.string()), col("category")),
            quantity=_np(pc.if_else(order_level, pa.scalar(1, pa.int64()), col("quantity"))),
            unit_price_minor=_np(price),
            discount_minor=_np(
                pc.if_else(order_level, pa.scalar(0, pa.int64()), pc.coalesce(col("discount_minor"), 0))
            ),
            currency=self.currency,
            channel=channel,
        )

    def after(self, ctx: Any, checked: Checked, summary: Summary) -> None:
        return None


@dataclass
class ReturnsLoader:
    def prepare(self, ctx: Any, conn: Connection, mapping: ColumnMap, config: dict[str, Any]) -> None:
        return None

    def plan(self, checked: Checked, mapping: ColumnMap) -> list[Step]:
        # Bulk load: a batch writes only ids it read (orders, lots, accounts) or created (returns, transfers).
        return [Step("returns", checked.good, bulk_load=True)]

    def load(
        self, ctx: Any, conn: Connection | None, step: str, batch: pa.Table, run_id: int, actor: Any
    ) -> int:
        assert conn is not None
        return _audited(
            conn, ctx, actor, "return.import", run_id, batch.num_rows, _post_returns(ctx, conn, batch)
        )

    def after(self, ctx: Any, checked: Checked, summary: Summary) -> None:
        return None


def _audited(
    conn: Connection, ctx: Any, actor: Any, action: str, run_id: int, rows: int, created: int
) -> int:
    """Audit a batch of an import as one row (its counts) in the batch's transaction, not one per line:
    the run itself (`import_runs`) says which file and rows; return `created`. A batch that posted
    nothing new (a re-run's) wrote nothing to audit."""
    if created:
        after = {"rows": rows, "created": created}
        audit.record(conn, actor or SYSTEM, action, "import_run", run_id, None, after, at=ctx.now())
    return created


def grant_opening_balance(
    conn: Connection,
    ctx: Any,
    *,
    member_id: int,
    points: int,
    earned_at: datetime,
    expires_at: datetime | None,
    source_key: str,
    run_id: int | None,
    stores_cache: dict[int, Any] | None = None,
) -> bool:
    """Credit an opening balance as one lot that keeps its original earn date and expiry.

    `points.adjust` dates a lot today and expires it by the programme's rule; a migrated balance must
    keep the old system's dates, or members would lose (or keep) points on the wrong day. The ledger
    write is the core's `post_transfer` (liability -> member, postings summing to zero) and the lot
    pays existing debt first (`credit_lot`), as every credit does. Returns False when already granted.
    """
    if conn.execute(
        select(imported_balances.c.member_id).where(
            imported_balances.c.member_id == member_id, imported_balances.c.source_key == source_key
        )
    ).first():
        return False
    acc = lock_member_account(conn, member_id)
    reg_store = conn.execute(
        select(members.c.registration_store_id).where(members.c.id == member_id)
    ).scalar()
    store_id = reg_store or conn.execute(select(stores.c.id).order_by(stores.c.id).limit(1)).scalar_one()
    cache = stores_cache if stores_cache is not None else {}
    if int(store_id) not in cache:
        cache[int(store_id)] = store_info(conn, int(store_id))
    store = cache[int(store_id)]
    now = ctx.now()
    tid = post_transfer(
        conn,
        kind="adjust",
        debit_account_id=store.liability_account_id,
        credit_account_id=acc.id,
        amount=points,
        at=now,
        rule="import:opening_balance",
        member_id=member_id,
        reason=f"opening balance earned {earned_at.date().isoformat()}",
        operator="import",
    )
    credit_lot(
        conn,
        acc,
        merchant_id=store.merchant_id,
        transfer_id=tid,
        points=points,
        available_at=earned_at,
        expires_at=expires_at or earned_at + timedelta(days=store.programme.expiry_days),
        at=now,
    )
    conn.execute(
        insert(imported_balances).values(
            member_id=member_id, source_key=source_key, run_id=run_id, points=points, created_at=now
        )
    )
    return True


@dataclass
class BalancesLoader:
    def prepare(self, ctx: Any, conn: Connection, mapping: ColumnMap, config: dict[str, Any]) -> None:
        return None

    def plan(self, checked: Checked, mapping: ColumnMap) -> list[Step]:
        return [Step("balances", checked.good)]

    def load(
        self, ctx: Any, conn: Connection | None, step: str, batch: pa.Table, run_id: int, actor: Any
    ) -> int:
        assert conn is not None
        created = 0
        stores_cache: dict[int, Any] = {}
        for r in batch.to_pylist():
            earned = _us(r["earned_us"])
            assert earned is not None
            created += grant_opening_balance(
                conn,
                ctx,
                member_id=r["member_id"],
                points=r["points"],
                earned_at=earned,
                expires_at=_us(r["expires_us"]),
                source_key=r["source_key"],
                run_id=run_id,
                stores_cache=stores_cache,
            )
        if created and actor is not None:
            audit.record(conn, actor, "points.import_opening", "import_run", run_id, None, {"lots": created})
        return created

    def after(self, ctx: Any, checked: Checked, summary: Summary) -> None:
        return None


def ensure_store(ctx: Any, conn: Connection, config: dict[str, Any]) -> None:
    """Create the store a mapping file describes (`store: {code, name, city, timezone}`) if missing."""
    spec = config.get("store")
    if not isinstance(spec, dict) or not spec.get("code"):
        return
    if conn.execute(select(stores.c.id).where(stores.c.code == spec["code"])).first():
        return
    from loyalty.db.core_tables import merchants

    merchant_id = conn.execute(select(merchants.c.id).order_by(merchants.c.id).limit(1)).scalar()
    if merchant_id is None:
        raise ValueError("no programme yet: run `loyalty programme init` first")
    conn.execute(
        insert(stores).values(
            merchant_id=merchant_id,
            code=spec["code"],
            name=spec.get("name", spec["code"]),
            city=spec.get("city"),
            timezone=spec.get("timezone", ctx.settings.timezone),
            created_at=ctx.now(),
        )
    )


def for_kind(kind: Kind) -> Loader:
    """The loader for one kind of file."""
    loaders: dict[Kind, type[Loader]] = {
        Kind.members: MembersLoader,
        Kind.purchases: PurchasesLoader,
        Kind.returns: ReturnsLoader,
        Kind.balances: BalancesLoader,
    }
    return loaders[kind]()


def _post_returns(ctx: Any, conn: Connection, batch: pa.Table) -> int:
    """Post each checked return through the core's routine, all in the batch's transaction.

    The batch and its checkpoint commit together (as for purchases); a re-run finds the returns of
    committed batches already posted (replays, not counted).
    """
    from loyalty.services import purchases as core_purchases

    cache = core_purchases._Cache(conn, ctx)
    created = 0
    for r in batch.to_pylist():
        result = core_purchases.post_return_in(
            conn,
            ctx,
            cache,
            ReturnIn(
                store_id=r["store_id"],
                return_id=r["return_id"],
                order_id=r["original_order_id"],
                occurred_at=_us(r["occurred_us"]),
                refund_minor=r["refund_minor"],
            ),
        )
        created += 0 if result.replayed else 1
    return created


__all__ = ["for_kind", "grant_opening_balance", "insert_members", "load_reference"]
