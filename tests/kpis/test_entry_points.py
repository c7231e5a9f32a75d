"""The KPIs through the API (`/api/v1/kpis`) and the CLI (`loyalty kpis`): who may read what, money on
the wire, bad periods and dates as 422s naming the query field (a usage error naming the option)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from loyalty.cli import app as cli
from loyalty.config import get_settings
from loyalty.services import members as members_service
from loyalty.services import purchases as purchases_service
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn
from tests.api.api_world import World, purchase_body, world_on


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_on(request.param, tmp_path_factory.mktemp("kpis-api")) as w:
        now = datetime.now(UTC)
        body = purchase_body(w.store_a, w.member_a["id"], "KPI-1", price="100.00")
        body["occurred_at"] = now.isoformat()
        assert w.client.post("/api/v1/purchases", json=body, headers=w.as_("pos")).status_code == 201
        sleepy = members_service.register_member(
            w.ctx, MemberIn(phone="+8613833334444", name="Sleepy", registration_store_id=w.store_a)
        )
        purchases_service.post_purchase(
            w.ctx,
            PurchaseIn(
                store_id=w.store_a,
                order_id="KPI-OLD",
                occurred_at=now - timedelta(days=200),
                member_id=sleepy.id,
                lines=[PurchaseLineIn(sku="COAT", quantity=1, unit_price_minor=300_000)],
            ),
        )
        yield w


def test_a_stores_report_on_the_wire(world: World) -> None:
    response = world.client.get(f"/api/v1/kpis/stores/{world.store_a}", headers=world.as_("store_manager"))
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["store"]["id"] == world.store_a
    assert (report["period"], report["currency"], report["active_days"]) == ("day", "CNY", 90)
    assert len(report["series"]) == 30
    summary = report["summary"]
    assert summary["tickets"] >= 1
    assert summary["sales"]["currency"] == "CNY"
    assert summary["sales"]["amount"].count(".") == 1  # a decimal string, never a float
    assert isinstance(summary["member_sales_share"], str)
    today = report["series"][-1]
    assert today["points_issued"] >= 100
    (sleepy,) = [m for m in report["sleeping"]["members"] if m["name"] == "Sleepy"]
    assert (sleepy["phone"], sleepy["pii_masked"], sleepy["tier"]) == ("+8613833334444", False, "silver")
    assert report["sleeping"]["rule"] == "tier"
    assert sleepy["net_spend"] == {"amount": "3000.00", "currency": "CNY"}


def test_contact_data_is_masked_for_chain_roles_without_it(world: World) -> None:
    report = world.client.get("/api/v1/kpis", headers=world.as_("analyst")).json()
    assert report["store"] is None
    (sleepy,) = [m for m in report["sleeping"]["members"] if m["name"] == "Sleepy"]
    assert (sleepy["phone"], sleepy["pii_masked"]) == ("+86138****4444", True)


def test_store_managers_read_their_own_stores_only(world: World) -> None:
    manager = world.as_("store_manager")
    assert world.client.get(f"/api/v1/kpis/stores/{world.store_b}", headers=manager).status_code == 403
    assert world.client.get("/api/v1/kpis", headers=manager).status_code == 403
    assert world.client.get("/api/v1/kpis", headers=world.as_("cashier")).status_code == 403
    missing = world.client.get("/api/v1/kpis/stores/99999", headers=world.as_("admin"))
    assert (missing.status_code, missing.json()["code"]) == (404, "STORE_NOT_FOUND")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "year"}, "query.period"),
        ({"from": "2026-02-30"}, "query.from"),
        ({"from": "2026-03-31", "to": "2026-03-01"}, "query.from"),
        ({"to": "2999-01-01"}, "query.to"),
        ({"from": "2020-01-01", "to": "2026-03-01"}, "query.from"),
        ({"active_days": "0"}, "query.active_days"),
        ({"sleeping": "500"}, "query.sleeping"),
        ({"form": "2026-03-01"}, "query.form"),
    ],
)
def test_a_bad_query_is_a_422_naming_its_field(world: World, params: dict[str, str], field: str) -> None:
    response = world.client.get("/api/v1/kpis", params=params, headers=world.as_("admin"))
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_weeks_and_months_from_the_api(world: World) -> None:
    weeks = world.client.get(
        "/api/v1/kpis",
        params={"period": "week", "from": "2026-03-04", "to": "2026-03-31"},
        headers=world.as_("admin"),
    ).json()
    assert (weeks["start"], weeks["end"], len(weeks["series"])) == ("2026-03-02", "2026-03-31", 5)
    months = world.client.get(
        "/api/v1/kpis", params={"period": "month"}, headers=world.as_("marketer")
    ).json()
    assert len(months["series"]) == 12
    assert months["start"].endswith("-01")


# --- the CLI ------------------------------------------------------------------------------------------


@pytest.fixture
def database(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("LOYALTY_DATABASE_URL", world.url)
    get_settings.cache_clear()
    yield world.url
    get_settings.cache_clear()


def test_the_cli_prints_a_stores_report_with_phones_masked(world: World, database: str) -> None:
    result = CliRunner().invoke(cli, ["kpis", "store", "S001", "--period", "week"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["store"]["code"], report["period"], len(report["series"])) == ("S001", "week", 12)
    assert report["summary"]["sales_minor"] >= 10_000
    (sleepy,) = [m for m in report["sleeping"]["members"] if m["name"] == "Sleepy"]
    assert sleepy["phone"] == "+86138****4444"
    shown = json.loads(CliRunner().invoke(cli, ["kpis", "store", str(world.store_a), "--contacts"]).stdout)
    assert "+8613833334444" in {m["phone"] for m in shown["sleeping"]["members"]}


def test_the_cli_names_the_bad_option(world: World, database: str) -> None:
    for args, option in (
        (["kpis", "chain", "--from", "2026-02-30"], "--from"),
        (["kpis", "chain", "--from", "2026-03-31", "--to", "2026-03-01"], "--from"),
        (["kpis", "chain", "--period", "year"], "--period"),
        (["kpis", "store", "NOPE"], "STORE"),
    ):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert option in result.output, (args, result.output)
    chain = json.loads(CliRunner().invoke(cli, ["kpis", "chain", "--sleeping", "0"]).stdout)
    assert chain["store"] is None
    assert chain["sleeping"]["members"] == []


def test_a_regions_report_from_the_api_and_the_cli(world: World, database: str) -> None:
    from loyalty.services import merchants
    from loyalty.services.merchants import StoreChanges

    merchants.update_store(world.ctx, world.store_a, StoreChanges(region="华东"))
    response = world.client.get("/api/v1/kpis", params={"region": "华东"}, headers=world.as_("analyst"))
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["region"], report["store"]) == ("华东", None)
    alone = world.client.get(f"/api/v1/kpis/stores/{world.store_a}", headers=world.as_("analyst")).json()
    assert report["summary"]["sales"] == alone["summary"]["sales"]  # the region's one store
    assert report["summary"]["coupon_discount"]["currency"] == "CNY"
    nowhere = world.client.get("/api/v1/kpis", params={"region": "Atlantis"}, headers=world.as_("analyst"))
    assert (nowhere.status_code, nowhere.json()["code"]) == (404, "REGION_NOT_FOUND")
    managers = world.client.get("/api/v1/kpis", params={"region": "华东"}, headers=world.as_("store_manager"))
    assert managers.status_code == 403  # a chain-wide report
    result = CliRunner().invoke(cli, ["kpis", "chain", "--region", "华东", "--period", "week"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["region"] == "华东"


# --- the KPIs by staff ------------------------------------------------------------------------------


def test_kpis_by_staff_on_the_wire(world: World) -> None:
    """Who rang the module's sales: the POS key's KPI-1 names nobody; a cashier's own sale is theirs."""
    body = purchase_body(world.store_a, world.member_a["id"], "KPI-STAFF", price="50.00")
    body["occurred_at"] = datetime.now(UTC).isoformat()
    assert world.client.post("/api/v1/purchases", json=body, headers=world.as_("cashier")).status_code == 201
    mine = world.client.get("/api/v1/kpis/staff", headers=world.as_("store_manager"))
    assert mine.status_code == 200, mine.text
    report = mine.json()
    assert (report["store_ids"], report["store"]["id"], report["currency"]) == (
        [world.store_a],
        world.store_a,
        "CNY",
    )
    rows = {r["staff"]: r for r in report["staff"]}
    assert report["staff"][-1]["staff"] is None  # nobody named: last
    cashier = rows["cashier1"]
    assert (cashier["tickets"], cashier["member_tickets"]) == (1, 1)
    assert cashier["net_sales"]["currency"] == "CNY"
    assert isinstance(cashier["member_sales_share"], str)  # a decimal string, never a float
    assert rows[None]["tickets"] >= 1  # KPI-1, posted by the POS key
    chain = world.client.get("/api/v1/kpis/staff", headers=world.as_("analyst")).json()
    assert (chain["store"], chain["store_ids"]) == (None, None)
    assert {r["staff"] for r in chain["staff"]} >= {"cashier1", None}
    other = world.client.get(
        "/api/v1/kpis/staff", params={"store": world.store_b}, headers=world.as_("store_manager")
    )
    assert other.status_code == 403
    for params, field in (
        ({"from": "2026-02-30"}, "query.from"),
        ({"to": "2999-01-01"}, "query.to"),
        ({"to": "0001-01-01"}, "query.to"),
        ({"from": "1900-01-01", "to": "2026-03-01"}, "query.from"),
        ({"period": "day"}, "query.period"),
    ):
        refused = world.client.get("/api/v1/kpis/staff", params=params, headers=world.as_("admin"))
        assert refused.status_code == 422, (params, refused.text)
        assert [e["field"] for e in refused.json()["errors"]] == [field]
    missing = world.client.get("/api/v1/kpis/staff", params={"store": 99_999}, headers=world.as_("admin"))
    assert (missing.status_code, missing.json()["code"]) == (404, "STORE_NOT_FOUND")


