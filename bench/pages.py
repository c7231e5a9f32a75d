"""Benchmark: the server time of every console and portal page on the demo chain, for each role.

    .venv/bin/python bench/pages.py                    # the 20,000-member demo chain, built in a temp dir
    .venv/bin/python bench/pages.py --small            # a 1,000-member chain, 5 requests a page
    .venv/bin/python bench/pages.py --db var/demo.db   # a demo chain built before (copied, never changed)

The pages are enumerated from the app's routes (every GET under /console and /m), their path
parameters filled from the chain (member pages for a sample of the demo cashier's store's members,
so every role may open them). Each staff role logs in through the console's own form and requests every page
it may open (a 403 is another role's page) `--requests` times; a sample of members signs in to the
portal with the one-time code from the outbox and does the same there. The member search (POST
/console/find by phone, card number, member code and name) is timed as the till uses it.

Requests go through an in-process client (no sockets); "server time" is measured inside the ASGI app,
from the request's arrival to the last byte of its answer, so the client's own cost is left out. The
first request of each page is a warm-up (template compilation, caches) and is not counted. The table
gives each page's p50/p99 beside its target (≤ 200 ms a page, ≤ 50 ms a member search); downloads
(CSV, xlsx) are shown without one. Exit status 1 if a target is missed, 2 if a page failed (an answer
other than 2xx/3xx/403, or a path parameter this bench cannot fill).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import machine

ROOT = Path(__file__).resolve().parent.parent
PAGE_TARGET_MS = 200.0
SEARCH_TARGET_MS = 50.0
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_CODE = re.compile(r"\b(\d{6})\b")
_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ServerTimer:
    """ASGI wrapper: the seconds the app took for the last HTTP request, to the end of its body."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.last = time.perf_counter() - started
            await send(message)

        await self.app(scope, receive, timed)


# --- the chain -------------------------------------------------------------------------------------


def build_chain(directory: Path, members: int, months: int) -> str:
    """The demo chain (`loyalty demo`'s build: import, jobs, analytics, a login per role) in a file of
    `directory`; its URL."""
    from rich.console import Console

    from loyalty.demo.chain import DemoOptions, build_demo

    url = f"sqlite:///{directory / 'demo.db'}"
    options = DemoOptions(members=members, months=months, data_dir=directory / "data", progress=False)
    result = build_demo(options, console=Console(file=sys.stderr), database_url=url)
    print(
        f"built the demo chain ({members:,} members, {months} months) in {result.seconds:.0f} s", flush=True
    )
    return url


def copy_chain(given: str, directory: Path) -> str:
    """A SQLite chain copied into `directory` through SQLite's backup (its WAL included), so the bench's
    logins and sessions never touch the given file, and brought up to date on the copy as `loyalty
    demo` does with a chain it finds (migrations, a login per role, the analytics job if it never
    ran). A database URL other than SQLite is used as it is."""
    if "://" in given and not given.startswith("sqlite:///"):
        return given
    source = Path(given.removeprefix("sqlite:///"))
    if not source.exists():
        raise SystemExit(f"--db: no such file: {source}")
    target = directory / "demo.db"
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    from rich.console import Console

    from loyalty.demo.chain import DemoOptions, build_demo

    url = f"sqlite:///{target}"
    build_demo(DemoOptions(data_dir=directory / "data"), console=Console(file=sys.stderr), database_url=url)
    return url


@dataclass
class Chain:
    """What the pages' parameters and the logins are filled with."""

    store_id: int
    merchant_id: int
    staff: dict[str, int]  # username → id
    members: list[int]  # a sample of the store's active members
    phones: list[str]  # their phones (the portal's sign-in)
    searches: dict[str, str]  # kind → a query the till types
    job_id: int | None
    tier_ids: list[int]
    #: an anomaly flag about a member of the store (its manager may open it), or any
    flag_id: int | None = None


