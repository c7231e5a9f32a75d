"""Every console and portal page, as each role reaches it, checked by axe-core in real headless Chromium
against the WCAG 2.1 A and AA rules; any violation fails, named by page, rule and element.

The pages are enumerated from the app's routes (every GET under /console and /m), their path parameters
filled from the seeded world, so a page added later is checked without touching this file — a parameter
this file cannot fill fails the test with its name. Pages a role may not open (403) are left to the
role × route matrix (tests/web/test_console.py), downloads (CSV, xlsx) and htmx fragments to the pages
that show them; the login, code, search-result and error pages are checked besides.

axe-core is vendored in tests/web/vendor (MPL-2.0, unmodified, see its README) and injected as an init
script, which the pages' Content-Security-Policy does not govern. The markup does not depend on the
database, so this runs on SQLite only; the journeys in test_console_browser.py and
test_portal_browser.py run on both backends.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from loyalty.services import members as members_service
from loyalty.services import purchases as purchases_service
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn, ReturnIn
from tests.api.api_world import PASSWORD, World, world_on
from tests.api.live_server import serve
from tests.api.routes import app_routes
from tests.web.test_portal import _code

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core-4.14.1.min.js"
#: the WCAG 2.0 and 2.1 success criteria of levels A and AA, as axe-core tags its rules
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
STAFF = ("admin1", "marketer1", "store_manager1", "cashier1", "analyst1", "auditor1")
CONSOLE_SIZE = {"width": 1024, "height": 768}
PHONE_SIZE = {"width": 390, "height": 844}
_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")

RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {
    runOnly: {type: 'tag', values: tags},
    resultTypes: ['violations'],
  });
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => ({target: n.target.join(' '), summary: n.failureSummary || ''})),
  }));
}"""

#: whether the page asks for more once shown (htmx triggers that fire without the user)
LOADS_MORE = """() => document.querySelector(
  '[hx-trigger*="load"], [hx-trigger*="revealed"], [hx-trigger*="intersect"]') !== null"""


# --- the world's data, and the values of the routes' path parameters --------------------------------


def _seed(world: World) -> None:
    """Purchases over the past year for a few members (tables with rows, charts with points), a return,
    and the analytics refresh, so each page shows what a chain's would."""
    now = world.ctx.now()
    buyers = [world.member_a["id"]]
    for n in range(12):
        member = members_service.register_member(
            world.ctx,
            MemberIn(phone=f"+86136{n:08d}", name=f"A11y {n}", registration_store_id=world.store_a),
        )
        buyers.append(member.id)
    for i, member_id in enumerate(buyers):
        for k in range(1 + i % 4):
            purchases_service.post_purchase(
                world.ctx,
                PurchaseIn(
                    store_id=world.store_a,
                    order_id=f"A11Y-{member_id}-{k}",
                    occurred_at=now - timedelta(days=20 + 37 * k + 11 * i),
                    member_id=member_id,
                    currency="CNY",
                    staff=None if k == 2 else f"S001-C{k + 1}",  # the staff table's two kinds of row
                    lines=[
                        PurchaseLineIn(sku="SKU-1", category="apparel", quantity=1, unit_price_minor=25_900),
                        PurchaseLineIn(sku="SKU-2", category="shoes", quantity=2, unit_price_minor=8_950),
                    ],
                ),
            )
    purchases_service.post_purchase(
        world.ctx,
        PurchaseIn(
            store_id=world.store_b,
            order_id="A11Y-B",
            occurred_at=now - timedelta(days=3),
            member_id=world.member_b["id"],
            currency="CNY",
            lines=[PurchaseLineIn(sku="SKU-1", quantity=1, unit_price_minor=12_000)],
        ),
    )
    purchases_service.post_return(
        world.ctx,
        ReturnIn(
            store_id=world.store_a,
            return_id="A11Y-R",
            order_id=f"A11Y-{world.member_a['id']}-0",
            occurred_at=now - timedelta(days=10),
            refund_minor=5_000,
        ),
    )
    # every tier's services (badges on the cards and the ladder), and a reward for 钻石 only (locked in
    # the portal, its tiers in the marketer's catalogue)
    from loyalty.domain.programme.rewards import RewardTerms
    from loyalty.services import programme_settings, tiers
    from loyalty.services.rewards.catalog import define_reward

    for tier in tiers.list_tiers(world.ctx):
        changes = programme_settings.TierChanges(services=["vip_lane", "free_parking"])
        programme_settings.update_tier(world.ctx, tier.id, changes)
    lounge = RewardTerms(code="a11y-lounge", name="贵宾室", kind="service", points=100, tiers=("diamond",))
    define_reward(world.ctx, lounge)
    from loyalty.analytics.errors import AnalyticsError
    from loyalty.domain.actors import SYSTEM
    from loyalty.services import jobs

    # run as a job, as the console's refresh button does: the jobs pages list it and show its progress
    with suppress(AnalyticsError):  # too little history for a model: the pages say so, also checked
        jobs.run_now(world.ctx, jobs.ANALYTICS_REFRESH, SYSTEM)
    from loyalty.domain.errors import DomainError

    # the members' clusters, so the clusters page shows its cards and chart and the member page its cluster
    with suppress(AnalyticsError, DomainError):
        jobs.run_now(world.ctx, jobs.MEMBER_CLUSTERS, SYSTEM)
    # the recommender, so its page shows its settings and the member page the member's recommendations
    with suppress(AnalyticsError, DomainError):
        jobs.run_now(world.ctx, jobs.RECOMMENDATIONS, SYSTEM)
    # the churn model, so its page shows the AUCs, the ROC chart and the members at risk, and the
    # member page the member's risk (45 days: the seeded year is enough for a check two horizons back)
    with suppress(AnalyticsError, DomainError):
        jobs.run_now(world.ctx, jobs.CHURN_MODEL, SYSTEM, params={"horizon_days": 45})
    # the basket rules (the seeded sales span some 260 days), so the basket page shows its stored table
    jobs.run_now(world.ctx, jobs.BASKET_RULES, SYSTEM, params={"days": 400})
    # this month's store targets, so the tracking page shows its tables, chart, league and alerts
    from loyalty.services import targets

    targets.set_plan(world.ctx, targets.this_month(world.ctx), "sales", 1_000_000, SYSTEM, method="equal")


