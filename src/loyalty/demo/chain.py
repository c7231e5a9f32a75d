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
from loyalty.demo.generator import ChainSpec, generate, write_files
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


@dataclass
class DemoOptions:
    # The full size: 20,000 members x 18 months (~230k orders, ~545k lines). Purchases are
    # posted set-based (`services.purchases_bulk`, same rules as live); returns and opening balances go
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
class DemoResult:
    database_url: str
    built: bool
    seconds: float
    summaries: list[Summary]
    headlines: Headlines


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
    from loyalty.services import points, tiers
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
        return DemoResult(url, False, time.perf_counter() - started, [], headlines(ctx))
    ensure_programme(ctx, tier_ladder=DEMO_TIERS)
    spec = ChainSpec(members=options.members, months=options.months, seed=options.seed, end=ctx.now().date())
    with console.status(_("generating the chain…")):
        data = generate(spec)
        files = write_files(data, options.data_dir)
    ensure_stores(ctx, data.stores.to_pylist())
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
        points.expire_points(ctx, ctx.now())
        tiers.evaluate_tiers(ctx, ctx.now())
    _ensure_demo_login(ctx)
    return DemoResult(url, True, time.perf_counter() - started, summaries, headlines(ctx))


def _ensure_demo_login(ctx: Context) -> None:
    try:
        from loyalty.services import auth
    except ImportError:  # API not installed in this build
        return
    existing = {u.username for u in auth.list_staff(ctx)}
    if DEMO_USER not in existing:
        auth.create_staff(ctx, username=DEMO_USER, password=DEMO_PASSWORD, role="admin", store_ids=[])
    if DEMO_CASHIER not in existing:
        from loyalty.services import merchants

        first = min((s.id for s in merchants.list_stores(ctx)), default=None)
        if first is not None:
            auth.create_staff(
                ctx, username=DEMO_CASHIER, password=DEMO_PASSWORD, role="cashier", store_ids=[first]
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
    console.print(_("API docs:  {url}", url=f"{base}/docs"))
    console.print(_("health:    {url}", url=f"{base}/api/v1/health"))
    console.print(
        _(
            "log in as [bold]{user}[/] / [bold]{password}[/] (demo only)",
            user=DEMO_USER,
            password=DEMO_PASSWORD,
        )
    )
    console.print(
        _(
            "a cashier of the first store: [bold]{user}[/] / [bold]{password}[/]",
            user=DEMO_CASHIER,
            password=DEMO_PASSWORD,
        )
    )
    for line in database_lines(result.database_url):
        console.print(line, highlight=False, markup=False, soft_wrap=True)  # copied as typed


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


__all__ = ["Any", "DemoOptions", "DemoResult", "build_demo", "ensure_stores", "headlines"]