def read_chain(ctx: Any, sample: int, seed: int) -> Chain:
    from sqlalchemy import inspect, text

    with ctx.engine.connect() as conn:
        # the demo cashier's store (its till and manager see its members), else the first with members
        store_id, merchant_id = conn.execute(
            text(
                "SELECT s.id, s.merchant_id FROM stores s "
                "LEFT JOIN staff_user_stores us ON us.store_id = s.id "
                "LEFT JOIN staff_users u ON u.id = us.user_id AND u.username = 'cashier' "
                "WHERE EXISTS (SELECT 1 FROM members m WHERE m.registration_store_id = s.id) "
                "ORDER BY u.id IS NULL, s.id LIMIT 1"
            )
        ).one()
        staff = {str(r[0]): int(r[1]) for r in conn.execute(text("SELECT username, id FROM staff_users"))}
        rows = conn.execute(
            text(
                "SELECT id, phone, card_no, member_code, name FROM members "
                "WHERE status = 'active' AND registration_store_id = :s ORDER BY id"
            ),
            {"s": store_id},
        ).all()
        has_jobs = inspect(conn).has_table("jobs")  # a chain built before jobs were recorded has none
        job = conn.execute(text("SELECT max(id) FROM jobs")).scalar() if has_jobs else None
        tier_ids = [int(r[0]) for r in conn.execute(text("SELECT id FROM tiers ORDER BY rank"))]
        flag = None
        if inspect(conn).has_table("anomaly_flags"):  # a chain built before anomaly detection has none
            flag = conn.execute(
                text(
                    "SELECT f.id FROM anomaly_flags f LEFT JOIN members m ON m.id = f.member_id "
                    "ORDER BY CASE WHEN m.registration_store_id = :s THEN 0 ELSE 1 END, f.id LIMIT 1"
                ),
                {"s": store_id},
            ).scalar()
    if not rows:
        raise SystemExit(f"the chain has no active member at store {store_id}")
    chosen = random.Random(seed).sample(rows, min(sample, len(rows)))
    first = chosen[0]
    return Chain(
        store_id=int(store_id),
        merchant_id=int(merchant_id),
        staff=staff,
        members=[int(r[0]) for r in chosen],
        phones=[str(r[1]) for r in chosen],
        searches={"phone": first[1], "card number": first[2], "member code": first[3], "name": first[4]},
        job_id=int(job) if job is not None else None,
        tier_ids=tier_ids,
        flag_id=int(flag) if flag is not None else None,
    )


def param_values(chain: Chain) -> dict[str, Callable[[int], str | None]]:
    """A path parameter's value for the i-th request (member pages cycle through the sample)."""
    cashier = chain.staff.get("cashier")
    return {
        "member_id": lambda i: str(chain.members[i % len(chain.members)]),
        "store_id": lambda i: str(chain.store_id),
        "merchant_id": lambda i: str(chain.merchant_id),
        "staff_id": lambda i: str(cashier) if cashier else None,
        "user_id": lambda i: str(cashier) if cashier else None,
        "job_id": lambda i: str(chain.job_id) if chain.job_id else None,
        "tier_id": lambda i: str(chain.tier_ids[i % len(chain.tier_ids)]) if chain.tier_ids else None,
        "flag_id": lambda i: str(chain.flag_id) if chain.flag_id else None,
    }


# --- the routes ------------------------------------------------------------------------------------


def page_routes(app: Any, prefix: str) -> list[str]:
    """Every GET path template the app serves under `prefix` (included routers flattened)."""
    try:
        from fastapi.routing import iter_route_contexts

        routes: Iterator[Any] = iter(iter_route_contexts(app.routes))
    except ImportError:  # FastAPI before nested route contexts: the list is flat already
        routes = iter(app.routes)
    found = set()
    for route in routes:
        path = getattr(route, "path", None)
        if path is None or "GET" not in (getattr(route, "methods", None) or ()):
            continue
        if path == prefix or path.startswith(prefix + "/"):
            found.add(path)
    return sorted(found)


# --- measuring -------------------------------------------------------------------------------------


@dataclass
class Row:
    page: str
    who: str
    times_ms: list[float] = field(default_factory=list)
    target_ms: float | None = PAGE_TARGET_MS
    note: str = ""

    def pct(self, p: float) -> float:
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))] if ordered else 0.0

    @property
    def missed(self) -> bool:
        return self.target_ms is not None and bool(self.times_ms) and self.pct(0.99) > self.target_ms


@dataclass
class Run:
    timer: ServerTimer
    requests: int
    rows: list[Row] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def time(self, call: Callable[[], Any]) -> tuple[Any, float]:
        response = call()
        return response, self.timer.last * 1000


def _token(html: str) -> str:
    found = _TOKEN.search(html)
    if not found:
        raise RuntimeError("no CSRF token on the page")
    return found.group(1)


def staff_client(app: Any, username: str, password: str) -> tuple[Any, str]:
    """A logged-in console client and its session's CSRF token."""
    from fastapi.testclient import TestClient

    client = TestClient(app, headers={"accept-language": "zh-CN"})
    token = _token(client.get("/console/login").text)
    login = client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    if login.status_code != 303:
        raise RuntimeError(f"{username} could not log in: {login.status_code}")
    return client, _token(client.get("/console").text)