def _first_job(world: World) -> str:
    from loyalty.services import jobs

    listed = jobs.list_jobs(world.ctx, limit=1)
    assert listed, "no job to show: a {job_id} page needs one (the seeding should run one)"
    return str(listed[0].id)


def _second_tier(world: World) -> str:
    from loyalty.services import tiers

    return str(sorted(tiers.list_tiers(world.ctx), key=lambda t: t.rank)[1].id)  # one with a threshold


def _a_flag(world: World) -> str:
    """An open anomaly flag about member A (and a member whose redemptions are suspended, so the queue
    shows its table of suspensions too), made once."""
    from tests.anomalies.helpers import flag_for, suspended_member

    cache = world.__dict__.setdefault("_a11y", {})
    if "flag" not in cache:
        suspended_member(world.ctx, world.store_a)
        cache["flag"] = flag_for(world.ctx, world.member_a["id"], world.store_a)
    return str(cache["flag"])


#: a path parameter's value from the world; a route with a parameter not named here fails the test
PARAMS: dict[str, Callable[[World], str]] = {
    "member_id": lambda w: str(w.member_a["id"]),
    "store_id": lambda w: str(w.store_a),
    "merchant_id": lambda w: str(w.merchant_id),
    "staff_id": lambda w: str(w.staff_ids["cashier"]),
    "user_id": lambda w: str(w.staff_ids["cashier"]),
    "job_id": _first_job,
    "tier_id": _second_tier,
    "flag_id": _a_flag,
}


def page_paths(world: World, *, portal: bool) -> tuple[list[str], list[str]]:
    """(the GET pages of the console or the portal with their parameters filled, the routes that
    name a parameter PARAMS has no value for)."""
    paths, unknown = [], []
    for method, template in sorted(app_routes(world.app, console=not portal, portal=portal)):
        if method != "GET":
            continue
        names = [m.group(1) for m in _PARAM.finditer(template)]
        missing = [n for n in names if n not in PARAMS]
        if missing:
            unknown.append(f"{template}: {', '.join(missing)}")
            continue
        paths.append(_PARAM.sub(lambda m: PARAMS[m.group(1)](world), template))
    return paths, unknown


