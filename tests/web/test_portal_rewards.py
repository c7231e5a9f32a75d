"""The member portal's rewards, on both backends: the catalogue at the member's price, an order that
spends their points (shown in their orders), a refusal in words when the points fall short, and
nobody else's orders."""

from __future__ import annotations

import itertools
import re

from loyalty.domain.programme.rewards import RewardTerms
from loyalty.services import points
from loyalty.services.rewards.catalog import define_reward
from tests.api.api_world import World
from tests.web.test_portal import Portal, _member

_serial = itertools.count(1)


def test_a_member_orders_a_reward_with_their_points(world: World) -> None:
    tag = next(_serial)
    mine, other = _member(world, "Reward"), _member(world, "Other")
    for who in (mine.id, other.id):
        points.adjust(world.ctx, who, 500, reason="welcome", operator="test")
    code = f"mug-{tag}"
    define_reward(
        world.ctx, RewardTerms(code=code, name="保温杯", kind="gift", points=300, stock=5, per_member_limit=1)
    )
    portal = Portal(world)
    try:
        portal.sign_in(mine.phone)
        page = portal.get("/m/rewards")
        assert page.status_code == 200
        assert "保温杯" in page.text
        assert "500 points available" in page.text
        assert f'action="/m/rewards/{code}/order"' in page.text
        ordered = portal.post(f"/m/rewards/{code}/order", {})
        assert ordered.status_code == 303
        after = portal.get("/m/rewards").text
        assert "Ordered: 保温杯 for 300 points." in after
        assert "200 points available" in after
        assert re.search(r'id="reward-orders".*保温杯.*Reserved', after, re.S)
        assert f'action="/m/rewards/{code}/order"' not in after  # once per member, and 200 < 300
        again = portal.post(f"/m/rewards/{code}/order", {})
        assert again.status_code == 303
        refused = portal.get("/m/rewards").text
        assert "reward mug-" in refused  # the refusal in words (the limit per member), nothing spent
        assert "200 points available" in refused
    finally:
        portal.close()
    assert points.balance(world.ctx, other.id).available == 500  # nobody else's points moved
