"""The `loyalty` command speaks LOYALTY_LOCALE: its messages, the errors it prints and its help.

Machine-readable parts stay as they are in every language: JSON results, error codes, exit statuses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from loyalty.cli import app
from loyalty.cli._help import help_texts, localized_command
from loyalty.config import get_settings
from loyalty.db.engine import make_engine
from loyalty.db.migrate import upgrade
from loyalty.i18n.catalogs import po_files, read_catalog


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated SQLite database the commands use (LOYALTY_DATABASE_URL)."""
    url = f"sqlite:///{tmp_path / 'loyalty.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    monkeypatch.setenv("LOYALTY_DATABASE_URL", url)
    get_settings.cache_clear()
    return url


def _cli(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_domain_errors_are_printed_in_the_configured_language(
    database: str, locale: Callable[[str], None]
) -> None:
    code, out, err = _cli("points", "balance", "424242")
    assert (code, out) == (1, "")
    english = json.loads(err)
    assert english["message"] == "member 424242 does not exist"

    locale("zh-CN")
    code, out, err = _cli("points", "balance", "424242")
    assert (code, out) == (1, "")
    chinese = json.loads(err)
    assert chinese["code"] == english["code"] == "MEMBER_NOT_FOUND"
    assert chinese["message"] == "会员 424242 不存在"
    assert chinese["details"] == english["details"] == {"member_id": 424242}


def test_field_errors_are_translated_and_templates_stay_out(
    database: str, locale: Callable[[str], None]
) -> None:
    locale("zh-CN")
    code, _, err = _cli("members", "register", "12345", "张三")
    assert code == 1
    shown = json.loads(err)
    assert shown["code"] == "PHONE_INVALID"
    assert shown["details"]["errors"] == [{"field": "phone", "message": "'12345' 不是有效的手机号"}]


def test_human_lines_follow_the_locale(
    database: str, locale: Callable[[str], None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = _cli("import", "members", "nope.csv")
    assert code == 2
    assert err.split() == ["cannot", "import", "nope.csv:", "nope.csv", "does", "not", "exist"]

    locale("zh-CN")
    code, _, err = _cli("import", "members", "nope.csv")
    assert code == 2
    assert err.split() == ["无法导入", "nope.csv：", "nope.csv", "不存在"]
    code, _, err = _cli(
        "staff", "create", "li", "--role", "cashier", "--password-stdin", stdin="long-enough-1\n"
    )
    assert code == 2
    assert err.strip() == "错误：角色 'cashier' 只能为指定门店工作；请至少指定一个门店"


def test_every_help_text_has_a_chinese_translation() -> None:
    """Commands' docstrings and options' `help=` are looked up as written: each needs its Chinese."""
    catalog = read_catalog(next(p for p in po_files() if p.stem == "cli" and p.parent.parent.name == "zh_CN"))
    missing = sorted(
        {
            text
            for text in help_texts(typer.main.get_command(app))
            if (entry := catalog.get(text)) is None or not entry.string or entry.fuzzy
        }
    )
    assert not missing, missing


def test_help_tree_is_translated_only_when_not_english() -> None:
    chinese = {cmd.name: cmd.help for cmd in localized_command(app, "zh-CN").commands.values()}
    english = {cmd.name: cmd.help for cmd in localized_command(app, "en").commands.values()}
    assert chinese["members"] == "会员。"
    assert english["members"] == "Members."


@pytest.mark.parametrize(("language", "expected"), [("zh-CN", "积分账本。"), ("en", "Points ledger.")])
def test_the_loyalty_script_shows_help_in_the_locale(language: str, expected: str) -> None:
    env = {**os.environ, "LOYALTY_LOCALE": language, "COLUMNS": "120"}
    proc = subprocess.run(
        [sys.executable, "-m", "loyalty.cli", "points", "--help"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert expected in proc.stdout


def test_loyalty_toml_sets_the_locale_without_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI reads the locale cheaply (no settings import): environment first, then loyalty.toml."""
    from loyalty.i18n import configured_locale

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOYALTY_LOCALE")
    assert configured_locale() == "zh-CN"  # the product's default
    (tmp_path / "loyalty.toml").write_text('locale = "en-GB"\n', encoding="utf-8")
    assert configured_locale() == "en"
    monkeypatch.setenv("LOYALTY_LOCALE", "zh")
    assert configured_locale() == "zh-CN"
