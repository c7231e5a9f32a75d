"""The administration commands the console's admin pages share their services with: `loyalty stores
update` and `rename-merchant`, `loyalty staff update` and `reset-password`, `loyalty programme set`,
`tier-add` and `tier-set`. Each change is audited (as the system), and a bad value names its option
and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import Result

from loyalty.bootstrap import Context
from loyalty.services import auth, merchants, programme_settings, tiers
from tests.test_cli_database import invoke


@pytest.fixture
def chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A database with the demo programme and one store, NJ01."""
    for args in (["db", "upgrade"], ["programme", "init"], ["stores", "add", "NJ01", "南京新街口店"]):
        assert invoke(monkeypatch, tmp_path, args).exit_code == 0
    return tmp_path


def run(monkeypatch: pytest.MonkeyPatch, cwd: Path, *args: str, stdin: str = "") -> Result:
    return invoke(monkeypatch, cwd, list(args), stdin=stdin)


def ctx_of(cwd: Path) -> Context:
    return Context.from_url(f"sqlite:///{cwd / 'var' / 'loyalty.db'}")


def actions(ctx: Context) -> list[tuple[str, str]]:
    with ctx.engine.connect() as conn:
        rows = conn.execute(text("SELECT action, actor_kind FROM audit_log ORDER BY id")).all()
    return [(r.action, r.actor_kind) for r in rows]


def flat(result: Result) -> str:
    return " ".join(result.output.replace("│", " ").split())


def test_stores_update_and_rename_merchant(chain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    moved = run(monkeypatch, chain, "stores", "update", "NJ01", "--code", "NJ02", "--timezone", "Asia/Urumqi")
    assert moved.exit_code == 0, moved.output
    assert moved.stdout.strip() == "store 1: NJ02 南京新街口店 (-, Asia/Urumqi)"
    bad = run(monkeypatch, chain, "stores", "update", "NJ02", "--timezone", "Mars/Olympus")
    assert bad.exit_code == 2
    assert "Invalid value for '--timezone'" in flat(bad)
    missing = run(monkeypatch, chain, "stores", "update", "XX99", "--name", "x")
    assert missing.exit_code == 1
    assert missing.stderr.strip() == "no store XX99"
    renamed = run(monkeypatch, chain, "stores", "rename-merchant", "DEFAULT", "悦享咖啡")
    assert renamed.exit_code == 0, renamed.output
    ctx = ctx_of(chain)
    try:
        store = merchants.get_store(ctx, 1)
        assert (store.code, store.timezone) == ("NJ02", "Asia/Urumqi")
        assert merchants.list_merchants(ctx)[0].name == "悦享咖啡"
        assert actions(ctx)[-2:] == [("store.update", "system"), ("merchant.update", "system")]
    finally:
        ctx.engine.dispose()


def test_staff_update_and_reset_password(chain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    created = run(
        monkeypatch, chain, "staff", "create", "li", "--role", "cashier", "--store", "1", "--password-stdin",
        stdin="first-passw0rd\n",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    promoted = run(monkeypatch, chain, "staff", "update", "li", "--role", "analyst", "--disable")
    assert promoted.exit_code == 0, promoted.output
    assert promoted.stdout.split("\t")[2:] == ["analyst", "all", "disabled\n"]
    bad = run(monkeypatch, chain, "staff", "update", "li", "--role", "store_manager")  # no store
    assert bad.exit_code == 2
    assert "give at least one store" in bad.stderr
    reset = run(monkeypatch, chain, "staff", "reset-password", "li")
    assert reset.exit_code == 0, reset.output
    generated = reset.stdout.strip().splitlines()[-1]
    assert len(generated) >= 16
    ctx = ctx_of(chain)
    try:
        run(monkeypatch, chain, "staff", "update", "li", "--enable")
        user = auth.authenticate_staff(ctx, "li", generated)
        assert user is not None
        assert (user.role, user.store_ids) == ("analyst", [])
        assert auth.authenticate_staff(ctx, "li", "first-passw0rd") is None
        assert ("staff.password_reset", "system") in actions(ctx)
    finally:
        ctx.engine.dispose()


def test_programme_set_and_the_tier_commands(chain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = run(
        monkeypatch, chain, "programme", "set", "--redeem-cap-pct", "30", "--exclude-category", "tobacco",
        "--downgrade-policy", "window",
    )  # fmt: skip
    assert rules.exit_code == 0, rules.output
    assert "redeem_cap_pct: 30" in rules.stdout
    bad = run(monkeypatch, chain, "programme", "set", "--redeem-cap-pct", "101")
    assert bad.exit_code == 2
    assert "Invalid value for '--redeem-cap-pct'" in flat(bad)
    added = run(monkeypatch, chain, "programme", "tier-add", "白金", "--spend", "5000", "--multiplier", "180")
    assert added.exit_code == 0, added.output
    assert "白金 (platinum): qualifying spend CN¥5,000.00, points ×1.80" in added.stdout
    out_of_order = run(monkeypatch, chain, "programme", "tier-set", "silver", "--spend", "4000")
    assert out_of_order.exit_code == 2
    assert "Invalid value for '--spend'" in flat(out_of_order)
    changed = run(
        monkeypatch, chain, "programme", "tier-set", "gold", "--multiplier", "160", "--name", "金卡会员"
    )
    assert changed.exit_code == 0, changed.output
    ctx = ctx_of(chain)
    try:
        settings = programme_settings.programme_settings(ctx)
        assert (settings.redeem_cap_pct, settings.excluded_categories) == (30, ["tobacco"])
        assert [(t.code, t.rank) for t in tiers.list_tiers(ctx)] == [
            ("normal", 0),
            ("silver", 1),
            ("gold", 2),
            ("platinum", 3),
            ("diamond", 4),
        ]
        gold = next(t for t in tiers.list_tiers(ctx) if t.code == "gold")
        assert (gold.name, gold.multiplier_pct) == ("金卡会员", 160)
        assert [a for a, _kind in actions(ctx)][-3:] == ["programme.update", "tier.create", "tier.update"]
    finally:
        ctx.engine.dispose()
