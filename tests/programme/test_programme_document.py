"""A whole programme (earning rules and offers) as one YAML document, on both backends: exported and
imported back unchanged, every bad field named (`offers[i].field`) with nothing written, all or
nothing in one transaction, an offer changed in place only while unused, a second import writing
nothing, a dry run saying each rule's and offer's fate; each offer preset defines an offer that a
checkout quote applies; a rules-only document still imports."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from loyalty.bootstrap import Context
from loyalty.db.core_tables import audit_log
from loyalty.db.offer_tables import offers
from loyalty.db.programme_tables import earning_rules
from loyalty.domain.errors import InvalidInput
from loyalty.services import members, merchants, seed
from loyalty.services import programme_document as document
from loyalty.services.earning_rules import yaml_io
from loyalty.services.earning_rules.quote import QuoteIn, quote
from loyalty.services.offers import coupons, manage, presets
from loyalty.services.schemas import MemberIn, PurchaseLineIn
from tests.core.conftest import clock, ctx

__all__ = ["clock", "ctx"]

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "marketer-guide.md"

RULES: list[dict[str, Any]] = [
    {"code": "member-day", "name": "会员日", "kind": "multiplier", "multiplier_pct": 200,
     "when": {"member_day": {"days_of_month": [8]}}},
]  # fmt: skip
OFFERS: list[dict[str, Any]] = [
    {"code": "coupon-20", "name": "满100减20券", "kind": "amount_off", "amount": "20.00",
     "when": {"min_spend": "100.00"}, "limits": {"per_member": 1, "validity_days": 30, "budget": "5000.00"}},
    {"code": "spring-ladder", "name": "满减", "kind": "ladder", "automatic": True,
     "steps": [{"over": "100.00", "off": "20.00"}, {"over": "300.00", "off": "80.00"}]},
    {"code": "gold-95", "name": "金卡95折", "kind": "percent_off", "percent": 5, "automatic": True,
     "group": "tier", "when": {"tiers": ["gold"], "stores": ["S001"]}},
    {"code": "mug-gift", "name": "满200送杯", "kind": "gift", "automatic": True,
     "when": {"skus": ["MUG"], "min_spend": "200.00"}},
]  # fmt: skip


@pytest.fixture
def programme(ctx: Context) -> seed.ProgrammeIds:
    return seed.ensure_programme(ctx)


def _counts(ctx: Context) -> tuple[int, int]:
    with ctx.engine.connect() as conn:
        rules = conn.execute(select(func.count()).select_from(earning_rules)).scalar_one()
        found = conn.execute(select(func.count()).select_from(offers)).scalar_one()
    return int(rules), int(found)


def _fields(exc: pytest.ExceptionInfo[InvalidInput]) -> list[str]:
    return [e["field"] for e in (exc.value.details or {})["errors"]]


def _doc(rules: list[dict[str, Any]] | None = None, offer_list: list[dict[str, Any]] | None = None) -> str:
    body: dict[str, Any] = {
        "programme": "default",
        "currency": "CNY",
        "rules": rules if rules is not None else RULES,
    }
    body["offers"] = offer_list if offer_list is not None else OFFERS
    return document.dump(body)


def test_export_then_import_changes_nothing_and_a_second_import_writes_nothing(
    ctx: Context, programme: seed.ProgrammeIds
) -> None:
    first = document.import_document(ctx, _doc())
    assert {c.action for c in first.rules or []} == {"new"}
    assert [(c.code, c.action) for c in first.offers or []] == [(o["code"], "new") for o in OFFERS]
    assert _counts(ctx) == (1, 4)
    text = document.export_yaml(ctx)
    exported = yaml.safe_load(text)
    assert (exported["programme"], exported["currency"]) == ("default", "CNY")
    assert sorted(exported["offers"], key=lambda o: o["code"]) == sorted(OFFERS, key=lambda o: o["code"])
    with ctx.engine.connect() as conn:
        audited = conn.execute(select(func.count()).select_from(audit_log)).scalar_one()
    again = document.import_document(ctx, text)
    assert again.unchanged
    assert {c.action for c in [*(again.rules or []), *(again.offers or [])]} == {"unchanged"}
    assert _counts(ctx) == (1, 4)
    with ctx.engine.connect() as conn:  # nothing written, not even an audit row
        assert conn.execute(select(func.count()).select_from(audit_log)).scalar_one() == audited
    # the limits survive: the coupon's per-member limit, validity and budget
    coupon = manage.get_offer(ctx, "coupon-20").offer
    assert (coupon.limits.per_member, coupon.limits.validity_days, coupon.limits.budget_minor) == (
        1,
        30,
        500_000,
    )


def test_an_invalid_document_names_every_bad_field_and_writes_nothing(
    ctx: Context, programme: seed.ProgrammeIds
) -> None:
    bad = [
        OFFERS[0],
        {"code": "ladder", "kind": "ladder", "steps": [{"over": 300, "off": 80}, {"over": 100, "off": "x"}]},
        {"code": "coupon-20", "kind": "percent_off", "percent": 5},
        {"code": "nowhere", "kind": "percent_off", "percent": 5,
         "when": {"stores": ["NOPE"], "tiers": ["tin"]}},
        {"code": "limits", "kind": "amount_off", "amount": 5, "limits": {"per_member": 0, "size": 1},
         "valid_to": "2026-12-31"},
        {"code": "promo", "kind": "amount_off", "amount": 5, "automatic": True, "limits": {"max_uses": 5}},
    ]  # fmt: skip
    with pytest.raises(InvalidInput) as exc:
        document.import_document(ctx, {"rules": RULES, "offers": bad, "colour": "red"})
    assert exc.value.code == "PROGRAMME_INVALID"
    fields = _fields(exc)
    for expected in (
        "colour",
        "offers[1].steps[1].off",
        "offers[2].code",
        "offers[3].when.stores",
        "offers[3].when.tiers",
        "offers[4].limits.per_member",
        "offers[4].limits.size",
        "offers[4].valid_to",
        "offers[5].limits.max_uses",
    ):
        assert expected in fields, (expected, fields)
    assert _counts(ctx) == (0, 0)


def test_a_bad_offer_after_a_good_rule_writes_nothing_at_all(
    ctx: Context, programme: seed.ProgrammeIds
) -> None:
    late = ctx.now() + timedelta(days=2)
    # valid on its own, refused when written (its period ends before it starts): nothing is written
    entry = dict(OFFERS[0]) | {
        "valid_from": late.isoformat(),
        "valid_to": (late - timedelta(hours=1)).isoformat(),
    }
    with pytest.raises(InvalidInput) as exc:
        document.import_document(ctx, {"rules": RULES, "offers": [OFFERS[1], entry]})
    assert "offers[1].valid_to" in _fields(exc)
    assert _counts(ctx) == (0, 0)


def test_an_offer_changes_in_place_only_while_it_has_issued_no_coupon(
    ctx: Context, programme: seed.ProgrammeIds
) -> None:
    document.import_document(ctx, _doc())
    changed = [dict(OFFERS[0]) | {"amount": "25.00"}, *OFFERS[1:]]
    dry = document.import_document(ctx, _doc(offer_list=changed), dry_run=True)
    assert next((c.code, c.action) for c in dry.offers or []) == ("coupon-20", "changed")
    assert manage.get_offer(ctx, "coupon-20").offer.spec.amount_minor == 2_000  # a dry run writes nothing
    result = document.import_document(ctx, _doc(offer_list=changed))
    assert [c.action for c in result.offers or []] == ["changed", "unchanged", "unchanged", "unchanged"]
    assert manage.get_offer(ctx, "coupon-20").offer.spec.amount_minor == 2_500
    with ctx.engine.connect() as conn:
        actions = conn.execute(select(audit_log.c.action).where(audit_log.c.entity_id == "coupon-20"))
        assert "offer.change" in set(actions.scalars())

    member = members.register_member(ctx, MemberIn(phone="+8613900000011", name="Doc")).id
    coupons.issue_coupons(ctx, "coupon-20", member_ids=[member])
    again = [dict(OFFERS[0]) | {"amount": "30.00"}, *OFFERS[1:]]
    with pytest.raises(InvalidInput) as exc:
        document.import_document(
            ctx,
            _doc(
                rules=[*RULES, {"code": "x2", "kind": "multiplier", "multiplier_pct": 200}], offer_list=again
            ),
        )
    assert _fields(exc) == ["offers[0]"]
    assert "new code" in exc.value.details["errors"][0]["message"]
    assert manage.get_offer(ctx, "coupon-20").offer.spec.amount_minor == 2_500
    assert _counts(ctx) == (1, 4)  # the new rule was not written either


def test_offers_left_out_are_kept_unless_ending_them_is_asked_for(
    ctx: Context, programme: seed.ProgrammeIds
) -> None:
    document.import_document(ctx, _doc())
    fewer = document.import_document(ctx, _doc(offer_list=OFFERS[:2]), dry_run=True)
    assert {c.code: c.action for c in fewer.offers or []}["mug-gift"] == "kept"
    ended = document.import_document(ctx, _doc(offer_list=OFFERS[:2]), retire_missing=True)
    assert {c.code: c.action for c in ended.offers or []}["mug-gift"] == "ended"
    assert {s.offer.code for s in manage.list_offers(ctx, current=True)} == {"coupon-20", "spring-ladder"}
    # a rules-only document (an older file) leaves the offers alone, even with retire_missing
    rules_only = document.import_document(ctx, yaml_io.dump({"rules": RULES}), retire_missing=True)
    assert rules_only.offers is None
    assert len(manage.list_offers(ctx, current=True)) == 2


def test_each_preset_defines_an_offer_a_checkout_quote_applies(
    ctx: Context, programme: seed.ProgrammeIds
) -> None:
    store = merchants.list_stores(ctx)[0].id
    member = members.register_member(ctx, MemberIn(phone="+8613900000012", name="Preset")).id
    tier = members.get_member(ctx, member).tier_code
    entries = [
        presets.preset_offer("coupon-campaign", offer_code="c20", locale="zh-CN"),
        presets.preset_offer("ladder", offer_code="l100", locale="zh-CN"),
        presets.preset_offer("gift-with-purchase", offer_code="gift", values={"sku": "MUG"}, locale="zh-CN"),
        presets.preset_offer("tier-discount", offer_code="tier", values={"tier": tier}, locale="zh-CN"),
    ]
    assert [e["name"] for e in entries[:2]] == ["满100减20券", "满减：满100减20 / 满300减80"]
    result = document.import_document(ctx, {"offers": entries})
    assert result.rules is None
    assert {c.action for c in result.offers or []} == {"new"}
    code = coupons.issue_coupons(ctx, "c20", member_ids=[member]).codes[0]
    lines = [
        PurchaseLineIn(sku="BEANS", category="coffee", quantity=2, unit_price_minor=10_000),
        PurchaseLineIn(sku="MUG", category="homeware", quantity=1, unit_price_minor=3_000),
    ]
    for codes, promotions, offer in (
        ([code], False, "c20"),
        ([], True, "l100"),
        ([], True, "gift"),
        ([], True, "tier"),
    ):
        q = quote(ctx, QuoteIn(store_id=store, member_id=member, lines=lines, coupon_codes=codes,
                               apply_promotions=promotions))  # fmt: skip
        assert offer in {c.offer_code for c in q.coupons.applied}, (offer, q.coupons.applied)


def test_presets_refuse_what_they_cannot_read(ctx: Context, programme: seed.ProgrammeIds) -> None:
    with pytest.raises(InvalidInput) as exc:
        presets.preset_offer("ladder", values={"steps": "100-20"})
    assert _fields(exc) == ["steps"]
    with pytest.raises(InvalidInput):
        presets.preset_offer("coupon-campaign", values={"colour": "red"})
    with pytest.raises(InvalidInput) as bad:
        document.validate(
            ctx, {"offers": [presets.preset_offer("coupon-campaign", values={"amount": "abc"})]}
        )
    assert "offers[0].amount" in _fields(bad)


def test_the_marketers_guide_example_whole_programme_imports(
    ctx: Context, programme: seed.ProgrammeIds
) -> None:
    text = GUIDE.read_text(encoding="utf-8")
    found = re.search(r"<!-- example-whole-programme -->\s*```yaml\n(.*?)```", text, re.S)
    assert found, "docs/marketer-guide.md lost its example whole programme"
    result = document.import_document(ctx, found.group(1))
    assert {c.action for c in [*(result.rules or []), *(result.offers or [])]} == {"new"}
    assert {s.offer.spec.kind for s in manage.list_offers(ctx)} == {
        "amount_off",
        "ladder",
        "gift",
        "percent_off",
    }
    assert document.import_document(ctx, found.group(1)).unchanged
