"""The target tracking page (`/console/targets`) through the test client, on both backends, on the chain
of tests/targets/conftest.py with March 2026's targets typed by hand. The console signs its cookies
against the real time, so the chain's clock runs on from it and March is over: each store's figures are
final (100 % of the month gone), every store fell short, worked out by hand:

    store  target   actual   achieved  ahead     league
    S001   3000.00  1500.00  50.0 %    −50.00    3
    BER    1500.00   900.00  60.0 %    −40.00    2
    SH2    1200.00   400.00  33.3 %    −66.67    4
    NEW     400.00   300.00  75.0 %    −25.00    1

Who sees what (a store manager: their store, ranked among all; no forms), the admin's forms (the plan
ticked to confirm, a store's target; CSRF-checked, confirmed by a message, refused beside the field
with nothing written), a bad month or metric named beside its field, and both languages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape

import pytest

from loyalty.domain.actors import SYSTEM
from loyalty.services import targets
from tests.targets.served import Served, served
from tests.web.console_client import Console, as_

PAGE = "/console/targets"
MARCH = f"{PAGE}?month=2026-03&metric=sales"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def chain(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(request.param, tmp_path_factory.mktemp("console-targets"), live=True) as s:
        s.plan_march()
        yield s


def _cells(html: str, row_id: str) -> list[str]:
    found = re.search(rf'<tr id="{row_id}"[^>]*>(.*?)</tr>', html, re.S)
    assert found, f"no row {row_id}"
    cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", found.group(1), re.S)
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells]


def _row_class(html: str, row_id: str) -> str:
    found = re.search(rf'<tr id="{row_id}"( class="([^"]*)")?>', html)
    assert found, f"no row {row_id}"
    return found.group(2) or ""


def _flash(html: str) -> str:
    found = re.search(r'<p class="flash flash-ok" role="status">([^<]*)</p>', html)
    assert found, "no confirmation"
    return unescape(found.group(1))


def test_the_tracking_page_of_a_finished_month(chain: Served) -> None:
    admin = as_(chain.app, "admin1")
    html = admin.get(MARCH).text
    assert 'href="/console/targets"' in html  # in the navigation
    sid = {k: chain.store(k) for k in "abcd"}
    assert _cells(html, f"tg-line-{sid['c']}") == [
        "SH2 East", "CN¥1,200.00", "CN¥400.00", "33.3%", "100.0%", "−66.67", "CN¥400.00", "33.3%", "—",
        "Behind time, forecast short",
    ]  # fmt: skip
    first = ["总店 (S001) East", "CN¥3,000.00", "CN¥1,500.00", "50.0%", "100.0%", "−50.00"]
    assert _cells(html, f"tg-line-{sid['a']}")[:6] == first
    assert all(_row_class(html, f"tg-line-{sid[k]}") == "behind" for k in "abcd")
    assert _cells(html, "tg-line-chain")[:5] == [
        "Whole chain",
        "CN¥6,100.00",
        "CN¥3,100.00",
        "50.8%",
        "100.0%",
    ]
    assert _cells(html, "tg-line-region-East")[1:3] == ["CN¥4,600.00", "CN¥2,200.00"]
    league = re.findall(r'<tr id="league-([^"]+)"', html)
    assert league == ["NEW", "BER", "S001", "SH2"]
    assert _cells(html, "league-SH2")[:4] == ["4", "SH2", "33.3%", "−66.67"]
    alerts = re.findall(r"<li>([^<]*)</li>", html.split('id="target-alerts"')[1].split("</ul>")[0])
    assert unescape(alerts[4]) == (
        "SH2: Net sales 33.3% of the target CN¥1,200.00 with 100.0% of the month gone, more than 10 points "
        "behind time."
    )
    assert len(alerts) == 8
    spec = json.loads(unescape(re.search(r'data-kpi-chart="([^"]+)"', html).group(1)))  # type: ignore[union-attr]
    assert (spec["kind"], spec["labels"][2]) == ("bars", "SH2")
    assert [b["data"][2] for b in spec["bars"]] == ["33.3", "100.0"]
    assert 'id="set-plan"' in html
    assert 'id="set-store-target"' in html
    assert "Plan " in html
    assert "typed by hand" in html
    joined = admin.get(f"{PAGE}?month=2026-03&metric=new_members").text
    assert _cells(joined, f"tg-line-{sid['a']}")[1:4] == ["2", "1", "50.0%"]
    assert _cells(joined, f"tg-line-{sid['c']}")[-1] == "No target"
    west = admin.get(f"{MARCH}&region=West").text
    assert re.findall(r'<tr id="league-([^"]+)"', west) == ["BER"]


def test_a_store_manager_sees_their_store_ranked_among_all(chain: Served) -> None:
    manager = as_(chain.app, "manager_c")
    html = manager.get(MARCH).text
    rows = re.findall(r'<tr id="tg-line-(\d+)"', html)
    assert rows == [str(chain.store("c"))]
    assert "tg-line-chain" not in html
    assert re.findall(r'<tr id="league-([^"]+)"', html) == ["SH2"]
    assert _cells(html, "league-SH2")[0] == "4"
    assert 'id="set-plan"' not in html
    assert 'id="set-store-target"' not in html
    mine = {"month": "2026-03", "metric": "sales", "store": str(chain.store("c")), "target": "1"}
    refused = manager.post(f"{PAGE}/store", mine)
    assert refused.status_code == 403
    assert as_(chain.app, "cashier_c").get(MARCH).status_code == 403
    assert as_(chain.app, "auditor1").get(MARCH).status_code == 403
    assert as_(chain.app, "analyst1").get(MARCH).status_code == 200


def _versions(chain: Served, month: str) -> int:
    return len(targets.plan_history(chain.ctx, month, "sales"))


def test_an_admin_sets_the_months_plan_and_a_stores_target(chain: Served) -> None:
    admin = as_(chain.app, "admin1")
    month = "2026-05"
    form = {"month": month, "metric": "sales", "chain_target": "7,000", "method": "equal", "step": "100"}
    unticked = admin.post(f"{PAGE}/plan", form)
    assert unticked.status_code == 422
    assert "Tick the box to replace the month&#39;s targets." in unticked.text
    forged = admin.post(f"{PAGE}/plan", {**form, "confirm": "yes", "csrf_token": "forged"})
    assert forged.status_code == 403
    bad = admin.post(f"{PAGE}/plan", {**form, "chain_target": "7000.001", "confirm": "yes"})
    assert bad.status_code == 422
    assert 'id="tg-chain_target-error"' in bad.text
    short = admin.post(f"{PAGE}/plan", {**form, "chain_target": "7050", "confirm": "yes"})
    assert short.status_code == 422
    assert 'id="tg-chain_target-error"' in short.text
    assert _versions(chain, month) == 0  # nothing written by any refusal

    made = admin.post(f"{PAGE}/plan", {**form, "confirm": "yes"})
    assert (made.status_code, made.headers["location"]) == (303, f"{PAGE}?month={month}&metric=sales")
    page = admin.get(made.headers["location"]).text
    assert _flash(page) == "Targets for 2026-05 set: CN¥7,000.00 shared among 4 stores (an equal split)."
    plan = targets.current_plan(chain.ctx, month, "sales")
    # 70 hundreds over 4 stores by the largest remainder: 18, 18, 17, 17 (ties to the smaller store id)
    assert [t.target for t in plan.stores] == [180_000, 180_000, 170_000, 170_000]
    assert f'name="replaces" value="{plan.id}"' in page

    store = str(chain.store("b"))
    edit = {"month": month, "metric": "sales", "store": store, "target": "2500", "replaces": str(plan.id)}
    changed = admin.post(f"{PAGE}/store", edit)
    assert changed.status_code == 303
    assert (
        _flash(admin.get(changed.headers["location"]).text) == "BER's target for 2026-05 is now CN¥2,500.00."
    )
    now = targets.current_plan(chain.ctx, month, "sales")
    assert (now.chain_target, now.method, now.stores[1].target) == (770_000, "manual", 250_000)
    stale = admin.post(f"{PAGE}/store", {**edit, "target": "1"})
    assert stale.status_code == 422
    assert "the targets were changed meanwhile" in stale.text
    negative = admin.post(
        f"{PAGE}/store", {"month": month, "metric": "sales", "store": store, "target": "-1"}
    )
    assert negative.status_code == 422
    assert 'id="tg-target-error"' in negative.text
    nowhere = admin.post(
        f"{PAGE}/store", {"month": month, "metric": "sales", "store": "99999", "target": "1"}
    )
    assert (nowhere.status_code, 'id="tg-store-error"' in nowhere.text) == (422, True)
    assert _versions(chain, month) == 2


def test_an_admin_changes_when_a_store_counts_as_behind(chain: Served) -> None:
    admin = as_(chain.app, "admin1")
    before = targets.alert_rules(chain.ctx)
    form = {"month": "2026-05", "metric": "sales", "behind_points": "15", "forecast_pct": "85"}
    for field, value in (("behind_points", "lots"), ("behind_points", "101"), ("forecast_pct", "-1")):
        refused = admin.post(f"{PAGE}/alert-rules", {**form, field: value})
        assert refused.status_code == 422, (field, value)
        assert f'id="tg-{field}-error"' in refused.text
    forged = admin.post(f"{PAGE}/alert-rules", {**form, "csrf_token": "forged"})
    assert forged.status_code == 403
    assert targets.alert_rules(chain.ctx) == before  # nothing written by any refusal
    assert as_(chain.app, "manager_c").post(f"{PAGE}/alert-rules", form).status_code == 403

    saved = admin.post(f"{PAGE}/alert-rules", form)
    assert (saved.status_code, saved.headers["location"]) == (303, f"{PAGE}?month=2026-05&metric=sales")
    page = admin.get(saved.headers["location"]).text
    assert _flash(page) == (
        "A store now counts as behind when it trails the time gone by more than 15 points "
        "or its forecast falls below 85 % of its target."
    )
    assert 'id="tg-behind-points" name="behind_points" inputmode="numeric" value="15"' in page
    rules = targets.alert_rules(chain.ctx)
    assert (rules.behind_points, rules.forecast_pct) == (15, 85)
    assert str(rules.updated_by).startswith("staff:")
    # the other tests of this module read the alerts under the thresholds they began with
    targets.set_alert_rules(
        chain.ctx, SYSTEM, behind_points=before.behind_points, forecast_pct=before.forecast_pct
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [("month=2026-13", "month"), ("month=0001-01", "month"), ("month=9999-01", "month"),
     ("month=soon", "month"), ("metric=profit", "metric"), ("region=Mars", "region")],
)  # fmt: skip
def test_a_bad_choice_is_named_beside_its_field(chain: Served, query: str, field: str) -> None:
    html = as_(chain.app, "analyst1").get(f"{PAGE}?{query}")
    assert html.status_code == 422
    assert f'id="tg-{field}-error"' in html.text
    assert 'id="target-stores"' not in html.text


def test_the_page_in_chinese(chain: Served) -> None:
    console = Console(chain.app, **{"Accept-Language": "zh-CN"})
    assert console.login("admin1").status_code == 303
    html = console.get(MARCH).text
    assert "门店目标" in html
    assert "排行榜" in html
    assert "落后门店" in html
    assert _cells(html, f"tg-line-{chain.store('c')}")[-1] == "落后时间进度，预测不达标"
    assert (
        "本月已过 100.0%，净销售额仅完成目标 ¥1,200.00 的 33.3%，落后时间进度超过 10 个百分点。"
        in unescape(html)
    )
    assert "确认替换所有门店 2026-03 的净销售额目标" in unescape(html)
    english = as_(chain.app, "admin1").get(MARCH).text
    assert "门店目标" not in english
    assert "Store targets" in english