# --- the browser ----------------------------------------------------------------------------------


@dataclass
class Audit:
    """Violations found so far, one line per page × rule × element."""

    found: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    def page(self, who: str, page: Page, label: str | None = None) -> None:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        # a page that loads more (htmx on load, on reveal) gets the time to settle; one that polls never
        # idles, and is checked as it stands. Any other page is whole once loaded (its scripts are
        # deferred and fetch nothing), so it does not wait out the half second "network idle" takes.
        page.wait_for_load_state("load")
        if page.evaluate(LOADS_MORE):
            with suppress(PlaywrightTimeout):
                page.wait_for_load_state("networkidle", timeout=3_000)
        where = label or page.url.split("://", 1)[-1].split("/", 1)[-1]
        self.checked.append(f"{who} /{where.lstrip('/')}")
        for rule in page.evaluate(RUN_AXE, WCAG_TAGS):
            for node in rule["nodes"]:
                summary = " ".join(node["summary"].split())
                self.found.append(
                    f"{who} /{where.lstrip('/')}: {rule['id']} ({rule['impact']}) {rule['help']} — "
                    f"{node['target']}: {summary}"
                )

    def report(self) -> str:
        return f"{len(self.found)} WCAG 2.1 A/AA violations:\n" + "\n".join(self.found)


def _context(browser: Browser, *, locale: str = "zh-CN", phone: bool = False) -> BrowserContext:
    context = browser.new_context(locale=locale, viewport=PHONE_SIZE if phone else CONSOLE_SIZE)
    context.set_default_timeout(15_000)
    context.add_init_script(path=str(AXE))
    return context


def _open(page: Page, url: str, who: str) -> bool:
    """Open `url` in `page` if it is a page `who` may see: False for another role's page (403), a
    download (asked for first, outside the page: a browser does not render a CSV or an xlsx) and an
    htmx fragment (no doctype: it is checked inside the page that shows it). Any other answer but 200
    fails the test: every parameter names existing data."""
    asked = page.context.request.get(url)
    kind = asked.headers.get("content-type", "")
    if asked.status == 403:
        return False
    assert asked.status == 200, f"{who} GET {url} answered {asked.status}"
    if not kind.startswith("text/html"):
        return False
    response = page.goto(url)
    assert response is not None
    assert response.status == 200, f"{who} GET {url} answered {response.status}"
    return bool(page.evaluate("document.doctype !== null"))


