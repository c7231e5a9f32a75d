"""The store manager's dashboard through the test client, on both backends: whose figures each role
sees, a sale posted at the till (console or API) showing up in them, the sleeping members with contact
data masked as the API masks it, bad dates named beside their field, and a page the CSP allows."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest
from sqlalchemy import select

from loyalty.db.core_tables import purchases
from loyalty.services import feedback
from loyalty.services import members as members_service
from loyalty.services import purchases as purchases_service
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn
from tests.api.api_world import World, purchase_body
from tests.web.console_client import Console, as_

DASHBOARD = "/console/dashboard"


def _card(html: str, key: str) -> str:
    found = re.search(rf'id="kpi-{key}">\s*<dt>[^<]*</dt>\s*<dd class="value">([^<]*)</dd>', html)
    assert found, f"no card {key}"
    return unescape(found.group(1))


def _amount(text: str) -> Decimal:
    """CN¥1,234.50 → Decimal('1234.50')."""
    return Decimal(re.sub(r"[^\d.]", "", text) or "0")


def _count(text: str) -> int:
    return int(text.replace(",", ""))


def _figures(console: Console, query: str = "") -> dict[str, Any]:
    response = console.get(DASHBOARD + query)
    assert response.status_code == 200, response.text[:2000]
    html = response.text
    return {
        "html": html,
        "net": _amount(_card(html, "net-sales")),
        "members": _count(_card(html, "members")),
        "issued": _count(_card(html, "points-issued")),
    }


def test_a_store_manager_sees_their_store_and_no_other(world: World) -> None:
    manager = as_(world.app, "store_manager1")
    page = manager.get(DASHBOARD)
    assert page.status_code == 200
    scope = re.search(r'id="dashboard-scope">([^<]*)<', page.text)
    assert scope
    assert scope.group(1) == "总店"  # store A, the manager's store, by default
    options = re.findall(r'<option value="([^"]+)"', page.text.split('id="dash-period"')[0])
    assert options == [str(world.store_a)]  # no other store, no whole chain to pick
    for other in (f"?store={world.store_b}", "?store=chain"):
        refused = manager.get(DASHBOARD + other)
        assert refused.status_code == 403, other
        assert "Your role does not allow this page." in refused.text
    assert manager.get(f"{DASHBOARD}?store={world.store_a}&period=week").status_code == 200


def test_chain_roles_see_the_chain_and_may_pick_any_store(world: World) -> None:
    for who in ("admin1", "analyst1", "marketer1"):
        console = as_(world.app, who)
        page = console.get(DASHBOARD)
        assert page.status_code == 200, who
        assert 'id="dashboard-scope">Whole chain<' in page.text
        store_b = console.get(f"{DASHBOARD}?store={world.store_b}")
        assert 'id="dashboard-scope">Store B<' in store_b.text


def test_a_cashier_and_an_auditor_are_refused(world: World) -> None:
    for who in ("cashier1", "auditor1"):
        refused = as_(world.app, who).get(DASHBOARD)
        assert refused.status_code == 403
        assert "Your role does not allow this page." in refused.text


def _today_net(html: str) -> Decimal:
    """The last row (today) of the sales table: its first figure, the day's net sales."""
    table = html.split('id="table-sales"')[1].split("</table>")[0]
    last = re.findall(r'<tr><th scope="row">[^<]*</th>(.*?)</tr>', table)[-1]
    return _amount(re.findall(r'<td class="num">([^<]*)</td>', last)[0])


def test_a_sale_posted_at_the_till_shows_in_the_figures(world: World) -> None:
    """A member's sale through the console and an anonymous one through the API, both today at store A:
    the manager's net sales grow by both, the points issued by the member's only, the chain's too,
    store B's not at all."""
    manager = as_(world.app, "store_manager1")
    admin = as_(world.app, "admin1")
    before = _figures(manager)
    chain_before = _figures(admin)["net"]
    b_before = _figures(admin, f"?store={world.store_b}")["net"]
    cashier = as_(world.app, "cashier1")
    member = world.member_a["id"]
    posted = cashier.post(
        f"/console/members/{member}/sales",
        {"order_id": f"DASH-{datetime.now(UTC):%H%M%S%f}", "sku_0": "TEE", "qty_0": "2", "price_0": "59.90"},
        follow_redirects=True,
    )
    assert "posted: CN¥119.80, 119 points earned." in posted.text
    body = purchase_body(world.store_a, None, f"DASH-ANON-{datetime.now(UTC):%H%M%S%f}", price="100.00")
    body["occurred_at"] = datetime.now(UTC).isoformat()
    api = world.client.post("/api/v1/purchases", json=body, headers=world.as_("pos"))
    assert api.status_code == 201, api.text
    both = Decimal("119.80") + Decimal(api.json()["total"]["amount"])
    after = _figures(manager)
    assert after["net"] - before["net"] == both
    assert after["issued"] - before["issued"] == 119  # the anonymous sale earned nothing
    assert _today_net(after["html"]) - _today_net(before["html"]) == both
    assert _figures(admin)["net"] - chain_before == both
    assert _figures(admin, f"?store={world.store_b}")["net"] == b_before


