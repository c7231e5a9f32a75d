"""Imports into a real database (SQLite and PostgreSQL): totals, idempotent re-runs, rejects."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import text

from loyalty.bootstrap import Context
from loyalty.imports.loaders import insert_members
from loyalty.imports.runner import ImportOptions, import_file
from loyalty.services import members, points
from loyalty.services.schemas import MemberIn


def _import_chain(ctx: Context, files, tmp_path: Path) -> dict[str, object]:  # type: ignore[no-untyped-def]
    out = {}
    for kind in ("members", "purchases", "returns", "balances"):
        summary = import_file(
            ctx, kind, getattr(files, kind), ImportOptions(reject_path=tmp_path / f"{kind}.rej.csv")
        )
        out[kind] = summary
    return out


def test_chain_imports_with_live_rules_and_rerun_adds_nothing(
    ctx: Context, small_chain_dir, tmp_path: Path, totals_of
) -> None:  # type: ignore[no-untyped-def]
    totals = totals_of
    files, _stores = small_chain_dir
    first = _import_chain(ctx, files, tmp_path)
    for kind, summary in first.items():
        assert summary.rejected == 0, (kind, summary.reasons)
        assert summary.read == summary.imported + summary.duplicates
    after_first = totals(ctx)
    assert after_first["members"] == 120
    assert after_first["purchases"] > 100
    assert after_first["points_earned"] > 0
    assert after_first["returns"] == first["returns"].imported
    # same ledger invariants as the live path
    report = points.verify_ledger(ctx)
    assert report.get("ok", True), report

    second = _import_chain(ctx, files, tmp_path)
    for summary in second.values():
        assert summary.imported == 0
        assert summary.duplicates == summary.read
    assert totals(ctx) == after_first
    with ctx.engine.connect() as conn:
        runs = conn.execute(
            text("SELECT count(*), sum(rows_imported) FROM import_runs WHERE status = 'done'")
        ).one()
    assert runs[0] == 8


def test_bad_rows_are_rejected_and_good_rows_still_load(ctx: Context, tmp_path: Path) -> None:
    members = tmp_path / "m.csv"
    members.write_text(
        "会员卡号,手机号,姓名\n8800000000000018,13800138000,张三\n8800000000000026,12345,李四\n",
        encoding="utf-8",
    )
    s = import_file(ctx, "members", members, ImportOptions())
    assert (s.read, s.imported, s.rejected) == (2, 1, 1)
    assert s.reasons == {"bad_phone": 1}
    rejects = Path(s.reject_file or "").read_text(encoding="utf-8-sig").splitlines()
    assert rejects[0].startswith("line,reason,detail")
    assert rejects[1].startswith("3,bad_phone,")


def test_an_imported_member_is_stored_exactly_as_a_registered_one(ctx: Context) -> None:
    """The bulk writer bypasses SQLAlchemy's column types, so it must store what they would."""
    with ctx.engine.connect() as conn:
        store = int(conn.execute(text("SELECT min(id) FROM stores")).scalar_one())
    live = members.register_member(
        ctx,
        MemberIn(
            phone="+8613800138400",
            name="Li",
            email="li@example.com",
            birthday=date(1990, 2, 28),
            gender="female",
            registration_store_id=store,
            tags=["imported"],
            marketing_consent=True,
        ),
    )
    with ctx.engine.begin() as conn:
        ((_, imported),) = insert_members(
            conn,
            [
                {
                    "phone": "+8613800138401",
                    "name": "Li",
                    "email": "li@example.com",
                    "birthday": date(1990, 2, 28),
                    "gender": "female",
                    "store_id": store,
                    "consent": True,
                    "created_at": ctx.now(),
                }
            ],
            ctx.now(),
            None,
        ).items()
    same = (
        "name, email, birthday, gender, registration_store_id, tags, marketing_consent, status, tier_id, "
        "created_at, updated_at, merged_into_id, tier_locked_until, tier_grace_until"
    )
    with ctx.engine.connect() as conn:

        def raw(sql: str, mid: int) -> list[object]:
            # Raw driver values (text() applies no column types): the stored form itself.
            return list(conn.execute(text(sql), {"m": mid}).one())

        for sql in (
            f"SELECT {same} FROM members WHERE id = :m",
            "SELECT kind, balance, debt, created_at FROM accounts WHERE member_id = :m",
            "SELECT from_tier_id, to_tier_id, reason, at FROM tier_history WHERE member_id = :m",
        ):
            assert raw(sql, imported) == raw(sql, live.id), sql
