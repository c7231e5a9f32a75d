"""kill -9 in the middle of an import, run it again: exactly the totals of an uninterrupted import."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from loyalty.bootstrap import Context
from loyalty.db import deferred_indexes
from loyalty.db.migrate import upgrade
from loyalty.demo.generator import ChainSpec, generate, write_files
from loyalty.imports.runner import ImportOptions, import_file
from loyalty.services.seed import ensure_programme


def _cli(db_url: str, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LOYALTY_DATABASE_URL": db_url}
    return subprocess.Popen(
        [sys.executable, "-m", "loyalty.cli", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _batches(ctx: Context) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM import_batches")).scalar_one())


@pytest.fixture(scope="module")
def year_chain(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A year of history (~1,000 orders): long enough to be killed reliably in the middle."""
    data = generate(ChainSpec(members=150, months=12, seed=9, end=date(2026, 10, 1)))
    return write_files(data, tmp_path_factory.mktemp("year")), data.stores.to_pylist()


@pytest.mark.parametrize("defer", [False, True], ids=["indexes-kept", "indexes-deferred"])
def test_sigkill_mid_import_then_rerun_gives_identical_totals(  # type: ignore[no-untyped-def]
    ctx: Context, year_chain, tmp_path: Path, totals_of, defer: bool
) -> None:
    files, stores = year_chain
    import_file(ctx, "members", files.members, ImportOptions())
    db_url = ctx.engine.url.render_as_string(hide_password=False)

    defer_flag = "--defer-indexes" if defer else "--keep-indexes"
    proc = _cli(
        db_url, "import", "purchases", str(files.purchases), "--batch-size", "1", "--no-progress", defer_flag
    )
    deadline = time.monotonic() + 60
    while _batches(ctx) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "import finished before it could be killed; make the file bigger"
    proc.send_signal(signal.SIGKILL)
    proc.communicate()  # reap it and close its pipes
    killed_at = _batches(ctx)
    with ctx.engine.connect() as conn:
        status = conn.execute(text("SELECT status FROM import_runs WHERE kind = 'purchases'")).scalar_one()
        partial = int(conn.execute(text("SELECT count(*) FROM purchases")).scalar_one())
    assert status == "running"
    assert partial > 0
    with ctx.engine.connect() as conn:  # a killed deferring run leaves its indexes out (SQLite only)
        assert bool(deferred_indexes.missing(conn)) == (defer and ctx.engine.dialect.name == "sqlite")

    rerun = _cli(db_url, "import", "purchases", str(files.purchases), "--batch-size", "15", "--json")
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err.decode()
    with ctx.engine.connect() as conn:
        runs = conn.execute(
            text("SELECT status, batches_done FROM import_runs WHERE kind = 'purchases'")
        ).all()
    assert [r.status for r in runs] == ["done"]  # the same run was resumed, not a second one started
    assert runs[0].batches_done > killed_at
    assert b'"resumed": true' in out
    with ctx.engine.connect() as conn:
        assert deferred_indexes.missing(conn) == []  # the re-run built them

    # Reference: the same files imported without interruption into a fresh database.
    ref = Context.from_url(f"sqlite:///{tmp_path / 'reference.db'}")
    ref.clock = ctx.clock
    upgrade(ref.engine)
    ensure_programme(ref)
    from loyalty.demo.chain import ensure_stores

    ensure_stores(ref, stores)
    import_file(ref, "members", files.members, ImportOptions())
    import_file(ref, "purchases", files.purchases, ImportOptions())
    expected = totals_of(ref)
    got = totals_of(ctx)
    assert got == expected
    ref.engine.dispose()
