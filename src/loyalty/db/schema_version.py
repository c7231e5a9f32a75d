"""Is a database ready for this code: missing, without tables, behind or ahead of its migrations?

Every command but `loyalty db upgrade` and `loyalty demo` asks this before it touches the database, so
that a command pointed at the wrong place says so in one line instead of failing on the first missing
table, and leaves no empty SQLite file behind.

The migration heads are read from the revision files with `ast`: Alembic takes longer to import than the
whole check, and every command pays for it. A test holds the two equal.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

VERSIONS_DIR = Path(__file__).resolve().parent.parent / "migrations" / "versions"
VERSION_TABLE = "alembic_version"

Status = Literal["current", "empty", "behind", "ahead"]


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands against this code's migrations."""

    status: Status
    missing: tuple[str, ...] = ()  # heads of this code the database has not reached
    unknown: tuple[str, ...] = ()  # revisions in the database that this code does not have


def sqlite_path(url: str) -> Path | None:
    """The file a SQLite URL names; None for other backends, in-memory and `file:` URI databases."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return Path(database)


def location(url: str) -> str:
    """How to name a database to a person: the SQLite file as configured, else the URL without password."""
    path = sqlite_path(url)
    return str(path) if path is not None else make_url(url).render_as_string(hide_password=True)


def is_missing(url: str) -> bool:
    """True when `url` names a SQLite file that does not exist (opening it would create an empty one)."""
    path = sqlite_path(url)
    return path is not None and not path.exists()


def _literal(node: ast.expr) -> object:
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def _revision_of(path: Path) -> tuple[str, tuple[str, ...]] | None:
    """(revision, down revisions) of one migration file, from its module-level assignments."""
    values: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = _literal(node.value)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            values[node.target.id] = _literal(node.value)
    revision = values.get("revision")
    if not isinstance(revision, str):
        return None
    down = values.get("down_revision")
    if isinstance(down, str):
        return revision, (down,)
    if isinstance(down, tuple | list):
        return revision, tuple(d for d in down if isinstance(d, str))
    return revision, ()


@cache
def script_heads() -> frozenset[str]:
    """The revisions no other revision builds on: what `loyalty db upgrade` brings a database to."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted(VERSIONS_DIR.glob("*.py")):
        found = _revision_of(path)
        if found is not None:
            revisions.add(found[0])
            parents.update(found[1])
    return frozenset(revisions - parents)


@cache
def script_revisions() -> frozenset[str]:
    """Every revision this code has."""
    return frozenset(
        found[0] for path in VERSIONS_DIR.glob("*.py") if (found := _revision_of(path)) is not None
    )


def applied_revisions(engine: Engine) -> frozenset[str] | None:
    """The revisions recorded in the database; None when it has no version table (never migrated)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
        return frozenset(str(v) for v in rows)


def schema_state(engine: Engine) -> SchemaState:
    """Compare the database's recorded revisions with this code's heads (connects once)."""
    applied = applied_revisions(engine)
    if not applied:
        return SchemaState("empty", missing=tuple(sorted(script_heads())))
    unknown = applied - script_revisions()
    if unknown:
        return SchemaState("ahead", unknown=tuple(sorted(unknown)))
    heads = script_heads()
    if applied != heads:
        return SchemaState("behind", missing=tuple(sorted(heads - applied)))
    return SchemaState("current")


__all__ = [
    "SchemaState",
    "applied_revisions",
    "is_missing",
    "location",
    "schema_state",
    "script_heads",
    "sqlite_path",
]