def member_client(app: Any, ctx: Any, phone: str) -> Any:
    from fastapi.testclient import TestClient

    from loyalty.services import member_otp

    client = TestClient(app, headers={"accept-language": "zh-CN"})
    token = _token(client.get("/m/login").text)
    asked = client.post("/m/login", data={"phone": phone, "csrf_token": token}, follow_redirects=False)
    if asked.status_code != 200:
        raise RuntimeError(f"the portal refused a code for {phone}: {asked.status_code}")
    sent = member_otp.list_outbox(ctx, phone, limit=1)
    code = _CODE.search(sent[0].body) if sent else None
    if code is None:
        raise RuntimeError(f"no code for {phone} in the outbox")
    verify = client.post(
        "/m/login/verify",
        data={"phone": phone, "code": code.group(1), "csrf_token": token},
        follow_redirects=False,
    )
    if verify.status_code != 303:
        raise RuntimeError(f"{phone} could not sign in: {verify.status_code}")
    return client


def _is_download(response: Any) -> bool:
    kind = response.headers.get("content-type", "")
    return "attachment" in response.headers.get("content-disposition", "") or not kind.startswith("text/")


def measure_pages(
    run: Run,
    who: str,
    clients: list[Any],
    templates: list[str],
    values: dict[str, Callable[[int], str | None]],
) -> None:
    """Each page `run.requests` times (after one warm-up), rotating through `clients`."""
    for template in templates:
        names = [m.group(1) for m in _PARAM.finditer(template)]
        unknown = [n for n in names if n not in values or values[n](0) is None]
        if unknown:
            error = f"{template}: no value for {', '.join(unknown)}"
            if error not in run.errors:
                run.errors.append(error)
            continue

        def path(i: int, template: str = template) -> str:
            return _PARAM.sub(lambda found: values[found.group(1)](i) or "", template)

        first = clients[0].get(path(0), follow_redirects=False)
        if first.status_code == 403:
            continue  # another role's page
        if first.status_code >= 400:
            run.errors.append(f"{who} GET {path(0)}: {first.status_code}")
            continue
        row = Row(template, who)
        if first.status_code in (301, 302, 303, 307):
            row.note = f"→ {first.headers.get('location', '')}"
        elif _is_download(first):
            row.target_ms, row.note = None, "download"
        for i in range(run.requests):
            response, ms = run.time(
                lambda i=i: clients[i % len(clients)].get(path(i), follow_redirects=False)
            )
            if response.status_code >= 400:
                run.errors.append(f"{who} GET {path(i)}: {response.status_code}")
                break
            row.times_ms.append(ms)
        run.rows.append(row)


def measure_searches(run: Run, who: str, client: Any, token: str, searches: dict[str, str]) -> None:
    """The till's member search (POST /console/find) by each kind of query."""
    for kind, query in searches.items():
        row = Row(f"POST /console/find ({kind})", who, target_ms=SEARCH_TARGET_MS)
        for i in range(run.requests + 1):
            response, ms = run.time(
                lambda query=query: client.post(
                    "/console/find", data={"q": query, "csrf_token": token}, follow_redirects=False
                )
            )
            if response.status_code >= 400 and response.status_code != 404:  # 404: "no member found"
                run.errors.append(f"{who} POST /console/find ({kind}): {response.status_code}")
                break
            if response.status_code == 404:
                row.note = "none found in the user's stores"
            if i:  # the first is the warm-up
                row.times_ms.append(ms)
        run.rows.append(row)


# --- the run ---------------------------------------------------------------------------------------


def bench(url: str, args: argparse.Namespace) -> Run:
    from loyalty.api.app import create_app
    from loyalty.bootstrap import Context
    from loyalty.demo.chain import DEMO_LOGINS, DEMO_PASSWORD

    ctx = Context.from_url(url)
    # the limiter would answer 429 to a bench's hundreds of logins and searches a minute
    app = create_app(ctx, rate_limits={"login": (100_000, 60.0), "lookup": (100_000, 60.0)})
    timer = ServerTimer(app)
    run = Run(timer, args.requests)
    chain = read_chain(ctx, args.sample, args.seed)
    values = param_values(chain)
    console_pages = page_routes(app, "/console")
    portal_pages = page_routes(app, "/m")
    clients: list[Any] = []
    # as `loyalty serve` does at start-up (`api.app`'s lifespan, which the test client does not run):
    # what lives for the whole run (the app, the chain's sample read here) is kept out of the garbage
    # collector's full passes, which would otherwise stall whichever request happened to be timed
    gc.collect()
    gc.freeze()
    try:
        for login in DEMO_LOGINS:
            if login.username not in chain.staff:
                run.errors.append(
                    f"the chain has no demo login {login.username} (build it with `loyalty demo`)"
                )
                continue
            client, token = staff_client(timer, login.username, DEMO_PASSWORD)
            clients.append(client)
            measure_pages(run, login.role, [client], console_pages, values)
            if login.role in ("cashier", "admin"):
                measure_searches(run, login.role, client, token, chain.searches)
            print(f"  {login.role}: done", file=sys.stderr, flush=True)
        members = [member_client(timer, ctx, phone) for phone in chain.phones[: args.portal_members]]
        clients += members
        measure_pages(run, "member", members, portal_pages, values)
    finally:
        for client in clients:
            client.close()
        ctx.engine.dispose()
    return run


