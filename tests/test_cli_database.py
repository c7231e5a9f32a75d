"""Every command on a missing, empty, outdated or newer database: one line, exit 1, nothing created.

A newcomer used to run `loyalty staff create admin` after `make demo`, which had built var/demo.db while
the command opened var/loyalty.db: it created an empty file there and died with a long traceback. Now the
demo and every command share one default database, and each command checks it before touching it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import text
from typer.testing import CliRunner, Result

from loyalty.cli import app
from loyalty.config import get_settings
from loyalty.db import schema_version
from loyalty.db.engine import make_engine
from loyalty.db.migrate import upgrade
from tests.conftest import create_pg_database, drop_pg_database

ROOT = Path(__file__).resolve().parents[1]
MISSING = "no database at var/loyalty.db: run `loyalty db upgrade` (or `make demo`)"
# The two commands that create a database; every other one must find it in place.
CREATORS = {("db", "upgrade"), ("demo",)}


def invoke(
    monkeypatch: pytest.MonkeyPatch, cwd: Path, args: list[str], url: str | None = None, stdin: str = ""
) -> Result:
    """Run `loyalty ARGS` in-process in `cwd`, on `url` or (None) the default database."""
    monkeypatch.chdir(cwd)
    if url is None:
        monkeypatch.delenv("LOYALTY_DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("LOYALTY_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, args, input=stdin)
    finally:
        get_settings.cache_clear()


def _dummy(param: Any) -> str:
    """A value of the parameter's type (Typer keeps the annotation on its own parameter classes)."""
    descriptor = getattr(param, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", str)
    if annotation is int:
        return "1"
    if annotation is float:
        return "1.0"
    if annotation is Path:
        return "input.csv"
    if annotation is datetime:
        return "2026-01-01T00:00:00+08:00"
    return "x"


def leaf_commands() -> list[tuple[list[str], list[str]]]:
    """(command path, arguments that satisfy its required parameters) for every `loyalty` command."""
    found: list[tuple[list[str], list[str]]] = []

    def walk(command: Any, path: list[str]) -> None:
        if hasattr(command, "list_commands"):  # a group (Typer's own Click classes, hence duck typing)
            ctx = command.context_class(command)
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), [*path, name])
            if not command.invoke_without_command:
                return
        args: list[str] = []
        for param in command.params:
            if param.required and param.param_type_name == "argument":
                args.append(_dummy(param))
            elif param.required and param.param_type_name == "option":
                args += [param.opts[0], _dummy(param)]
        found.append((path, args))

    walk(typer.main.get_command(app), [])
    assert len(found) > 20, found  # the walk reached the commands, not just the root
    return found


