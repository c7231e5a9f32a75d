"""Foreign keys that PostgreSQL checks once per statement instead of once per written row.

PostgreSQL checks a foreign key with a trigger per written row: a prepared look-up that locks the
referenced row (`SELECT 1 FROM tiers WHERE id = $1 FOR KEY SHARE`). That costs a few microseconds a
row, which is nothing for a sale and most of a bulk job: when a tier evaluation moves 933,000 of a
million members, the member's new tier and the history row's member, old and new tier took 7.4 s of
its 12.7–13.5 s.

A sale with a programme of rules writes about twenty earning entries (`purchase_line_rules`, one per
line and rule that gave it points), each naming its purchase and its rule: checked per row, every
entry locked both, and every concurrent sale the same rule rows (ADR 0007).

For the keys listed in `STATEMENT_KEYS` the same rule holds, enforced in two halves:

* **Writing side.** An AFTER INSERT and an AFTER UPDATE statement trigger read the statement's new
  rows (a transition table) and look for a row whose reference is missing: each distinct key looked
  up in the referenced table's primary key for a statement of up to `PROBED_ROWS` rows (a POS
  batch's), one anti-join per key for a larger one (a bulk job's). A missing one fails the statement
  with SQLSTATE 23503 (`foreign_key_violation`), the constraint's name and PostgreSQL's own wording,
  so callers see an `IntegrityError` as before.
* **Referenced side.** An AFTER DELETE OR UPDATE OF <key> row trigger on the referenced table
  refuses to remove a row that is still referenced. Before it looks, it takes a SHARE lock on the
  referencing table: it waits for every transaction writing that table to finish and sees their
  rows, and no writer starts until it ends. The built-in check gets the same guarantee by locking
  each referenced row from the writing side, which is exactly the per-row cost saved here; the
  removal side pays instead, and the product never deletes a member or a tier. TRUNCATE, which
  fires no row trigger, is refused while the referencing table has rows.

Under READ COMMITTED (every writer here) each statement of the check sees what committed before it,
so a removal that committed while a writer waited for its lock is seen. A REPEATABLE READ or
SERIALIZABLE writer's snapshot may be older, so there the check also locks the referenced rows
(FOR KEY SHARE, as the built-in check does) and a removal committed after its snapshot fails it.

The functions run as their owner (SECURITY DEFINER, with the search path of the migration that
created them), as the built-in checks do, so a role needs no rights on `tiers` to write a member.
SQLite keeps its own per-row foreign keys: they cost little there (the same evaluation takes about
5 s). The table definitions keep their `ForeignKey` for SQLite and as documentation; the drift test
(`tests/test_migration_drift.py`) knows that on PostgreSQL these are triggers.
"""

# ruff: noqa: S608  (the DDL is built from the table and column names below, never from input)
from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import Any

from sqlalchemy import inspect


@dataclass(frozen=True)
class StatementKey:
    """One single-column foreign key, named as the table definitions' naming convention names it."""

    table: str
    column: str
    ref_table: str
    ref_column: str = "id"

    @property
    def name(self) -> str:
        return f"fk_{self.table}_{self.column}_{self.ref_table}"


STATEMENT_KEYS: tuple[StatementKey, ...] = (
    StatementKey("members", "tier_id", "tiers"),
    StatementKey("tier_history", "member_id", "members"),
    StatementKey("tier_history", "from_tier_id", "tiers"),
    StatementKey("tier_history", "to_tier_id", "tiers"),
    StatementKey("purchase_line_rules", "purchase_id", "purchases"),
    StatementKey("purchase_line_rules", "rule_id", "earning_rules"),
)

#: constraint names that PostgreSQL enforces through the triggers below rather than natively
STATEMENT_KEY_NAMES: frozenset[str] = frozenset(k.name for k in STATEMENT_KEYS)

_FUNCTION_OPTIONS = "LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT"


def _check_function(table: str) -> str:
    return f"{table}_keys_exist"


def _guard_function(key_table: str, ref_table: str) -> str:
    return f"{key_table}_keeps_{ref_table}"


#: a statement writing at most this many rows looks each distinct key up in the referenced table's
#: index; a larger one (a bulk job's) finds the missing ones in one anti-join
PROBED_ROWS = 1000


