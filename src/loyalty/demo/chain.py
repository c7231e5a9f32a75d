"""`loyalty demo`: generate the chain, import it through the real import path, run the jobs, serve.

The demo is deliberately built with the same commands a real chain's migration uses (stores, then
members, purchases, returns and opening balances from POS-style files), so whatever the demo shows —
tiers, points, expiry, history — was produced by the product's real rules.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

from loyalty.bootstrap import Context
from loyalty.db.core_tables import members, merchants, stores
from loyalty.demo.fraud import plant_for_demo
from loyalty.demo.generator import ChainSpec, generate, history_start, write_files
from loyalty.demo.programme import DEMO_STREAK, define_demo_programme
from loyalty.domain.actors import Actor
from loyalty.i18n import marker, translator
from loyalty.imports.report import Summary
from loyalty.imports.runner import ImportOptions, import_file
from loyalty.services.seed import DEMO_TIERS  # the café ladder, also `loyalty programme init`'s

_ = translator("cli")
N_ = marker("cli")
#: the sales channels, as the headlines name them
CHANNEL_NAMES = {
    "store": N_("in store"),
    "online": N_("online"),
    "mini_program": N_("mini-program"),
    "delivery": N_("delivery"),
}
#: each imported file's rows, as the demo's progress lines name them
KIND_NAMES = {
    "members": N_("members"),
    "purchases": N_("purchases"),
    "returns": N_("returns"),
    "balances": N_("balances"),
}

DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password-change-me"  # noqa: S105 - printed to the person running the demo
#: a till's login for the demo's first store (the console's cashier journey), same password
DEMO_CASHIER = "cashier"


#: who the demo's jobs are recorded as (the console's jobs page lists them)
DEMO_ACTOR = Actor(kind="system", id="demo", role="system")


@dataclass(frozen=True)
class DemoLogin:
    """A staff account the demo creates and prints, so that each role's pages can be tried at once."""

    username: str
    role: str
    #: scoped to the chain's first store (a till and its manager), else the whole chain
    first_store: bool = False


#: one login per role, all with DEMO_PASSWORD; the admin is `demo` (the name `admin` is left for the
#: README's first steps, which create it)
DEMO_LOGINS = (
    DemoLogin(DEMO_USER, "admin"),
    DemoLogin("marketer", "marketer"),
    DemoLogin("manager", "store_manager", first_store=True),
    DemoLogin(DEMO_CASHIER, "cashier", first_store=True),
    DemoLogin("analyst", "analyst"),
    DemoLogin("auditor", "auditor"),
)
#: the roles as the demo's logins table names them
ROLE_NAMES = {
    "admin": N_("administrator"),
    "marketer": N_("marketer"),
    "store_manager": N_("store manager"),
    "cashier": N_("cashier"),
    "analyst": N_("analyst"),
    "auditor": N_("auditor"),
}


@dataclass
class DemoOptions:
    # The full size: 20,000 members x 18 months (~230k orders, ~545k lines). Purchases are
    # posted set-based (`services.posting.set_based`, same rules as live); returns and opening balances go
    # through the core's own routines, a batch per transaction. The build takes ~25 s on two cores.
    members: int = 20_000
    months: int = 18
    seed: int = 7
    reset: bool = False
    data_dir: Path = Path("var/demo-data")
    host: str = "127.0.0.1"
    port: int = 8000
    progress: bool | None = None


@dataclass
class Headlines:
    members: int = 0
    by_tier: dict[str, int] = field(default_factory=dict)
    points_liability: int = 0
    active_rate: float = 0.0
    purchases: int = 0
    returns: int = 0
    anonymous: int = 0  # sales without a member
    by_channel: dict[str, int] = field(default_factory=dict)


@dataclass
class DemoMember:
    """The member the demo offers for the portal: phone to sign in with, card and tier to recognise."""

    phone: str
    name: str
    card_no: str | None


@dataclass
class DemoResult:
    database_url: str
    built: bool
    seconds: float
    summaries: list[Summary]
    headlines: Headlines
    #: the first store's code (where the scoped logins work); None in an empty chain
    first_store: str | None = None
    member: DemoMember | None = None