@pytest.mark.parametrize(
    ("path", "args"),
    [pytest.param(p, a, id=" ".join(p)) for p, a in leaf_commands() if tuple(p) not in CREATORS],
)
@pytest.mark.timeout(120)  # a command that got past a missing database could serve forever
def test_no_command_creates_a_database_or_dies_with_a_traceback(
    path: list[str], args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every command: a missing database is reported (or never reached), never created."""
    result = invoke(monkeypatch, tmp_path, [*path, *args])
    assert not (tmp_path / "var").exists(), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if MISSING in result.stderr:
        assert result.exit_code == 1
        assert result.stderr.strip() == MISSING


DATABASE_COMMANDS = [
    ["points", "balance", "1"],
    ["members", "show", "1"],
    ["members", "register", "13800138000", "张三"],
    ["jobs", "run"],
    ["ledger", "verify"],
    ["staff", "create", "admin", "--role", "admin"],
    ["staff", "list"],
    ["apikeys", "create", "--store", "1"],
    ["import", "members", "examples/members.csv"],
    ["export", "members", "members.xlsx"],
    ["analytics", "refresh"],
    ["analytics", "report", "-o", "report.html"],
    ["programme", "init"],
    ["programme", "show"],
    ["stores", "add", "NJ01", "南京新街口店"],
    ["stores", "list"],
    ["serve"],
]


@pytest.mark.parametrize("args", [pytest.param(a, id=" ".join(a)) for a in DATABASE_COMMANDS])
def test_a_missing_database_is_one_line_and_exit_1(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = invoke(monkeypatch, tmp_path, args)
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == MISSING
    assert not (tmp_path / "var").exists()


def test_the_newcomers_first_commands_as_a_process(tmp_path: Path) -> None:
    """The report of issue #21, as typed: no traceback, no empty var/loyalty.db left behind."""
    env = {k: v for k, v in os.environ.items() if k != "LOYALTY_DATABASE_URL"}
    for args in (["staff", "create", "admin", "--role", "admin"], ["apikeys", "create", "--store", "1"]):
        proc = subprocess.run(
            [sys.executable, "-m", "loyalty.cli", *args],
            cwd=tmp_path,
            env=env,
            input="",
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.strip() == MISSING
        assert "Traceback" not in proc.stdout + proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_empty_file_is_not_a_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "loyalty.db").touch()
    result = invoke(monkeypatch, tmp_path, ["ledger", "verify"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "the database at var/loyalty.db has no tables yet: run `loyalty db upgrade`"
    )


def test_an_outdated_database_names_the_missing_migrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    upgrade(engine, "core_0001")
    engine.dispose()
    result = invoke(monkeypatch, tmp_path, ["points", "balance", "1"], url=url)
    assert result.exit_code == 1
    message = result.stderr.strip()
    assert message.startswith(f"the database at {tmp_path / 'old.db'} lacks migrations ")
    assert message.endswith(": run `loyalty db upgrade`")
    for head in schema_version.script_heads():
        assert head in message

    assert invoke(monkeypatch, tmp_path, ["db", "upgrade"], url=url).exit_code == 0
    after = invoke(monkeypatch, tmp_path, ["ledger", "verify"], url=url)
    assert after.exit_code == 0, after.output


def test_a_database_from_a_newer_loyalty_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('core_9999')"))
    engine.dispose()
    result = invoke(monkeypatch, tmp_path, ["jobs", "run"], url=url)
    assert result.exit_code == 1
    assert "has migrations this loyalty does not know (core_9999)" in result.stderr


def test_the_heads_read_from_the_files_are_alembics() -> None:
    from alembic.script import ScriptDirectory

    from loyalty.db.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config())
    assert schema_version.script_heads() == frozenset(script.get_heads())
    assert schema_version.script_revisions() == frozenset(r.revision for r in script.walk_revisions())


def test_a_migrated_database_is_current(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert schema_version.schema_state(engine).status == "current"
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgresql_unreachable_or_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = create_pg_database()
    try:
        empty = invoke(monkeypatch, tmp_path, ["ledger", "verify"], url=url)
        assert empty.exit_code == 1
        assert "has no tables yet: run `loyalty db upgrade`" in empty.stderr
        assert url.rsplit("/", 1)[1] in empty.stderr
    finally:
        drop_pg_database(url)
    gone = invoke(monkeypatch, tmp_path, ["ledger", "verify"], url=url)
    assert gone.exit_code == 1
    assert gone.stderr.startswith("cannot open the database at ")
    assert len(gone.stderr.strip().splitlines()) == 1


def test_db_upgrade_creates_the_default_database_and_says_what_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = invoke(monkeypatch, tmp_path, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "var" / "loyalty.db").exists()
    assert "database at var/loyalty.db is up to date" in result.stdout
    assert "loyalty programme init" in result.stdout
    assert "loyalty stores add" in result.stdout
    assert invoke(monkeypatch, tmp_path, ["programme", "init"]).exit_code == 0
    again = invoke(monkeypatch, tmp_path, ["db", "upgrade"])
    assert "loyalty programme init" not in again.stdout
    assert "loyalty serve" in again.stdout


def test_staff_password_from_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOYALTY_STAFF_PASSWORD", raising=False)
    assert invoke(monkeypatch, tmp_path, ["db", "upgrade"]).exit_code == 0
    args = ["staff", "create", "admin", "--role", "admin", "--password-stdin"]
    empty = invoke(monkeypatch, tmp_path, args, stdin="")
    assert empty.exit_code == 2
    assert "no password on standard input" in empty.output
    created = invoke(monkeypatch, tmp_path, args, stdin="s3cret-enough-password\n")
    assert created.exit_code == 0, created.output
    from loyalty.bootstrap import Context
    from loyalty.services import auth

    ctx = Context.from_url(f"sqlite:///{tmp_path / 'var' / 'loyalty.db'}")
    assert auth.authenticate_staff(ctx, "admin", "s3cret-enough-password") is not None


def test_make_demo_builds_into_the_default_database() -> None:
    """`make demo` leaves LOYALTY_DATABASE_URL alone unless DEMO_DB names a file."""
    plain = subprocess.run(["make", "-n", "demo"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "LOYALTY_DATABASE_URL" not in plain.stdout
    other = subprocess.run(
        ["make", "-n", "demo", "DEMO_DB=var/other.db"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "LOYALTY_DATABASE_URL=sqlite:///var/other.db" in other.stdout


def test_the_demo_says_which_database_and_how_to_use_another(tmp_path: Path) -> None:
    from loyalty.demo.chain import database_lines

    assert database_lines("sqlite:///var/loyalty.db") == ["database:  var/loyalty.db"]
    other = database_lines(f"sqlite:///{tmp_path / 'demo.db'}")
    assert other[0] == f"database:  {tmp_path / 'demo.db'}"
    assert other[2] == f"  export LOYALTY_DATABASE_URL=sqlite:///{tmp_path / 'demo.db'}"
    relative = database_lines("sqlite:///var/demo.db")
    assert relative[2] == f"  export LOYALTY_DATABASE_URL=sqlite:///{Path('var/demo.db').resolve()}"