def _writer_check(key: StatementKey) -> str:
    col, ref, ref_col = key.column, key.ref_table, key.ref_column
    # A few rows (a POS batch's): an index look-up per distinct key, as a subquery the planner cannot
    # turn into a join. As a join it may hash the whole referenced table instead, and does where its
    # statistics lag behind its growth (a new chain's first days, after an import): every sale's
    # entries then paid a scan of every purchase. It is planned without scans: a session keeps the
    # plan, and one made while the referenced table fit a page (a scan, then) would scan it grown to
    # millions of rows. A bulk statement's anti-join is planned as the planner sees fit.
    probed = (
        f"SELECT d.k::text INTO missing FROM (SELECT DISTINCT n.{col} AS k FROM new_rows n "
        f"WHERE n.{col} IS NOT NULL) d "
        f"WHERE (SELECT true FROM {ref} r WHERE r.{ref_col} = d.k) IS NULL LIMIT 1;"
    )
    joined = (
        f"SELECT n.{col}::text INTO missing FROM new_rows n WHERE n.{col} IS NOT NULL "
        f"AND NOT EXISTS (SELECT 1 FROM {ref} r WHERE r.{ref_col} = n.{col}) LIMIT 1;"
    )
    lock = f"PERFORM 1 FROM {ref} r WHERE r.{ref_col} IN (SELECT n.{col} FROM new_rows n) FOR KEY SHARE OF r;"
    message = f'insert or update on table "{key.table}" violates foreign key constraint "{key.name}"'
    detail = f"'Key ({col})=(' || missing || ') is not present in table \"{ref}\".'"
    return f"""
  IF NOT read_committed THEN
    {lock}
  END IF;
  IF written <= {PROBED_ROWS} THEN
    PERFORM set_config('enable_seqscan', 'off', true);
    {probed}
    PERFORM set_config('enable_seqscan', scans, true);
  ELSE
    {joined}
  END IF;
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION '{message}' USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{key.name}',
      TABLE = '{key.table}', COLUMN = '{col}', DETAIL = {detail};
  END IF;"""


def _writer_function(table: str, keys: list[StatementKey]) -> str:
    checks = "".join(_writer_check(k) for k in keys)
    name = _check_function(table)
    return f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger {_FUNCTION_OPTIONS} AS $fn$
DECLARE
  missing text;
  written bigint;  -- the statement's rows, counted up to one more than PROBED_ROWS
  scans text := current_setting('enable_seqscan');
  read_committed boolean := current_setting('transaction_isolation') = 'read committed';
BEGIN
  SELECT count(*) INTO written FROM (SELECT FROM new_rows LIMIT {PROBED_ROWS + 1}) AS counted;{checks}
  RETURN NULL;
END $fn$"""


def writer_functions_sql(keys: tuple[StatementKey, ...] = STATEMENT_KEYS) -> list[str]:
    """The writing side's check functions of `keys`, created or replaced in place (their triggers
    call them by name)."""
    return [
        _writer_function(table, list(grouped))
        for table, grouped in groupby(sorted(keys, key=lambda k: k.table), key=lambda k: k.table)
    ]


def _removal_message(ref_table: str, name: str, table: str) -> str:
    return (
        f'update or delete on table "{ref_table}" violates foreign key constraint "{name}" on table "{table}"'
    )


def _guard(table: str, ref_table: str, keys: list[StatementKey]) -> str:
    ref_column = keys[0].ref_column
    detail = f"'Key ({ref_column})=(' || OLD.{ref_column} || ') is still referenced from table \"{table}\".'"
    checks = "".join(
        f"""
  IF EXISTS (SELECT 1 FROM {table} c WHERE c.{k.column} = OLD.{ref_column}) THEN
    RAISE EXCEPTION '{_removal_message(ref_table, k.name, table)}'
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{k.name}', TABLE = '{table}',
      DETAIL = {detail};
  END IF;"""
        for k in keys
    )
    name = _guard_function(table, ref_table)
    return f"""CREATE FUNCTION {name}() RETURNS trigger {_FUNCTION_OPTIONS} AS $fn$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.{ref_column} IS NOT DISTINCT FROM OLD.{ref_column} THEN
    RETURN NULL;
  END IF;
  -- Waits for every transaction writing {table}, whose rows the look-ups below must see.
  LOCK TABLE {table} IN SHARE MODE;{checks}
  RETURN NULL;
