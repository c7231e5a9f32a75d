"""The chain of tests/targets/conftest.py served by the app, for the API's and the console's tests:
its clock stands at "now" (2026-03-16 04:00 UTC) and stays there (or runs on from the real time), staff
of every role can call it (a store manager and a cashier of store C, SH2), and March's targets are the
ones worked out by hand in tests/targets/test_progress.py (set here through the service, or left for
the test to set).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from loyalty.api.app import create_app
from loyalty.api.security import issue_access_token
from loyalty.bootstrap import Context, FrozenClock
from loyalty.config import Settings
from loyalty.db.engine import make_engine
from loyalty.db.migrate import upgrade
from loyalty.services import auth, targets
from tests.api.api_world import PASSWORD
from tests.conftest import create_pg_database, drop_pg_database
from tests.targets.conftest import ADMIN, NOW, Chain, build

#: username → (role, stores by letter)
STAFF = {
    "admin1": ("admin", ""),
    "analyst1": ("analyst", ""),
    "marketer1": ("marketer", ""),
    "auditor1": ("auditor", ""),
    "manager_c": ("store_manager", "c"),
    "cashier_c": ("cashier", "c"),
}
#: March's targets (test_progress.py): sales in fen, new members
SALES = {"a": 300_000, "b": 150_000, "c": 120_000, "d": 40_000}
JOINED = {"a": 2, "b": 1, "c": 0, "d": 0}


@dataclass
class Served:
    chain: Chain
    app: Any
    client: TestClient
    url: str
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def ctx(self) -> Context:
        return self.chain.ctx

    def store(self, letter: str) -> int:
        return int(getattr(self.chain, letter))

    def as_(self, who: str, **extra: str) -> dict[str, str]:
        return {**self.headers[who], **extra}

    def plan_march(self) -> None:
        """March's targets as tests/targets/test_progress.py has them, typed by hand."""
        by_id = {self.store(k): v for k, v in SALES.items()}
        targets.edit_targets(self.ctx, "2026-03", "sales", by_id, ADMIN)
        joined = {self.store(k): v for k, v in JOINED.items()}
        targets.edit_targets(self.ctx, "2026-03", "new_members", joined, ADMIN)


def _real_time() -> datetime:
    return datetime.now(UTC)


@contextmanager
def served(backend: str, directory: Path, *, live: bool = False) -> Iterator[Served]:
    """The chain built on `backend` (sqlite or postgresql), with its staff and the app; `live`: the
    clock runs on from the real time once the chain is built (March 2026 is then over), as the
    console's cookies are signed and checked against the real time."""
    if backend == "sqlite":
        url, drop = f"sqlite:///{directory / 'targets.db'}", None
    else:
        url = drop = create_pg_database()
    engine = make_engine(url)
    try:
        upgrade(engine)
        clock = FrozenClock(NOW)
        ctx = Context(engine=engine, settings=Settings(timezone="Asia/Shanghai"), clock=clock)
        chain = build(ctx, clock)
        if live:
            ctx.clock = _real_time
        app = create_app(ctx, rate_limits={"login": (1000, 60.0), "lookup": (1000, 60.0)})
        client = TestClient(app, raise_server_exceptions=False)
        s = Served(chain, app, client, url)
        for username, (role, letters) in STAFF.items():
            stores = [s.store(x) for x in letters]
            user = auth.create_staff(ctx, username=username, password=PASSWORD, role=role, store_ids=stores)
            token, _ = issue_access_token(
                ctx.settings.secret_key,
                user_id=user.id,
                username=username,
                role=role,
                store_ids=stores,
                now=ctx.now(),
            )
            s.headers[username] = {"Authorization": f"Bearer {token}"}
        try:
            yield s
        finally:
            client.close()
    finally:
        engine.dispose()
        if drop is not None:
            drop_pg_database(drop)
