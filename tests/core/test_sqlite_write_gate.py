"""SQLite writers queue on the engine's gate (threads) and its lock file (processes), losing nothing."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from loyalty.db.engine import make_engine

_WRITER = """
import sys
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from loyalty.db.engine import make_engine
engine = make_engine(sys.argv[1])
for i in range(int(sys.argv[2])):
    with engine.begin() as conn:
        n = conn.execute(text("select n from counter")).scalar_one()
        conn.execute(text("update counter set n = :n"), {"n": n + 1})
"""


def _counter(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("create table counter (n integer not null)"))
        conn.execute(text("insert into counter values (0)"))
    engine.dispose()


def _value(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        value = int(conn.execute(text("select n from counter")).scalar_one())
    engine.dispose()
    return value


def test_threads_serialise_read_modify_write(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gate.db'}"
    _counter(url)
    engine = make_engine(url)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(40):
                with engine.begin() as conn:
                    n = conn.execute(text("select n from counter")).scalar_one()
                    conn.execute(text("update counter set n = :n"), {"n": n + 1})
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    assert not errors
    assert _value(url) == 8 * 40


def test_processes_serialise_through_the_lock_file(tmp_path: Path) -> None:
    db = tmp_path / "gate.db"
    url = f"sqlite:///{db}"
    _counter(url)
    started = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, url, "150"]) for _ in range(3)]
    assert [p.wait(120) for p in procs] == [0, 0, 0]
    assert _value(url) == 3 * 150  # every increment kept: no lost update, no "database is locked"
    assert Path(str(db.resolve()) + ".writer-lock").exists()
    assert time.monotonic() - started < 60


def test_a_failed_transaction_releases_the_gate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gate.db'}"
    _counter(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("update counter set n = 5"))
            raise RuntimeError("cashier cancelled")
    except RuntimeError:
        pass
    done = threading.Event()

    def other() -> None:
        with engine.begin() as conn:
            conn.execute(text("update counter set n = n + 1"))
        done.set()

    t = threading.Thread(target=other)
    t.start()
    assert done.wait(5), "the rolled-back transaction kept the write gate"
    t.join()
    engine.dispose()
    assert _value(url) == 1


def test_bulk_load_settings_end_with_the_connection_checkout(tmp_path: Path) -> None:
    """A bulk load skips foreign-key look-ups and keeps its temporary files on disk; the next user of
    that pooled connection gets the defaults back."""
    url = f"sqlite:///{tmp_path / 'bulk.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("create table parent (id integer primary key)"))
        conn.execute(text("create table child (parent_id integer not null references parent(id))"))
    with engine.begin() as conn:  # temporary files in memory (2), savepoints' journals included
        assert conn.execute(text("pragma temp_store")).scalar_one() == 2
    with engine.execution_options(sqlite_bulk_load=True).begin() as conn:
        assert conn.execute(text("pragma foreign_keys")).scalar_one() == 0
        assert conn.execute(text("pragma temp_store")).scalar_one() == 1  # a bulk load's sorts: files
    with engine.begin() as conn:
        assert conn.execute(text("pragma foreign_keys")).scalar_one() == 1
        assert conn.execute(text("pragma cache_size")).scalar_one() == -2000
        assert conn.execute(text("pragma temp_store")).scalar_one() == 2
    with engine.execution_options(sqlite_temp_files=True).begin() as conn:  # an index build's sorts
        assert conn.execute(text("pragma temp_store")).scalar_one() == 1
        assert conn.execute(text("pragma foreign_keys")).scalar_one() == 1
    with engine.begin() as conn:
        assert conn.execute(text("pragma temp_store")).scalar_one() == 2
    with pytest.raises(IntegrityError, match="FOREIGN KEY"), engine.begin() as conn:
        conn.execute(text("insert into child values (42)"))  # the foreign key is enforced again
    engine.dispose()


def test_checkpoints_run_in_the_background_not_inside_commits(tmp_path: Path) -> None:
    """Commits only count rows; past the threshold a background thread copies the WAL back."""
    from loyalty.db.engine import BACKSTOP_AUTOCHECKPOINT_PAGES, CHECKPOINT_AFTER_CHANGES

    url = f"sqlite:///{tmp_path / 'wal.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("create table t (id integer primary key, v text)"))
        # SQLite's own checkpoint inside COMMIT is only a backstop now
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == BACKSTOP_AUTOCHECKPOINT_PAGES
    raw = engine.raw_connection()
    checkpointer = raw.dbapi_connection.checkpointer
    raw.close()
    assert checkpointer.runs == 0
    rows = [{"v": "x" * 200} for _ in range(CHECKPOINT_AFTER_CHANGES // 4 + 1)]
    for _ in range(4):
        with engine.begin() as conn:
            conn.execute(text("insert into t (v) values (:v)"), rows)
    deadline = time.monotonic() + 10
    while checkpointer.runs == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert checkpointer.runs >= 1
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from t")).scalar_one() == 4 * len(rows)
    engine.dispose()