END $fn$"""


def _truncate_guard(table: str, ref_table: str) -> str:
    name = f"{_guard_function(table, ref_table)}_whole"
    return f"""CREATE FUNCTION {name}() RETURNS trigger {_FUNCTION_OPTIONS} AS $fn$
BEGIN
  IF EXISTS (SELECT 1 FROM {table}) THEN
    RAISE EXCEPTION 'cannot truncate table "{ref_table}": table "{table}" refers to it'
      USING ERRCODE = 'foreign_key_violation', TABLE = '{table}';
  END IF;
  RETURN NULL;
END $fn$"""


def install_sql(keys: tuple[StatementKey, ...] = STATEMENT_KEYS) -> list[str]:
    """PostgreSQL DDL that enforces `keys` per statement; their native constraints must be dropped."""
    ddl: list[str] = []
    for table, grouped in groupby(sorted(keys, key=lambda k: k.table), key=lambda k: k.table):
        table_keys = list(grouped)
        ddl.append(_writer_function(table, table_keys))
        for event in ("INSERT", "UPDATE"):
            ddl.append(
                f"CREATE TRIGGER {table}_keys_on_{event.lower()} AFTER {event} ON {table} "
                f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "
                f"{_check_function(table)}()"
            )
        by_ref = sorted(table_keys, key=lambda k: k.ref_table)
        for ref_table, ref_grouped in groupby(by_ref, key=lambda k: k.ref_table):
            ref_keys = list(ref_grouped)
            ddl.append(_guard(table, ref_table, ref_keys))
            ddl.append(
                f"CREATE TRIGGER {_guard_function(table, ref_table)} AFTER DELETE OR UPDATE OF "
                f"{ref_keys[0].ref_column} ON {ref_table} FOR EACH ROW EXECUTE FUNCTION "
                f"{_guard_function(table, ref_table)}()"
            )
            # TRUNCATE fires no row triggers; a native key refuses it, and so does this.
            ddl.append(_truncate_guard(table, ref_table))
            ddl.append(
                f"CREATE TRIGGER {_guard_function(table, ref_table)}_whole BEFORE TRUNCATE ON {ref_table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {_guard_function(table, ref_table)}_whole()"
            )
    return ddl


def uninstall_sql(keys: tuple[StatementKey, ...] = STATEMENT_KEYS) -> list[str]:
    """The DDL that removes what `install_sql(keys)` created (the native constraints are not restored)."""
    ddl: list[str] = []
    for table in sorted({k.table for k in keys}):
        for event in ("insert", "update"):
            ddl.append(f"DROP TRIGGER IF EXISTS {table}_keys_on_{event} ON {table}")
        ddl.append(f"DROP FUNCTION IF EXISTS {_check_function(table)}()")
    for table, ref_table in sorted({(k.table, k.ref_table) for k in keys}):
        guard = _guard_function(table, ref_table)
        for name in (guard, f"{guard}_whole"):
            ddl.append(f"DROP TRIGGER IF EXISTS {name} ON {ref_table}")
            ddl.append(f"DROP FUNCTION IF EXISTS {name}()")
    return ddl


def move_to_statements(op: Any, keys: tuple[StatementKey, ...]) -> None:
    """A migration's upgrade (`op`: Alembic's operations proxy): on PostgreSQL, drop `keys`' native
    constraints and install their statement triggers (nothing on SQLite, which keeps its native keys)."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    native: dict[str, set[str]] = {}
    for key in keys:
        if key.table not in native:
            native[key.table] = {str(fk["name"]) for fk in inspect(bind).get_foreign_keys(key.table)}
        if key.name in native[key.table]:
            op.drop_constraint(key.name, key.table, type_="foreignkey")
    for ddl in install_sql(keys):
        op.execute(ddl)


def move_back(op: Any, keys: tuple[StatementKey, ...]) -> None:
    """A migration's downgrade: `move_to_statements` undone, the native constraints restored."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for ddl in uninstall_sql(keys):
        op.execute(ddl)
    for key in keys:
        op.create_foreign_key(key.name, key.table, key.ref_table, [key.column], [key.ref_column])