def test_the_charts_carry_their_data_and_a_table_each(world: World) -> None:
    html = as_(world.app, "store_manager1").get(f"{DASHBOARD}?period=week").text
    specs = [json.loads(unescape(s)) for s in re.findall(r'data-kpi-chart="([^"]+)"', html)]
    assert [s["kind"] for s in specs] == ["sales", "bars", "bars"]
    sales = specs[0]
    assert sales["currency"] == "CNY"
    assert len(sales["labels"]) == len(sales["bars"][0]["data"]) == len(sales["line"]["data"]) == 12
    assert all(re.fullmatch(r"\d+\.\d{2}", v) for v in sales["bars"][0]["data"])  # decimal strings
    for key in ("sales", "sign-ups", "points"):
        assert f'id="table-{key}"' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "<style" not in html
    assert " style=" not in html
    assert not re.search(r"\son[a-z]+=", html)


def test_bad_dates_are_named_beside_their_field(world: World) -> None:
    manager = as_(world.app, "store_manager1")
    bad = manager.get(f"{DASHBOARD}?from=2026-02-30")
    assert bad.status_code == 422
    assert 'id="dash-from-error">Enter a date such as 2026-03-31.<' in bad.text
    assert 'id="dash-from" name="from" type="date" value="2026-02-30" aria-invalid="true"' in bad.text
    backwards = manager.get(f"{DASHBOARD}?from=2026-03-31&to=2026-03-01")
    assert backwards.status_code == 422
    assert 'id="dash-from-error">from (2026-03-31) is after to (2026-03-01)<' in backwards.text
    future = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    assert 'id="dash-to-error">' in manager.get(f"{DASHBOARD}?to={future}").text
    assert manager.get(f"{DASHBOARD}?period=year").status_code == 422


class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.controls: list[str | None] = []
        self.labels: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in {"input", "select"} and a.get("type") != "hidden":
            self.controls.append(a.get("id"))
        if tag == "label" and a.get("for"):
            self.labels.add(str(a["for"]))


def test_every_input_has_a_label(world: World) -> None:
    parser = _Inputs()
    parser.feed(as_(world.app, "admin1").get(DASHBOARD).text)
    assert {"dash-store", "dash-period", "dash-from", "dash-to"} <= set(parser.labels)
    assert all(c in parser.labels for c in parser.controls if c and c.startswith("dash-"))


@pytest.fixture(scope="module")
def sleeper(world: World) -> dict[str, Any]:
    """A member of store A who spent ¥3,000 four months ago (silver since) and nothing after."""
    member = members_service.register_member(
        world.ctx, MemberIn(phone="+8613811112222", name="Sleepy", registration_store_id=world.store_a)
    )
    purchases_service.post_purchase(
        world.ctx,
        PurchaseIn(
            store_id=world.store_a,
            order_id="SLEEPY-1",
            occurred_at=world.ctx.now() - timedelta(days=120),
            member_id=member.id,
            lines=[PurchaseLineIn(sku="COAT", quantity=1, unit_price_minor=300_000)],
        ),
    )
    return {"id": member.id, "phone": "+8613811112222"}


def test_sleeping_members_link_to_their_page_with_contact_masked_by_role(
    world: World, sleeper: dict[str, Any]
) -> None:
    manager = as_(world.app, "store_manager1").get(DASHBOARD).text
    rows = manager.split('id="sleeping"')[1].split("</table>")[0]
    assert f'<a href="/console/members/{sleeper["id"]}">Sleepy</a>' in rows
    assert sleeper["phone"] in rows  # their own store's member: the manager may call them
    analyst = as_(world.app, "analyst1").get(DASHBOARD).text
    rows = analyst.split('id="sleeping"')[1].split("</table>")[0]
    assert "Sleepy" in rows
    assert sleeper["phone"] not in rows
    assert "+86138****2222" in rows
    assert "Members above the first tier" in analyst  # no scores stored: the tier rule, stated


def test_the_page_speaks_chinese_by_default(world: World) -> None:
    console = Console(world.app, **{"Accept-Language": "zh-CN"})
    assert console.login("store_manager1").status_code == 303
    html = console.get(DASHBOARD).text
    for words in ("门店看板", "会员销售占比", "活跃率", "复购率", "积分发放", "待唤醒的沉睡会员", "按日"):
        assert words in html, words
    assert "Member sales share" not in html