def _staff_login(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/console/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/console(?!/login)"))


@pytest.fixture(scope="module")
def a11y_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_on("sqlite", tmp_path_factory.mktemp("a11y")) as world:
        _seed(world)
        yield world


@pytest.fixture(scope="module")
def base_url(a11y_world: World) -> Iterator[str]:
    with serve(a11y_world.app) as base:
        yield base


def test_every_page_parameter_has_a_value(a11y_world: World) -> None:
    for portal in (False, True):
        _, unknown = page_paths(a11y_world, portal=portal)
        assert unknown == [], f"add a value for these path parameters to PARAMS: {unknown}"


@pytest.mark.parametrize("username", STAFF)
def test_each_roles_console_pages_pass_axe(
    a11y_world: World, base_url: str, browser: Browser, username: str
) -> None:
    paths, _ = page_paths(a11y_world, portal=False)
    audit = Audit()
    context = _context(browser)
    page = context.new_page()
    try:
        _staff_login(page, base_url, username)
        seen: set[str] = set()
        for path in paths:  # another role's page (403) is left to the matrix test
            if not _open(page, f"{base_url}{path}", username) or page.url in seen:
                continue
            seen.add(page.url)
            audit.page(username, page)
    finally:
        context.close()
    assert audit.checked, f"{username} reached no console page"
    assert audit.found == [], audit.report()


def test_the_console_login_search_and_error_pages_pass_axe(
    a11y_world: World, base_url: str, browser: Browser
) -> None:
    audit = Audit()
    for locale in ("zh-CN", "en"):
        context = _context(browser, locale=locale)
        page = context.new_page()
        try:
            page.goto(f"{base_url}/console/login")
            audit.page(f"visitor[{locale}]", page)
            page.fill("#username", "cashier1")
            page.fill("#password", "not-the-password")
            page.keyboard.press("Enter")
            page.locator("#login-error").wait_for()
            audit.page(f"visitor[{locale}]", page, "console/login (wrong password)")
            _staff_login(page, base_url, "cashier1")
            page.fill("#q", "+8613999999999")  # no member: the page offers to register the phone
            page.keyboard.press("Enter")
            page.locator("#reg-name").wait_for()
            audit.page(f"cashier1[{locale}]", page, "console/find (none, register)")
            page.goto(f"{base_url}/console")
            page.fill("#q", "A11y")  # a name: a list of members to choose from
            page.keyboard.press("Enter")
            page.wait_for_url(re.compile(r"/console/find"))
            audit.page(f"cashier1[{locale}]", page, "console/find (several)")
            for path, status in (("/console/admin/staff", 403), ("/console/members/999999", 404)):
                response = page.goto(f"{base_url}{path}")
                assert response is not None
                assert response.status == status, (path, response.status)
                audit.page(f"cashier1[{locale}]", page, f"{path} ({status})")
        finally:
            context.close()
    assert audit.found == [], audit.report()


def test_the_member_portal_pages_pass_axe(a11y_world: World, base_url: str, browser: Browser) -> None:
    paths, _ = page_paths(a11y_world, portal=True)
    audit = Audit()
    # a member per language: a phone may ask for one code a minute
    for locale, phone in (("zh-CN", "+8613800000001"), ("en", "+8613600000001")):
        context = _context(browser, locale=locale, phone=True)
        page = context.new_page()
        who = f"member[{locale}]"
        try:
            page.goto(f"{base_url}/m/login")
            audit.page(who, page)
            page.fill("#phone", phone)
            page.keyboard.press("Enter")
            page.locator("#code").wait_for()
            audit.page(who, page, "m/login (code)")
            page.fill("#code", "000000" if _code(a11y_world, phone) != "000000" else "111111")
            page.keyboard.press("Enter")  # a wrong code: the page with its error
            page.locator("#code-error").wait_for()
            audit.page(who, page, "m/login/verify (wrong code)")
            page.fill("#code", _code(a11y_world, phone))
            page.keyboard.press("Enter")
            page.wait_for_url(re.compile(r"/m$"))
            seen: set[str] = set()
            for path in paths:
                if not _open(page, f"{base_url}{path}", who) or page.url in seen:
                    continue
                seen.add(page.url)
                audit.page(who, page)
        finally:
            context.close()
    assert audit.found == [], audit.report()


def test_the_checker_sees_a_violation(a11y_world: World, base_url: str, browser: Browser) -> None:
    """The harness can fail: the login page with its username label taken away and grey-on-white text."""
    context = _context(browser)
    page = context.new_page()
    try:
        page.goto(f"{base_url}/console/login")
        page.evaluate(
            """() => {
              document.querySelector('label[for=username]').remove();
              document.querySelector('h1').style.color = '#bbb';
            }"""
        )
        audit = Audit()
        audit.page("visitor", page)
    finally:
        context.close()
    rules = {line.split(": ", 1)[1].split(" ", 1)[0] for line in audit.found}
    assert {"label", "color-contrast"} <= rules, audit.report()


def test_the_basket_pages_other_states_pass_axe(a11y_world: World, base_url: str, browser: Browser) -> None:
    """The basket page's states that the routes' enumeration does not reach: rules mined now for a
    custom scope, a refused custom question (errors beside its inputs), stored rules filtered to
    nothing, and the stored categories."""
    audit = Audit()
    context = _context(browser, locale="en")
    page = context.new_page()
    try:
        _staff_login(page, base_url, "analyst1")
        for query, status in (
            ("?min_support=0.1&min_confidence=0.1", 200),
            ("?min_support=0&from=x", 422),
            ("?contains=nothing-like-this", 200),
            ("?level=category&sort=confidence", 200),
        ):
            response = page.goto(f"{base_url}/console/analytics/basket{query}")
            assert response is not None
            assert response.status == status, query
            audit.page("analyst1", page, f"console/analytics/basket{query}")
        assert page.locator("#stored-rules").count() == 1  # the seeding's job stored rules to show
    finally:
        context.close()
    assert audit.found == [], audit.report()