def ensure_stores(ctx: Context, rows: list[dict[str, str]]) -> dict[str, int]:
    """Create the chain's stores under the default merchant (idempotent on store code)."""
    out: dict[str, int] = {}
    with ctx.engine.begin() as conn:
        merchant_id = conn.execute(select(merchants.c.id).order_by(merchants.c.id).limit(1)).scalar_one()
        for row in rows:
            sid = conn.execute(select(stores.c.id).where(stores.c.code == row["code"])).scalar()
            if sid is None:
                sid = conn.execute(
                    insert(stores)
                    .values(
                        merchant_id=merchant_id,
                        code=row["code"],
                        name=row["name"],
                        city=row.get("city"),
                        timezone=row["timezone"],
                        created_at=ctx.now(),
                    )
                    .returning(stores.c.id)
                ).scalar_one()
            out[row["code"]] = int(sid)
    return out


def headlines(ctx: Context) -> Headlines:
    """Members by tier, points liability (points members hold), and the 90-day active rate."""
    now = ctx.now()
    with ctx.engine.connect() as conn:
        h = Headlines()
        h.members = int(conn.execute(select(func.count()).select_from(members)).scalar_one())
        rows = conn.execute(
            text(
                "SELECT t.name, count(m.id) FROM tiers t LEFT JOIN members m ON m.tier_id = t.id "
                "GROUP BY t.name, t.rank ORDER BY t.rank"
            )
        ).all()
        h.by_tier = {str(r[0]): int(r[1]) for r in rows}
        h.points_liability = int(
            conn.execute(
                text("SELECT coalesce(sum(balance), 0) FROM accounts WHERE kind = 'member'")
            ).scalar_one()
        )
        active = conn.execute(
            text("SELECT count(DISTINCT member_id) FROM purchases WHERE occurred_at > :since"),
            {"since": now - timedelta(days=90)},
        ).scalar_one()
        h.active_rate = (int(active) / h.members) if h.members else 0.0
        h.purchases = int(conn.execute(text("SELECT count(*) FROM purchases")).scalar_one())
        h.returns = int(conn.execute(text("SELECT count(*) FROM returns")).scalar_one())
        h.anonymous = int(
            conn.execute(text("SELECT count(*) FROM purchases WHERE member_id IS NULL")).scalar_one()
        )
        rows = conn.execute(
            text("SELECT channel, count(*) FROM purchases GROUP BY channel ORDER BY count(*) DESC")
        ).all()
        h.by_channel = {str(r[0]): int(r[1]) for r in rows}
    return h