def test_chain_roles_pick_a_region(world: World) -> None:
    from loyalty.services import merchants
    from loyalty.services.merchants import StoreChanges

    merchants.update_store(world.ctx, world.store_a, StoreChanges(region="East China"))
    analyst = as_(world.app, "analyst1")
    page = analyst.get(DASHBOARD)
    assert '<option value="region:East China"' in page.text
    region = analyst.get(DASHBOARD, params={"store": "region:East China"})
    assert region.status_code == 200, region.text
    assert 'id="dashboard-scope">Region East China<' in region.text
    assert 'value="region:East China" selected' in region.text
    manager = as_(world.app, "store_manager1").get(DASHBOARD)
    assert "region:" not in manager.text  # a store's staff see their stores only


def _staff_rows(html: str) -> dict[str, list[str]]:
    """The staff table's rows: the staff (its code, or the words for nobody) → its figures."""
    table = html.split('id="staff"')[1].split("</table>")[0]
    rows = {}
    for head, cells in re.findall(
        r'<tr(?: class="unnamed")?><th scope="row">(.*?)</th>(.*?)</tr>', table, re.S
    ):
        rows[unescape(re.sub(r"<[^>]+>", "", head))] = [
            unescape(c) for c in re.findall(r'<td class="num">([^<]*)</td>', cells)
        ]
    return rows


def test_the_staff_table_shows_who_sold_and_signed_up(world: World) -> None:
    """A cashier's console sale and registration are theirs (their username); a POS key's sale names
    nobody ("Not recorded"); the manager's store only, in the dashboard's language."""
    today = datetime.now(UTC).astimezone(world.ctx.settings.tz).date().isoformat()
    manager = as_(world.app, "store_manager1")
    before = _staff_rows(manager.get(f"{DASHBOARD}?from={today}&to={today}").text)
    cashier = as_(world.app, "cashier1")
    stamp = f"{datetime.now(UTC):%H%M%S%f}"
    sold = cashier.post(
        f"/console/members/{world.member_a['id']}/sales",
        {"order_id": f"STAFF-{stamp}", "sku_0": "TEE", "qty_0": "1", "price_0": "80.00"},
        follow_redirects=True,
    )
    assert "posted: CN¥80.00" in sold.text
    joined = cashier.post(
        "/console/members",
        {"phone": "+8613855556666", "name": "Newcomer", "store_id": str(world.store_a)},
        follow_redirects=True,
    )
    assert joined.status_code == 200, joined.text[:500]
    newcomer = members_service.find_member(world.ctx, phone="+8613855556666")
    assert newcomer.registered_by == "cashier1"
    body = purchase_body(world.store_a, None, f"STAFF-ANON-{stamp}", price="30.00")
    body["occurred_at"] = datetime.now(UTC).isoformat()
    api = world.client.post("/api/v1/purchases", json=body, headers=world.as_("pos"))
    assert api.status_code == 201, api.text
    rows = _staff_rows(manager.get(f"{DASHBOARD}?from={today}&to={today}").text)
    # Staff, then receipts, net sales, member share, average ticket, new sign-ups, coupons, points redeemed
    was = before.get("cashier1", ["0", "CN¥0.00", "", "", "0"])
    assert _count(rows["cashier1"][0]) - _count(was[0]) == 1  # the sale
    assert _count(rows["cashier1"][4]) - _count(was[4]) == 1  # the sign-up
    assert _amount(rows["cashier1"][1]) - _amount(was[1]) == Decimal("80.00")
    assert list(rows)[-1] == "Not recorded"
    nobody = before.get("Not recorded", ["0", "CN¥0.00"])
    assert _amount(rows["Not recorded"][1]) - _amount(nobody[1]) == Decimal(api.json()["total"]["amount"])
    # the member rates the cashier's sale: the cashier's rating cell counts it
    with world.ctx.engine.connect() as conn:
        sale_id = conn.execute(
            select(purchases.c.id).where(purchases.c.order_id == f"STAFF-{stamp}")
        ).scalar_one()
    feedback.rate_purchase(world.ctx, world.member_a["id"], sale_id, 4)
    rated = _staff_rows(manager.get(f"{DASHBOARD}?from={today}&to={today}").text)["cashier1"][7]
    found = re.fullmatch(r"(\d\.\d\d) \((\d+)\)", rated)
    assert found, rated
    assert int(found.group(2)) >= 1
    console = Console(world.app, **{"Accept-Language": "zh-CN"})
    assert console.login("store_manager1").status_code == 303
    zh = console.get(f"{DASHBOARD}?from={today}&to={today}").text
    assert "按员工" in zh
    assert "未记录" in zh
