"""Tier benefits on both backends: a tier's services (checked against the vocabulary, audited, on the
member's record for the till) and rewards exclusive to some tiers (refused to a member of any other
tier with the tiers named and nothing written; ordered by a member of one of them; shown locked in the
member's catalogue)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from loyalty.bootstrap import Context
from loyalty.db.reward_tables import reward_orders
from loyalty.domain import tier_services
from loyalty.domain.errors import Conflict, InvalidInput
from loyalty.i18n import use_locale
from loyalty.services import members, programme_settings, tiers
from loyalty.services.rewards import catalog, orders, redeem
from tests.core.conftest import clock, ctx
from tests.rewards.helpers import available, chain, gift, member

__all__ = ["clock", "ctx"]


def _tier(ctx: Context, code: str) -> int:
    return next(t.id for t in tiers.list_tiers(ctx) if t.code == code)


def _audits(ctx: Context, action: str) -> list[tuple[str | None, str | None]]:
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT before, after FROM audit_log WHERE action = :a ORDER BY id"), {"a": action}
        ).all()
    return [(str(r[0]) if r[0] is not None else None, str(r[1]) if r[1] is not None else None) for r in rows]


def _orders(ctx: Context) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(reward_orders)).scalar_one())


def test_a_tiers_services_are_set_checked_audited_and_on_the_members_record(ctx: Context) -> None:
    chain(ctx)
    mid = member(ctx, 0)
    gold = _tier(ctx, "gold")
    assert all(t.services == [] for t in tiers.list_tiers(ctx))  # the default ladder gives none
    changed = programme_settings.update_tier(
        ctx,
        gold,
        programme_settings.TierChanges(services=["vip_lane", "free_parking", "vip_lane"]),
    )
    assert changed.services == ["vip_lane", "free_parking"]  # in the order given, each once
    assert _audits(ctx, "tier.update")[-1][1] is not None
    assert "vip_lane" in str(_audits(ctx, "tier.update")[-1][1])

    with pytest.raises(InvalidInput) as unknown:
        programme_settings.update_tier(ctx, gold, programme_settings.TierChanges(services=["helipad"]))
    assert unknown.value.code == "TIER_SERVICE_UNKNOWN"
    assert unknown.value.details is not None
    assert unknown.value.details["errors"][0]["field"] == "services"
    assert "helipad" in unknown.value.message
    assert next(t for t in tiers.list_tiers(ctx) if t.id == gold).services == ["vip_lane", "free_parking"]

    added = programme_settings.add_tier(
        ctx,
        programme_settings.NewTier(
            name="黑卡", threshold_minor=9_000_000, multiplier_pct=250, services=["member_lounge"]
        ),
    )
    assert (added.code, added.services) == ("black", ["member_lounge"])
    with pytest.raises(InvalidInput) as refused:
        programme_settings.add_tier(
            ctx,
            programme_settings.NewTier(
                name="Other", threshold_minor=9_500_000, multiplier_pct=250, services=["VIP_LANE"]
            ),
        )
    assert refused.value.details is not None
    assert refused.value.details["errors"][0]["field"] == "services"
    assert "Other" not in {t.name for t in tiers.list_tiers(ctx)}  # nothing written

    assert members.get_member(ctx, mid).tier_services == []  # 普通 gives nothing
    tiers.lock_tier(ctx, mid, "gold", until=ctx.now() + timedelta(days=30), reason="VIP guest")
    assert members.get_member(ctx, mid).tier_services == ["vip_lane", "free_parking"]
    programme_settings.update_tier(ctx, gold, programme_settings.TierChanges(services=[]))
    assert members.get_member(ctx, mid).tier_services == []


def test_every_service_has_a_label_in_both_languages() -> None:
    for code in tier_services.SERVICE_CODES:
        english, chinese = tier_services.label(code, "en"), tier_services.label(code, "zh-CN")
        assert english, code
        assert chinese != english, code
    with use_locale("zh-CN"):
        assert tier_services.label("vip_lane") == "VIP 通道"
    assert tier_services.label("vip_lane", "en") == "VIP lane"


def test_a_reward_for_some_tiers_is_refused_to_the_others_and_ordered_by_them(ctx: Context) -> None:
    store = chain(ctx)
    below, inside = member(ctx, 1_000), member(ctx, 1_000)
    until = ctx.now() + timedelta(days=30)
    tiers.lock_tier(ctx, inside, "gold", until=until, reason="test")
    tiers.lock_tier(ctx, below, "silver", until=until, reason="test")
    made = catalog.define_reward(ctx, gift("lounge-pass", stock=3, tiers=("diamond", "gold", "gold")))
    assert made.tiers == ["diamond", "gold"]  # each once, as given
    assert "gold" in str(_audits(ctx, "reward.define")[-1][1])

    before = (_orders(ctx), available(ctx, below), catalog.get_reward(ctx, "lounge-pass").stock)
    with pytest.raises(Conflict) as refused:
        redeem.redeem(ctx, below, "lounge-pass", store_id=store)
    assert refused.value.code == "REWARD_TIER_ONLY"
    assert refused.value.details is not None
    assert refused.value.details["allowed_tiers"] == ["gold", "diamond"]  # lowest first
    assert refused.value.details["member_tier"] == "silver"
    assert "金卡, 钻石" in refused.value.message
    assert "银卡" in refused.value.message
    assert (_orders(ctx), available(ctx, below), catalog.get_reward(ctx, "lounge-pass").stock) == before

    order = redeem.redeem(ctx, inside, "lounge-pass", store_id=store)
    assert (order.status, order.points) == ("reserved", 300)
    assert catalog.get_reward(ctx, "lounge-pass").stock == 2

    shown = {i.reward.code: i for i in orders.member_catalogue(ctx, below)}
    assert (shown["lounge-pass"].locked, shown["lounge-pass"].tier_names) == (True, ["金卡", "钻石"])
    theirs = {i.reward.code: i for i in orders.member_catalogue(ctx, inside)}
    assert (theirs["lounge-pass"].locked, theirs["lounge-pass"].tier_names) == (False, ["金卡", "钻石"])

    catalog.change_reward(ctx, "lounge-pass", {"tiers": ["silver"]})
    with pytest.raises(Conflict):
        redeem.redeem(ctx, inside, "lounge-pass", store_id=store)  # exactly the tiers listed
    assert redeem.redeem(ctx, below, "lounge-pass", store_id=store).status == "reserved"
    opened = catalog.change_reward(ctx, "lounge-pass", {"tiers": None})
    assert opened.tiers is None
    assert redeem.redeem(ctx, inside, "lounge-pass", store_id=store).status == "reserved"
    everyone = {i.reward.code: i for i in orders.member_catalogue(ctx, below)}["lounge-pass"]
    assert (everyone.locked, everyone.tier_names) == (False, [])


@pytest.mark.parametrize(
    ("tier_codes", "reason"),
    [(("platinum-plus",), "no tier has the code"), ((), "names at least one tier")],
)
def test_a_reward_for_unknown_or_no_tiers_is_refused_naming_tiers(
    ctx: Context, tier_codes: tuple[str, ...], reason: str
) -> None:
    chain(ctx)
    with pytest.raises(InvalidInput) as refused:
        catalog.define_reward(ctx, gift("nowhere", tiers=tier_codes))
    assert refused.value.details is not None
    entry = refused.value.details["errors"][0]
    assert entry["field"] == "tiers"
    assert reason in entry["message"]
    assert "nowhere" not in {r.code for r in catalog.list_rewards(ctx)}
    catalog.define_reward(ctx, gift("somewhere"))
    with pytest.raises(InvalidInput) as changed:
        catalog.change_reward(ctx, "somewhere", {"tiers": list(tier_codes)})
    assert changed.value.details is not None
    assert changed.value.details["errors"][0]["field"] == "tiers"
    assert catalog.get_reward(ctx, "somewhere").tiers is None