def test_kpis_by_staff_from_the_cli(world: World, database: str) -> None:
    result = CliRunner().invoke(cli, ["kpis", "staff", "--store", "S001"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["store"]["code"], report["store_ids"]) == ("S001", [world.store_a])
    assert all(isinstance(r["net_sales_minor"], int) for r in report["staff"])
    whole = json.loads(CliRunner().invoke(cli, ["kpis", "staff", "--from", "2026-03-01"]).stdout)
    assert (whole["start"], whole["store_ids"]) == ("2026-03-01", None)
    for args, option in (
        (["kpis", "staff", "--store", "NOPE"], "--store"),
        (["kpis", "staff", "--from", "2026-02-30"], "--from"),
        (["kpis", "staff", "--to", "2999-01-01"], "--to"),
        (["kpis", "staff", "--from", "2026-03-31", "--to", "2026-03-01"], "--from"),
    ):
        refused = CliRunner().invoke(cli, args)
        assert refused.exit_code == 2, (args, refused.output)
        assert option in refused.output, (args, refused.output)


def test_the_cli_registers_who_signed_a_member_up(world: World, database: str) -> None:
    result = CliRunner().invoke(
        cli, ["members", "register", "+8613899990001", "CLI 会员", "--store-id", str(world.store_a),
              "--registered-by", "SH01-C3"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["registered_by"] == "SH01-C3"
    refused = CliRunner().invoke(
        cli, ["members", "register", "+8613899990002", "X", "--registered-by", " C3"]
    )
    assert refused.exit_code == 1
    assert json.loads(refused.stderr)["details"]["errors"][0]["field"] == "registered_by"
