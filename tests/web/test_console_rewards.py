"""The marketer's rewards catalogue on the console, on both backends: added through the form (a bad
field refused beside it, nothing written), listed with its price per tier, stock and limit."""

from __future__ import annotations

import itertools

from loyalty.services.rewards.catalog import list_rewards
from tests.api.api_world import World
from tests.web.console_client import as_

_serial = itertools.count(1)


def test_a_marketer_adds_a_reward(world: World) -> None:
    code = f"console-mug-{next(_serial)}"
    marketer = as_(world.app, "marketer1")
    form = {"code": code, "name": "保温杯", "kind": "gift", "points": "300", "stock": "20",
            "per_member_limit": "1", "tier_prices": "gold=250"}  # fmt: skip
    bad = marketer.post("/console/programme/rewards", {**form, "points": "lots"})
    assert bad.status_code == 422
    assert "Enter a whole number." in bad.text
    assert code not in {r.code for r in list_rewards(world.ctx)}
    added = marketer.post("/console/programme/rewards", form)
    assert added.status_code == 303, added.text
    page = marketer.get("/console/programme/rewards").text
    assert f"Reward {code} added to the catalogue." in page
    assert f'id="reward-{code}"' in page
    assert "gold 250" in page
    unknown = marketer.post(
        "/console/programme/rewards", {**form, "code": code + "-x", "tier_prices": "platinum=1"}
    )
    assert unknown.status_code == 422
    assert 'id="reward-errors"' in unknown.text
    analyst = as_(world.app, "analyst1").get("/console/programme/rewards")
    assert analyst.status_code == 200
    assert 'id="add-reward"' not in analyst.text  # reading only
