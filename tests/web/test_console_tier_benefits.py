"""Tier benefits on the console and the member portal, on both backends: an admin ticks a tier's
services (an unknown one refused beside the boxes, nothing written), the ladder shows them, the
cashier sees them as badges on a member's card, a marketer adds a reward for some tiers only, and the
member sees their tier's services on their card and a reward of another tier locked, with the tier it
takes, and no way to order it."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from typing import Any

from loyalty.domain.programme.rewards import RewardTerms
from loyalty.services import points, tiers
from loyalty.services.rewards.catalog import define_reward, get_reward
from tests.api.api_world import World
from tests.web.console_client import as_
from tests.web.test_portal import Portal, _member

_serial = itertools.count(1)


def _gold(world: World) -> Any:
    return next(t for t in tiers.list_tiers(world.ctx) if t.code == "gold")


def test_an_admin_ticks_a_tiers_services_and_the_cashier_sees_them(world: World) -> None:
    admin = as_(world.app, "admin1")
    gold = _gold(world)
    form: dict[str, Any] = {"name": gold.name, "threshold": str(gold.threshold_minor // 100)}
    form["multiplier_pct"] = str(gold.multiplier_pct)
    page = admin.get(f"/console/admin/tiers/{gold.id}").text
    assert 'id="tier-services-vip_lane"' in page
    assert "VIP lane" in page

    unknown = admin.post(f"/console/admin/tiers/{gold.id}", {**form, "services": ["vip_lane", "helipad"]})
    assert unknown.status_code == 422
    error = re.search(r'<p class="error" id="tier-services-error">([^<]*)</p>', unknown.text)
    assert error
    assert "helipad" in error.group(1)
    assert _gold(world).services == []  # nothing written

    saved = admin.post(f"/console/admin/tiers/{gold.id}", {**form, "services": ["vip_lane", "free_parking"]})
    assert saved.status_code == 303, saved.text
    assert _gold(world).services == ["vip_lane", "free_parking"]
    again = admin.get(f"/console/admin/tiers/{gold.id}").text
    assert re.search(r'id="tier-services-vip_lane"[^>]*checked', again)
    assert not re.search(r'id="tier-services-free_delivery"[^>]*checked', again)
    ladder = admin.get("/console/admin/programme").text
    assert re.search(
        r"金卡.*?<span class=\"badge\">VIP lane</span> <span class=\"badge\">Free parking", ladder, re.S
    )

    member = _member(world, "Gold")
    cashier = as_(world.app, "cashier1")
    assert 'id="tier-services"' not in cashier.get(f"/console/members/{member.id}").text  # 普通: none
    tiers.lock_tier(world.ctx, member.id, "gold", until=world.ctx.now() + timedelta(days=30), reason="test")
    card = cashier.get(f"/console/members/{member.id}").text
    found = re.search(r'<p id="tier-services">(.*?)</p>', card, re.S)
    assert found, "no services on the member's card"
    assert "service-vip_lane" in found.group(1)
    assert "VIP lane" in found.group(1)
    assert "Free parking" in found.group(1)

    portal = Portal(world)
    try:
        portal.sign_in(member.phone)
        mine = portal.get("/m").text
        assert "Your tier gives you:" in mine
        assert re.search(r'class="services".*VIP lane.*Free parking', mine, re.S)
    finally:
        portal.close()

    cleared = admin.post(f"/console/admin/tiers/{gold.id}", form)  # no box ticked: no services
    assert cleared.status_code == 303
    assert _gold(world).services == []


def test_a_reward_for_some_tiers_is_added_and_shown_locked_to_the_others(world: World) -> None:
    tag = next(_serial)
    marketer = as_(world.app, "marketer1")
    code = f"console-lounge-{tag}"
    form: dict[str, Any] = {"code": code, "name": "贵宾室", "kind": "service", "points": "100"}
    unknown = marketer.post("/console/programme/rewards", {**form, "tiers": ["gold", "platinum-x"]})
    assert unknown.status_code == 422
    assert 'id="reward-errors"' in unknown.text
    assert "<code>tiers</code>" in unknown.text
    added = marketer.post("/console/programme/rewards", {**form, "tiers": ["gold", "diamond"]})
    assert added.status_code == 303, added.text
    assert get_reward(world.ctx, code).tiers == ["gold", "diamond"]
    row = re.search(rf'id="reward-{code}">(.*?)</tr>', marketer.get("/console/programme/rewards").text, re.S)
    assert row
    assert re.search(r'class="for-tiers">金卡, 钻石<', row.group(1))

    everyone = f"mug-{tag}"
    define_reward(world.ctx, RewardTerms(code=everyone, name="马克杯", kind="gift", points=100))
    below = _member(world, "Below")
    points.adjust(world.ctx, below.id, 500, reason="welcome", operator="test")
    portal = Portal(world)
    try:
        portal.sign_in(below.phone)
        page = portal.get("/m/rewards").text
        locked = re.search(rf'<li class="reward locked" id="reward-{code}">(.*?)</li>', page, re.S)
        assert locked, "the reward for other tiers is not shown locked"
        assert "Locked" in locked.group(1)
        assert "For 金卡, 钻石 members only" in locked.group(1)
        assert f'action="/m/rewards/{code}/order"' not in page
        assert f'action="/m/rewards/{everyone}/order"' in page
        refused = portal.post(f"/m/rewards/{code}/order", {})  # sent anyway: refused in words
        assert refused.status_code == 303
        assert "only for members of 金卡, 钻石" in portal.get("/m/rewards").text
        assert points.balance(world.ctx, below.id).available == 500
    finally:
        portal.close()