def report(run: Run, label: str) -> None:
    print(f"\nserver time of each page ({label}; {run.requests} requests a page after a warm-up)")
    header = f"{'page':<46}{'who':<15}{'n':>4}{'p50 ms':>9}{'p99 ms':>9}{'target':>9}  verdict"
    print(header)
    print("-" * len(header))
    for row in run.rows:
        target = f"≤{row.target_ms:.0f}" if row.target_ms is not None else "-"
        verdict = "MISSED" if row.missed else ("ok" if row.target_ms is not None else "")
        if row.note:
            verdict = f"{verdict} {row.note}".strip()
        print(
            f"{row.page:<46}{row.who:<15}{len(row.times_ms):>4}{row.pct(0.5):>9.1f}{row.pct(0.99):>9.1f}"
            f"{target:>9}  {verdict}"
        )
    pages = [r for r in run.rows if r.target_ms == PAGE_TARGET_MS and r.times_ms]
    searches = [r for r in run.rows if r.target_ms == SEARCH_TARGET_MS and r.times_ms]
    if pages:
        worst = max(pages, key=lambda r: r.pct(0.99))
        print(f"slowest page: {worst.page} ({worst.who}) p99 {worst.pct(0.99):.1f} ms")
    if searches:
        worst = max(searches, key=lambda r: r.pct(0.99))
        print(f"slowest search: {worst.page} ({worst.who}) p99 {worst.pct(0.99):.1f} ms")
    all_times = [t for r in pages for t in r.times_ms]
    if all_times:
        print(f"all pages: median {statistics.median(all_times):.1f} ms over {len(all_times)} requests")
    for error in run.errors:
        print(f"FAILED: {error}")
    missed = [r for r in run.rows if r.missed]
    print(
        f"target: every page ≤ {PAGE_TARGET_MS:.0f} ms and a member search ≤ {SEARCH_TARGET_MS:.0f} ms "
        f"(p99); {len(missed)} missed"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--small", action="store_true", help="a 1,000-member chain of 6 months, 5 requests a page"
    )
    parser.add_argument("--db", help="a demo chain built before: a SQLite file (copied) or a database URL")
    parser.add_argument("--members", type=int, help="members of the chain it builds (20,000)")
    parser.add_argument("--months", type=int, help="months of history of the chain it builds (18)")
    parser.add_argument("--requests", type=int, help="timed requests per page and role (20)")
    parser.add_argument("--sample", type=int, help="members the member pages rotate through (50)")
    parser.add_argument("--portal-members", type=int, help="members signed in to the portal (5)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    # Starlette's note about its test client's HTTP library: the in-process client is only the bench's
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    preset = (1_000, 6, 5, 10, 2) if args.small else (20_000, 18, 20, 50, 5)
    for name, value in zip(
        ("members", "months", "requests", "sample", "portal_members"), preset, strict=True
    ):
        if getattr(args, name) is None:  # what is given on the command line wins over the preset
            setattr(args, name, value)
    print(machine.note(repeat=1 if args.small else 3), flush=True)
    with tempfile.TemporaryDirectory(prefix="loyalty-pages-") as tmp:
        directory = Path(tmp)
        if args.db:
            url = copy_chain(args.db, directory)
            label = f"the chain of {args.db}"
        else:
            url = build_chain(directory, args.members, args.months)
            label = f"the {args.members:,}-member demo chain"
        run = bench(url, args)
    report(run, label)
    print(machine.note(repeat=1 if args.small else 3, when="after"), flush=True)
    results = [
        {
            "page": r.page,
            "who": r.who,
            "n": len(r.times_ms),
            "p50_ms": r.pct(0.5),
            "p99_ms": r.pct(0.99),
            "target_ms": r.target_ms,
            "missed": r.missed,
        }
        for r in run.rows
    ]
    print(json.dumps({"rows": results, "errors": run.errors}), file=sys.stderr)
    if run.errors:
        return 2
    return 1 if any(r.missed for r in run.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
