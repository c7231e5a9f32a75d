"""`loyalty --help` starts in a fraction of a second: the command tree imports only Typer and stdlib.

Typer builds the whole tree (every sub-app) before it can print any help, so one heavy import at the
top of any `loyalty.cli` module is paid by every command, `--help` included. These tests import the CLI
in a fresh interpreter, as the `loyalty` script does, and list the heavy libraries it pulled in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Libraries that only some commands need, each costing tens to hundreds of milliseconds to import.
HEAVY = (
    "sqlalchemy",
    "alembic",
    "pyarrow",
    "pandas",
    "ibis",
    "numpy",
    "duckdb",
    "fastapi",
    "starlette",
    "uvicorn",
    "scipy",
    "matplotlib",
    "openpyxl",
    "psycopg",
    "phonenumbers",
    "jinja2",
    "redis",
)

PROBE = """
import json, sys
{setup}
heavy = {heavy!r}
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & set(heavy))))
"""


def _heavy_after(setup: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "LOYALTY_LOCALE"}  # as a user runs it
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(setup=setup, heavy=HEAVY)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return list(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_importing_the_cli_pulls_in_no_heavy_library() -> None:
    assert _heavy_after("import loyalty.cli") == []


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["analytics"],
        ["db"],
        ["demo"],
        ["import"],
        ["export"],
        ["members"],
        ["points"],
        ["jobs"],
        ["ledger"],
        ["staff"],
        ["apikeys"],
        ["serve"],
    ],
    ids=lambda argv: " ".join(argv) or "root",
)
def test_help_pulls_in_no_heavy_library(argv: list[str]) -> None:
    """`loyalty [GROUP] --help` as the console script runs it (Typer exits after printing)."""
    setup = (
        "import loyalty.cli\n"
        f"sys.argv = ['loyalty', *{argv!r}, '--help']\n"
        "try:\n"
        "    loyalty.cli.main()\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
    )
    assert _heavy_after(setup) == []
