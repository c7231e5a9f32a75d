"""What one import run carries from batch to batch while nobody else writes.

On SQLite, `PRAGMA data_version` on the same connection changes exactly when another connection has
committed; while it stays put, the members' rows this run read or wrote are still what the database
holds, so the next batch needs no read for them. The session also keeps, per member, an upper bound
of the qualifying spend any window of the run can see (database spend since `floor` plus everything
this run posted): a member whose bound plus the batch's spend stays below the next tier's threshold
cannot be upgraded by the batch, so only the others need their window spend read. For those, the
orders the session posted itself are kept in memory (member, time, total: 24 bytes an order), so the
database is only read for what it held before the session began (purchases up to id `before`), and
a long import does not read back its own rows. Any doubt (another writer, another connection,
PostgreSQL, a window reaching before `floor`) drops what is known and reads from the database again.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection

from loyalty.db.rows import fetch, is_postgres
from loyalty.db.stored_time import bound_instant
from loyalty.services.posting.member_state import MemberState

IntArray = npt.NDArray[np.int64]
SpendEvents = tuple[IntArray, IntArray, IntArray]  # (member id, epoch microseconds, net spend)


class BulkSession:
    """What a run of batches knows about the database between batches (see the module docstring)."""

    def __init__(self) -> None:
        self.key: tuple[int, int, int] | None = None
        self.members: dict[int, MemberState] = {}
        self.upper: dict[int, int] | None = None
        self.floor = 0
        self.last_purchase_id = 0
        self.before = 0
        self._posted: list[SpendEvents] = []

    def validate(self, conn: Connection) -> None:
        """Keep what is known only if nobody wrote since the run's last batch, which committed."""
        if is_postgres(conn):
            self.reset()
            return
        dbapi = conn.connection.dbapi_connection
        version = int(fetch(conn, "PRAGMA data_version")[0][0])
        # A return posted on this very connection between batches (data_version only sees other
        # connections) would make the remembered spend stale: the newest return is part of the key.
        returned = int(fetch(conn, "SELECT coalesce(max(id), 0) FROM returns")[0][0])
        key = (id(dbapi), version, returned)
        # ... and the previous batch of this run must have committed (not rolled back).
        top = int(fetch(conn, "SELECT coalesce(max(id), 0) FROM purchases")[0][0])
        if key != self.key or top != self.last_purchase_id:
            self.reset()
            self.key = key
            self.before = top

    def reset(self) -> None:
        self.key = None
        self.members = {}
        self.upper = None
        self._posted = []

    def record(self, member_ids: IntArray, occurred_us: IntArray, totals: IntArray) -> None:
        """Orders the session just posted (their net spend is their total: nothing refunded yet)."""
        self._posted.append((member_ids.copy(), occurred_us.copy(), totals.copy()))

    def posted_spend(self, member_ids: IntArray, lo: int, hi: int) -> SpendEvents:
        """Orders of `member_ids` (sorted) the session posted with lo < time <= hi, as spend events."""
        if len(self._posted) > 1:
            members, times, totals = zip(*self._posted, strict=True)
            self._posted = [(np.concatenate(members), np.concatenate(times), np.concatenate(totals))]
        if not self._posted:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        member, time, total = self._posted[0]
        keep = (time > lo) & (time <= hi)
        keep[keep] = np.isin(member[keep], member_ids)
        return member[keep], time[keep], total[keep]

    def bounds(self, conn: Connection, floor: int) -> dict[int, int] | None:
        """Spend upper bounds per member valid for windows starting at or after `floor`."""
        if self.key is None:
            return None
        if self.upper is None or floor < self.floor:
            rows = fetch(
                conn,
                "SELECT member_id, sum(total_minor - refunded_minor) FROM purchases "
                "WHERE occurred_at > ? AND member_id IS NOT NULL GROUP BY member_id",
                (bound_instant(floor, False),),
            )
            self.upper = {int(m): int(v) for m, v in rows}
            self.floor = floor
        return self.upper
