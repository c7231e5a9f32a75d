"""The project skeleton: settings, migrations on both backends, the CLI entry point."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect
from typer.testing import CliRunner

from loyalty.cli import app
from loyalty.config import Settings


def test_settings_defaults_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOYALTY_CURRENCY", "USD")
    settings = Settings()
    assert settings.currency == "USD"
    assert settings.timezone == "Asia/Shanghai"


def test_unknown_timezone_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOYALTY_TIMEZONE", "Mars/Olympus")
    with pytest.raises(Exception, match="Mars/Olympus"):
        Settings()


def test_migrations_apply(engine: Engine) -> None:
    assert "alembic_version" in inspect(engine).get_table_names()


def test_cli_db_upgrade(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from loyalty.config import get_settings

    monkeypatch.setenv("LOYALTY_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["db", "upgrade"])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output


def test_the_command_starts_without_the_analytics_stack() -> None:
    """Every `loyalty` command imports the CLI; Ibis, pandas and SciPy load only for analytics."""
    import subprocess
    import sys

    probe = (
        "import sys, loyalty.cli; print(sorted(m for m in ('ibis', 'pandas', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_files_started_first_exist() -> None:
    """`tests/conftest.py` starts the longest files first; a renamed one would silently fall back."""
    from pathlib import Path

    from tests.conftest import LONGEST_FIRST

    root = Path(__file__).resolve().parents[1]
    assert all((root / path).is_file() for path in LONGEST_FIRST)