def _reset_sqlite(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        raise ValueError("--reset only deletes SQLite demo files; point it at an empty PostgreSQL database")
    for suffix in ("", "-wal", "-shm"):
        Path(parsed.database + suffix).unlink(missing_ok=True)


def build_demo(
    options: DemoOptions, console: Console | None = None, database_url: str | None = None
) -> DemoResult:
    """Build the chain into `database_url` (settings by default) unless it already holds one."""
    from loyalty.config import get_settings
    from loyalty.db.migrate import upgrade
    from loyalty.services import jobs
    from loyalty.services.seed import ensure_programme

    console = console or Console()
    url = database_url or get_settings().database_url
    started = time.perf_counter()
    if options.reset:
        _reset_sqlite(url)
    ctx = Context.from_url(url)
    upgrade(ctx.engine)
    with ctx.engine.connect() as conn:
        populated = conn.execute(select(func.count()).select_from(members)).scalar_one() > 0
    if populated:
        console.print(_("[dim]database already holds a chain; use --reset to rebuild it[/]"))
        _ensure_demo_login(ctx)  # a chain built by an earlier demo may lack some roles' logins
        if not _scored(ctx):
            _refresh_analytics(ctx, console)
        elif not _rules_stored(ctx):  # a chain built before the basket rules were stored
            _mine_basket_rules(ctx, console)
        _plan_targets(ctx, console)  # this month's targets, once a month (none set yet)
        _ratings(ctx, console, options.seed)  # a chain built before members rated their purchases
        return _result(ctx, url, False, time.perf_counter() - started, [])
    ensure_programme(ctx, tier_ladder=DEMO_TIERS)
    spec = ChainSpec(members=options.members, months=options.months, seed=options.seed, end=ctx.now().date())
    with console.status(_("generating the chain…")):
        data = generate(spec)
        files = write_files(data, options.data_dir)
    ensure_stores(ctx, data.stores.to_pylist())
    define_demo_programme(ctx, history_start(spec), extra=[DEMO_STREAK])
    summaries = []
    for kind, path in (
        ("members", files.members),
        ("purchases", files.purchases),
        ("returns", files.returns),
        ("balances", files.balances),
    ):
        summary = import_file(ctx, kind, path, ImportOptions(progress=options.progress), console=console)
        summaries.append(summary)
        done = _(
            "imported {imported} of {read} {kind} rows",
            imported=f"{summary.imported:,}",
            read=f"{summary.read:,}",
            kind=_(KIND_NAMES[kind]),
        )
        if summary.rejected:
            done += _(
                " ([red]{rejected} rejected[/], see {path})",
                rejected=f"{summary.rejected:,}",
                path=summary.reject_file,
            )
        console.print(done)
    with console.status(_("running the points expiry and tier jobs…")):
        for kind in (jobs.POINTS_EXPIRY, jobs.TIER_EVALUATION):
            jobs.run_now(ctx, kind, DEMO_ACTOR, actor_name=DEMO_ACTOR.id)
    _refresh_analytics(ctx, console)
    _coupon_campaigns(ctx, console)
    _rewards(ctx, console)
    plant_for_demo(ctx, console)  # the anomaly review queue: `loyalty.demo.fraud`
    _plan_targets(ctx, console)
    _ratings(ctx, console, options.seed)
    _ensure_demo_login(ctx)
    return _result(ctx, url, True, time.perf_counter() - started, summaries)


def _coupon_campaigns(ctx: Context, console: Console) -> None:
    """Coupons issued to RFM segments three weeks ago, a third of them used since (`demo.coupons`)."""
    from loyalty.demo.coupons import run_campaigns
    from loyalty.domain.errors import DomainError

    with console.status(_("issuing coupons to RFM segments and using some of them…")):
        try:
            counts = run_campaigns(ctx)
        except DomainError as exc:
            console.print(_("[yellow]no coupon campaign: {reason}[/]", reason=exc.message))
            return
    console.print(_("{issued} coupons issued to RFM segments, {used} used since", **counts))


def _rewards(ctx: Context, console: Console) -> None:
    """A rewards catalogue two weeks old, and members' orders since (`demo.rewards`)."""
    from loyalty.demo.rewards import stock_the_catalogue
    from loyalty.domain.errors import DomainError

    with console.status(_("stocking the rewards catalogue and placing members' orders…")):
        try:
            made = stock_the_catalogue(ctx)
        except DomainError as exc:
            console.print(_("[yellow]no rewards catalogue: {reason}[/]", reason=exc.message))
            return
    console.print(_("{rewards} rewards in the catalogue, {orders} ordered with points", **made))


def _plan_targets(ctx: Context, console: Console) -> None:
    """This month's store targets, for the tracking page (`demo.targets`); kept when set already."""
    from loyalty.demo.targets import plan_the_month
    from loyalty.domain.errors import DomainError

    try:
        made = plan_the_month(ctx)
    except DomainError as exc:
        console.print(_("[yellow]no store targets: {reason}[/]", reason=exc.message))
        return
    if made["plans"]:
        console.print(_("this month's store targets set ({plans} plans)", plans=made["plans"]))


def _ratings(ctx: Context, console: Console, seed: int) -> None:
    """Members' ratings of a share of their recent purchases (`demo.feedback`); kept when some exist."""
    from loyalty.demo.feedback import rate_recent_sales

    made = rate_recent_sales(ctx, seed)
    if made["ratings"]:
        console.print(_("{ratings} purchases rated by their members, {handled} low ratings handled", **made))


def _result(ctx: Context, url: str, built: bool, seconds: float, summaries: list[Summary]) -> DemoResult:
    first = _first_store(ctx)
    return DemoResult(
        url,
        built,
        seconds,
        summaries,
        headlines(ctx),
        first_store=first[1] if first else None,
        member=demo_member(ctx, first[0] if first else None),
    )


def _scored(ctx: Context) -> bool:
    from loyalty.db.analytics_tables import member_scores

    with ctx.engine.connect() as conn:
        return conn.execute(select(member_scores.c.member_id).limit(1)).first() is not None


def _refresh_analytics(ctx: Context, console: Console) -> None:
    """Score every member (RFM group, P(alive), CLV), so the console's analytics and member pages
    show figures on the first visit instead of asking for a refresh."""
    from loyalty.analytics.errors import AnalyticsError
    from loyalty.services import jobs

    with console.status(_("scoring the members (RFM, P(alive), CLV)…")):
        try:
            _job, result = jobs.run_now(ctx, jobs.ANALYTICS_REFRESH, DEMO_ACTOR, actor_name=DEMO_ACTOR.id)
        except AnalyticsError as exc:  # e.g. purchases in two currencies (recorded on the job too)
            console.print(_("[yellow]analytics not refreshed: {reason}[/]", reason=exc.message))
            return
    console.print(_("{count} members scored", count=f"{int(result.get('members_scored', 0)):,}"))
    _cluster_members(ctx, console)
    _recommend(ctx, console)
    _predict_churn(ctx, console)
    _mine_basket_rules(ctx, console)


def _rules_stored(ctx: Context) -> bool:
    from loyalty.db.basket_rule_tables import basket_rule_sets

    with ctx.engine.connect() as conn:
        return conn.execute(select(basket_rule_sets.c.id).limit(1)).first() is not None


def _mine_basket_rules(ctx: Context, console: Console) -> None:
    """Mine the basket rules of the chain and each store (the basket-rules job), so the console's
    basket page shows rules on the first visit."""
    from loyalty.domain.errors import DomainError
    from loyalty.services import jobs

    with console.status(_("mining the basket rules…")):
        try:
            _job, result = jobs.run_now(ctx, jobs.BASKET_RULES, DEMO_ACTOR, actor_name=DEMO_ACTOR.id)
        except DomainError as exc:  # recorded on the job too
            console.print(_("[yellow]basket rules not mined: {reason}[/]", reason=exc.message))
            return
    console.print(
        _(
            "{rules} basket rules stored for the chain and {stores} stores",
            rules=f"{int(result.get('rules_stored', 0)):,}",
            stores=int(result.get("stores", 0)),
        )
    )


def _cluster_members(ctx: Context, console: Console) -> None:
    """Group the members by behaviour (the member-clusters job), so the console's clusters page and
    the member pages show clusters on the first visit."""
    from loyalty.analytics.errors import AnalyticsError
    from loyalty.domain.errors import DomainError
    from loyalty.services import jobs

    with console.status(_("clustering the members…")):
        try:
            _job, result = jobs.run_now(ctx, jobs.MEMBER_CLUSTERS, DEMO_ACTOR, actor_name=DEMO_ACTOR.id)
        except (AnalyticsError, DomainError) as exc:  # too few members to cluster (recorded on the job too)
            console.print(_("[yellow]members not clustered: {reason}[/]", reason=exc.message))
            return
    console.print(
        _(
            "{count} members in {k} clusters",
            count=f"{int(result.get('members_clustered', 0)):,}",
            k=result.get("k", 0),
        )
    )


def _recommend(ctx: Context, console: Console) -> None:
    """Train the recommender (the recommendations job), so that the member pages show each member's
    recommendations and the recommender's page its figures on the first visit."""
    from loyalty.analytics.errors import AnalyticsError
    from loyalty.domain.errors import DomainError
    from loyalty.services import jobs

    with console.status(_("training the recommender…")):
        try:
            _job, result = jobs.run_now(ctx, jobs.RECOMMENDATIONS, DEMO_ACTOR, actor_name=DEMO_ACTOR.id)
        except (AnalyticsError, DomainError) as exc:  # nothing sold (recorded on the job too)
            console.print(_("[yellow]no recommendations made: {reason}[/]", reason=exc.message))
            return
    members_given = int(result.get("members", 0))
    console.print(_("recommendations for {count} members", count=f"{members_given:,}"))


def _churn_horizon(ctx: Context) -> int:
    """The churn model's 90 days, or a third of the history when it is shorter than three of them (a
    chain of a few months): the check needs two horizons of history before the last one."""
    from loyalty.db.core_tables import purchases

    with ctx.engine.connect() as conn:
        first = conn.execute(select(func.min(purchases.c.occurred_at))).scalar_one()
    if first is None:
        return 90
    first = first if first.tzinfo is not None else first.replace(tzinfo=ctx.now().tzinfo)
    return int(min(90, max(7, (ctx.now() - first).days // 3)))


def _predict_churn(ctx: Context, console: Console) -> None:
    """Train the churn model and score the members (the churn-model job), so that the console's churn
    page shows its AUCs and call-back list, and the member pages each member's risk, on the first visit."""
    from loyalty.analytics.errors import AnalyticsError
    from loyalty.domain.errors import DomainError
    from loyalty.services import jobs

    params = {"horizon_days": _churn_horizon(ctx)}
    with console.status(_("training the churn model…")):
        try:
            _job, result = jobs.run_now(
                ctx, jobs.CHURN_MODEL, DEMO_ACTOR, actor_name=DEMO_ACTOR.id, params=params
            )
        except (AnalyticsError, DomainError) as exc:  # too little history (recorded on the job too)
            console.print(_("[yellow]churn model not trained: {reason}[/]", reason=exc.message))
            return
    auc_model, auc_alive = result.get("auc_model"), result.get("auc_p_alive")
    console.print(
        _(
            "churn risk for {count} members (AUC {model}; P(alive) {alive})",
            count=f"{int(result.get('members_scored', 0)):,}",
            model="–" if auc_model is None else f"{auc_model:.3f}",
            alive="–" if auc_alive is None else f"{auc_alive:.3f}",
        )
    )


def _first_store(ctx: Context) -> tuple[int, str] | None:
    """The chain's first store with members (id, code): the store of the demo's till and manager
    logins. Not merely the lowest id: that is the programme's default store (S001), which the
    generated chain leaves empty, and a manager of it would see an empty dashboard."""
    with ctx.engine.connect() as conn:
        has_members = select(members.c.id).where(members.c.registration_store_id == stores.c.id).exists()
        first = select(stores.c.id, stores.c.code).order_by(stores.c.id).limit(1)
        row = conn.execute(first.where(has_members)).first() or conn.execute(first).first()
    return (int(row[0]), str(row[1])) if row else None


def demo_member(ctx: Context, store_id: int | None) -> DemoMember | None:
    """A member to try the portal with: active, of the first store, with points, on a tier that has
    one above it (so the card shows progress); the lowest such id, so every run names the same one."""
    from loyalty.db.core_tables import accounts, tiers

    top = select(func.max(tiers.c.rank)).scalar_subquery()
    base = (
        select(members.c.phone, members.c.name, members.c.card_no)
        .where(members.c.status == "active")
        .order_by(members.c.id)
        .limit(1)
    )
    wanted = (
        base.join_from(members, accounts, accounts.c.member_id == members.c.id)
        .join(tiers, tiers.c.id == members.c.tier_id)
        .where(accounts.c.balance > 0, tiers.c.rank < top)
    )
    if store_id is not None:
        wanted = wanted.where(members.c.registration_store_id == store_id)
    with ctx.engine.connect() as conn:
        row = conn.execute(wanted).first() or conn.execute(base).first()
    return DemoMember(str(row[0]), str(row[1]), row[2]) if row else None


def _ensure_demo_login(ctx: Context) -> None:
    """Create each of DEMO_LOGINS that does not exist yet (a rerun or a reused chain adds no twin)."""
    try:
        from loyalty.services import auth
    except ImportError:  # API not installed in this build
        return
    existing = {u.username for u in auth.list_staff(ctx)}
    first = _first_store(ctx)
    for login in DEMO_LOGINS:
        if login.username in existing or (login.first_store and first is None):
            continue
        auth.create_staff(
            ctx,
            username=login.username,
            password=DEMO_PASSWORD,
            role=login.role,
            store_ids=[first[0]] if login.first_store and first else [],
        )


def print_headlines(result: DemoResult, options: DemoOptions, console: Console) -> None:
    h = result.headlines
    seconds = f"{result.seconds:.1f}"
    title = (
        _("demo chain (built in {seconds} s)", seconds=seconds)
        if result.built
        else _("demo chain (reused in {seconds} s)", seconds=seconds)
    )
    table = Table(title=title)
    table.add_column(_("headline"))
    table.add_column(_("value"), justify="right")
    table.add_row(_("members"), f"{h.members:,}")
    for tier, count in h.by_tier.items():
        table.add_row(f"  {tier}", f"{count:,}")
    table.add_row(_("purchases / returns"), f"{h.purchases:,} / {h.returns:,}")
    if h.purchases:
        table.add_row(_("  anonymous (no member card)"), f"{h.anonymous:,} ({h.anonymous / h.purchases:.0%})")
        for channel, count in h.by_channel.items():
            table.add_row(
                f"  {_(CHANNEL_NAMES.get(channel, channel))}", f"{count:,} ({count / h.purchases:.0%})"
            )
    table.add_row(_("points liability (points held by members)"), f"{h.points_liability:,}")
    table.add_row(_("active rate (bought in the last 90 days)"), f"{h.active_rate:.1%}")
    console.print(table)
    base = f"http://{options.host}:{options.port}"
    console.print(_("console:   {url}", url=f"{base}/console"))
    console.print(_("portal:    {url}", url=f"{base}/m"))
    console.print(_("API docs:  {url}", url=f"{base}/docs"))
    console.print(_("health:    {url}", url=f"{base}/api/v1/health"))
    console.print(logins_table(result))
    for line in portal_lines(result):
        console.print(line, highlight=False, markup=False, soft_wrap=True)  # copied as typed
    for line in database_lines(result.database_url):
        console.print(line, highlight=False, markup=False, soft_wrap=True)  # copied as typed


def logins_table(result: DemoResult) -> Table:
    """One console login per role, all with the demo's password; which store the scoped ones serve."""
    table = Table(title=_("console logins (demo only)"))
    table.add_column(_("role"))
    table.add_column(_("user"), style="bold")
    table.add_column(_("password"))
    table.add_column(_("stores"))
    chain = _("all")
    for login in DEMO_LOGINS:
        stores_shown = (result.first_store or "-") if login.first_store else chain
        table.add_row(_(ROLE_NAMES[login.role]), login.username, DEMO_PASSWORD, stores_shown)
    return table


def portal_lines(result: DemoResult) -> list[str]:
    """How a member signs in to the portal: a demo member's phone, and where the code is read."""
    member = result.member
    if member is None:
        return []
    return [
        _(
            "member portal: sign in with the phone {phone} ({name}, card {card})",
            phone=member.phone,
            name=member.name,
            card=member.card_no or "-",
        ),
        _("  the one-time code is not sent by SMS in the demo; read it with:"),
        f"  loyalty members outbox --phone {member.phone}",
    ]


def database_lines(url: str) -> list[str]:
    """Which database the demo used; when it is not the default, how to point other commands at it."""
    from loyalty.config import Settings
    from loyalty.db.schema_version import location, sqlite_path

    lines = [_("database:  {location}", location=location(url))]
    if url != Settings.model_fields["database_url"].default:
        path = sqlite_path(url)
        shown = f"sqlite:///{path.resolve()}" if path is not None else url
        lines.append(_("other loyalty commands use it once you run:"))
        lines.append(f"  export LOYALTY_DATABASE_URL={shown}")
    return lines


def serve_demo(result: DemoResult, options: DemoOptions, console: Console) -> None:
    from loyalty.api.server import run

    console.print(_("serving on {url} (Ctrl-C to stop)", url=f"http://{options.host}:{options.port}"))
    run(result.database_url, host=options.host, port=options.port)


__all__ = [
    "DEMO_LOGINS",
    "Any",
    "DemoLogin",
    "DemoMember",
    "DemoOptions",
    "DemoResult",
    "build_demo",
    "demo_member",
    "ensure_stores",
    "headlines",
]
