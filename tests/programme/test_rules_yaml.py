"""A programme's earning rules as YAML, on both backends: exported and imported back unchanged,
every bad field named (`rules[i].field`) with nothing written, never backdated, rules left out of a
file kept unless retiring them is asked for, presets and the marketer's guide's example valid."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from loyalty.bootstrap import Context
from loyalty.db.programme_tables import earning_rules
from loyalty.domain.errors import InvalidInput
from loyalty.services import seed
from loyalty.services.earning_rules import book, presets, yaml_io
from tests.core.conftest import clock, ctx

__all__ = ["clock", "ctx"]

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "marketer-guide.md"

#: every kind and condition, so that a round trip proves each survives export and import
PROGRAMME: list[dict[str, Any]] = [
    {"code": "no-gift-cards", "name": "礼品卡不积分", "kind": "exclude",
     "when": {"categories": ["gift_card"]}},
    {"code": "coffee-morning", "name": "早餐咖啡", "kind": "bonus_per_unit", "points_per_unit": 2,
     "priority": 10, "stop": True,
     "when": {"categories": ["咖啡"], "hours": "22:30-02:00", "channels": ["store", "mini_program"]}},
    {"code": "member-day", "name": "会员日", "kind": "multiplier", "multiplier_pct": 200, "priority": 20,
     "when": {"member_day": {"days_of_month": [8, "last"], "weekdays": ["sat"],
                             "nth_weekdays": [{"weekday": "fri", "n": "last"}, {"weekday": "mon", "n": 2}]}}},
    {"code": "birthday-week", "name": "生日周", "kind": "fixed_bonus", "points": 300,
     "when": {"birthday": "week", "min_spend": "20.50"},
     "limits": {"per_member": {"points": 300, "per": "year"}}},
    {"code": "gold-shop", "name": "金卡门店", "kind": "multiplier", "multiplier_pct": 150,
     "when": {"tiers": ["gold", "diamond"], "stores": ["S001"], "skus": ["A-1", "B-2"]},
     "limits": {"budget": {"points": 9000, "per": "week", "per_store": True}}},
    {"code": "third-each-month", "name": "每月第三单", "kind": "fixed_bonus", "points": 33,
     "when": {"purchase_number": {"every": 3, "per": "month"}}},
    {"code": "four-weeks-running", "name": "连续四周到店", "kind": "fixed_bonus", "points": 200,
     "when": {"visit_streak": {"periods": 4, "per": "week"}}},
    {"code": "welcome", "name": "注册礼", "kind": "event_bonus", "on": "registration", "points": 100},
]  # fmt: skip


@pytest.fixture
def programme(ctx: Context) -> seed.ProgrammeIds:
    return seed.ensure_programme(ctx)


def _rows(ctx: Context) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(earning_rules)).scalar_one())


def _fields(exc: pytest.ExceptionInfo[InvalidInput]) -> list[str]:
    return [e["field"] for e in (exc.value.details or {})["errors"]]


def test_export_then_import_changes_nothing_and_a_fresh_import_restores_every_rule(
    ctx: Context, programme: seed.ProgrammeIds
) -> None:
    yaml_io.import_rules(ctx, {"rules": PROGRAMME})
    text = yaml_io.export_yaml(ctx)
    document = yaml.safe_load(text)
    assert (document["programme"], document["currency"]) == ("default", "CNY")
    assert document["exported_at"] == ctx.now().isoformat()
    # the export is every rule as defined, each kind and condition included
    assert sorted(document["rules"], key=lambda r: r["code"]) == sorted(
        (book_spec.as_dict() for book_spec in (v.spec for v in book.list_rules(ctx))), key=lambda r: r["code"]
    )
    assert {r["code"] for r in document["rules"]} == {r["code"] for r in PROGRAMME}
    again = yaml_io.import_rules(ctx, text)
    assert {c.action for c in again.changes} == {"unchanged"}
    assert _rows(ctx) == len(PROGRAMME)  # nothing written
    # retired and imported back: each rule's next version is the very same definition
    for code in [r["code"] for r in PROGRAMME]:
        book.retire_rule(ctx, code)
    assert book.list_rules(ctx) == []
    restored = yaml_io.import_rules(ctx, text)
    assert {(c.action, c.version) for c in restored.changes} == {("new", 2)}
    assert yaml.safe_load(yaml_io.export_yaml(ctx))["rules"] == document["rules"]


BAD: list[tuple[str, Any, list[str]]] = [
    ("unknown store", [{"code": "a", "kind": "fixed_bonus", "points": 5, "when": {"stores": ["NOPE"]}}],
     ["rules[0].when.stores"]),
    ("unknown tier", [{"code": "a", "kind": "fixed_bonus", "points": 5},
                      {"code": "b", "kind": "multiplier", "multiplier_pct": 200,
                       "when": {"tiers": ["platinum"]}}],
     ["rules[1].when.tiers"]),
    ("unknown channel", [{"code": "a", "kind": "fixed_bonus", "points": 5, "when": {"channels": ["tmall"]}}],
     ["rules[0].when.channels"]),
    ("bad hours", [{"code": "a", "kind": "fixed_bonus", "points": 5, "when": {"hours": "25:00-26:00"}}],
     ["rules[0].when.hours"]),
    ("empty hours", [{"code": "a", "kind": "fixed_bonus", "points": 5, "when": {"hours": "10:00-10:00"}}],
     ["rules[0].when.hours"]),
    ("negative threshold", [{"code": "a", "kind": "fixed_bonus", "points": 5, "when": {"min_spend": "-5"}}],
     ["rules[0].when.min_spend"]),
    ("threshold with fen fractions", [{"code": "a", "kind": "fixed_bonus", "points": 5,
                                       "when": {"min_spend": "9.999"}}], ["rules[0].when.min_spend"]),
    ("absurd multiplier and a typo",
     [{"code": "a", "kind": "multiplier", "multiplier_pct": 5000, "whne": {}}],
     ["rules[0].whne", "rules[0].multiplier_pct"]),
    ("duplicate code", [{"code": "a", "kind": "fixed_bonus", "points": 5},
                        {"code": "a", "kind": "fixed_bonus", "points": 6}], ["rules[1].code"]),
    ("every bad rule named", [{"code": "A!", "kind": "fixed_bonus", "points": 5},
                              {"code": "ok", "kind": "fixed_bonus", "points": 5},
                              {"code": "b", "kind": "coupon"}], ["rules[0].code", "rules[2].kind"]),
    ("exclude without items", [{"code": "a", "kind": "exclude"}], ["rules[0].when"]),
    ("unknown header", {"programme": "default", "currencies": "CNY", "rules": []}, ["currencies"]),
    ("another currency", {"currency": "USD", "rules": [{"code": "a", "kind": "fixed_bonus", "points": 5}]},
     ["currency"]),
    ("rules not a list", {"rules": "member-day"}, ["rules"]),
]  # fmt: skip


def test_an_invalid_document_names_every_bad_field_and_writes_nothing(
    ctx: Context, programme: seed.ProgrammeIds
) -> None:
    yaml_io.import_rules(ctx, {"rules": PROGRAMME[:2]})
    before = _rows(ctx)
    for label, document, fields in BAD:
        with pytest.raises(InvalidInput) as refused:
            yaml_io.import_rules(ctx, document, retire_missing=True)
        assert refused.value.code == "RULE_INVALID", label
        assert sorted(_fields(refused)) == sorted(fields), label
        with pytest.raises(InvalidInput):  # a dry run refuses it alike
            yaml_io.import_rules(ctx, document, dry_run=True)
    assert _rows(ctx) == before
    assert {v.spec.code for v in book.list_rules(ctx)} == {"no-gift-cards", "coffee-morning"}


def test_text_that_is_not_yaml_is_named_with_its_line(ctx: Context, programme: seed.ProgrammeIds) -> None:
    with pytest.raises(InvalidInput) as refused:
        yaml_io.import_rules(ctx, "rules:\n  - code: a\n    kind: [unclosed\n")
    assert refused.value.code == "RULES_YAML_INVALID"
    assert _fields(refused) == ["yaml"]
    assert (refused.value.details or {})["line"] >= 3


def test_a_change_is_never_backdated_and_a_dry_run_writes_nothing(
    ctx: Context, programme: seed.ProgrammeIds
) -> None:
    document = {"rules": [{"code": "a", "kind": "fixed_bonus", "points": 5}]}
    for dry_run in (True, False):
        with pytest.raises(InvalidInput) as refused:
            yaml_io.import_rules(
                ctx, document, effective_from=ctx.now() - timedelta(minutes=1), dry_run=dry_run
            )
        assert refused.value.code == "RULE_BACKDATED"
        assert _fields(refused) == ["effective_from"]
    dry = yaml_io.import_rules(ctx, document, dry_run=True)
    assert [(c.code, c.action) for c in dry.changes] == [("a", "new")]
    assert _rows(ctx) == 0
    later = ctx.now() + timedelta(days=3)
    done = yaml_io.import_rules(ctx, document, effective_from=later)
    assert [(c.code, c.action, c.version) for c in done.changes] == [("a", "new", 1)]
    assert book.list_rules(ctx) == []  # scheduled, not yet in force
    assert [v.effective_from for v in book.list_rules(ctx, at=later)] == [later]


def test_rules_left_out_are_kept_unless_retiring_them_is_asked_for(
    ctx: Context, programme: seed.ProgrammeIds
) -> None:
    yaml_io.import_rules(ctx, {"rules": PROGRAMME[:3]})
    changed = dict(PROGRAMME[2], multiplier_pct=300)
    kept = yaml_io.import_rules(ctx, {"rules": [PROGRAMME[0], changed]})
    assert [(c.code, c.action) for c in kept.changes] == [
        ("no-gift-cards", "unchanged"),
        ("member-day", "changed"),
        ("coffee-morning", "kept"),
    ]
    assert {v.spec.code: v.version for v in book.list_rules(ctx)} == {
        "no-gift-cards": 1,
        "member-day": 2,
        "coffee-morning": 1,
    }
    retired = yaml_io.import_rules(ctx, {"rules": [PROGRAMME[0], changed]}, retire_missing=True)
    assert [(c.code, c.action) for c in retired.changes][-1] == ("coffee-morning", "retired")
    assert {v.spec.code for v in book.list_rules(ctx)} == {"no-gift-cards", "member-day"}
    # retiring goes with the definitions, all or nothing: a file with a bad rule retires nothing either
    with pytest.raises(InvalidInput):
        yaml_io.import_rules(ctx, {"rules": [dict(PROGRAMME[0], points=3)]}, retire_missing=True)
    assert {v.spec.code for v in book.list_rules(ctx)} == {"no-gift-cards", "member-day"}


def test_each_preset_is_a_valid_start(ctx: Context, programme: seed.ProgrammeIds) -> None:
    for p in presets.PRESETS:
        rules = presets.preset_rules(p.code, "zh-CN")
        assert yaml_io.validate(ctx, yaml.safe_load(yaml_io.dump_rules(rules))).specs
        assert all(re.search(r"[\u4e00-\u9fff]", r["name"]) for r in rules), p.code  # named in Chinese
    yaml_io.import_rules(ctx, {"rules": [r for p in presets.PRESETS for r in presets.preset_rules(p.code)]})
    assert len(book.list_rules(ctx)) == sum(len(p.rules) for p in presets.PRESETS)


def example_programme() -> str:
    """The YAML of the marketer's guide's example programme."""
    text = GUIDE.read_text(encoding="utf-8")
    found = re.search(r"<!-- example-programme -->\s*```yaml\n(.*?)```", text, re.S)
    assert found, "docs/marketer-guide.md lost its example programme"
    return found.group(1)


def test_the_marketers_guide_example_programme_is_valid(ctx: Context, programme: seed.ProgrammeIds) -> None:
    result = yaml_io.import_rules(ctx, example_programme())
    kinds = {v.spec.kind for v in book.list_rules(ctx)}
    assert kinds == {"exclude", "bonus_per_unit", "multiplier", "fixed_bonus", "event_bonus"}
    assert {c.action for c in result.changes} == {"new"}
    assert any(
        v.spec.when.member_day and v.spec.when.member_day.days_of_month == (8,) for v in book.list_rules(ctx)
    )
