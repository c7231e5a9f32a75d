"""The reads of a set-based posting of a few POS sales, sent before they are needed (PostgreSQL).

Inside a pipeline they travel with whatever the caller sends next, and the posting waits for their
answers once instead of three times: posting a batch is then a round trip for the reads and one for
the writes with the commit (`set_based_batches`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection

from loyalty.bootstrap import Context
from loyalty.db.rows import next_id_lists, next_ids_for, send_next_ids
from loyalty.domain.earning import US_PER_DAY
from loyalty.domain.errors import NotFound
from loyalty.services.catalogue import catalogue_of
from loyalty.services.posting.import_session import BulkSession, SpendEvents
from loyalty.services.posting.member_state import MemberState, send_member_reads
from loyalty.services.posting.order_batch import OrderBatch
from loyalty.services.posting.window_spend import send_held_spend

IntArray = npt.NDArray[np.int64]

#: orders up to which PostgreSQL writes a batch in one statement rather than COPY: the API's batches
FEW_ORDERS = 256


@dataclass(frozen=True)
class ReadAhead:
    """What posting `batch` set-based reads from PostgreSQL, sent before it is needed."""

    batch: OrderBatch
    members: Callable[[], dict[int, MemberState]]  # locked, in account id order
    spend: Callable[[], SpendEvents]  # of every member of the batch
    ids: Callable[[], dict[str, IntArray]]  # as if every order earned (unused ones are skipped)


def new_ids(conn: Connection, ahead: ReadAhead | None, wanted: dict[str, int]) -> dict[str, IntArray]:
    """The ids of a posting's new rows: those sent ahead, or as many as `wanted` (per table), now."""
    return ahead.ids() if ahead is not None else next_ids_for(conn, wanted)


def new_id_lists(conn: Connection, ahead: ReadAhead | None, wanted: dict[str, int]) -> dict[str, list[int]]:
    """`new_ids` as lists, `wanted`'s number of each (a few orders' rows)."""
    if ahead is not None:
        sent = ahead.ids()
        return {table: sent[table][:count].tolist() for table, count in wanted.items()}
    return next_id_lists(conn, wanted)


def read_ahead(conn: Connection, ctx: Context, batch: OrderBatch) -> ReadAhead | None:
    """Send the reads of a set-based posting of `batch` (a few orders, on PostgreSQL: the caller,
    `pos_batch.read_ahead`, asks nothing of SQLite) without waiting; `set_based.post_set_based(…,
    ahead=…)` reads their answers. None where there is nothing to gain (a big batch) or the batch is
    not postable set-based."""
    if not 0 < len(batch) <= FEW_ORDERS:
        return None
    catalogue = catalogue_of(ctx)
    try:
        windows = [
            catalogue.store(conn, store_id).programme.tier_window_days * US_PER_DAY
            for store_id in set(batch.store_id.tolist())
        ]
    except NotFound:
        return None
    members = batch.members()
    times = batch.occurred_us
    n = len(batch)
    return ReadAhead(
        batch,
        send_member_reads(conn, members),
        send_held_spend(
            conn, members, int(times.min()), int(times.max()), min(windows), max(windows), BulkSession()
        ),
        send_next_ids(conn, {"purchases": n, "transfers": n, "postings": 2 * n, "point_lots": n}),
    )
