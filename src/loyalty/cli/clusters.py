"""`loyalty analytics clusters show|refresh`: the members' clusters, as a table or as JSON.

Registered on the `analytics` app by `loyalty.cli.analytics`; the services, NumPy and scikit-learn are
imported inside the commands, so the rest of the CLI starts without them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loyalty.i18n import translator

if TYPE_CHECKING:
    from loyalty.services.clusters import StoredRun

_ = translator("cli")

app = typer.Typer(
    help="Member clusters: members grouped by behaviour, described for marketers.", no_args_is_help=True
)

FORMATS = ("table", "json")
FormatOpt = Annotated[str, typer.Option("--format", help="table (default) or json")]
DatabaseUrlOpt = Annotated[
    str | None, typer.Option("--database-url", help="product database (default: LOYALTY_DATABASE_URL)")
]


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        typer.echo(_("error: --format table|json"), err=True)
        raise typer.Exit(code=2)


def as_json(run: StoredRun | None) -> dict[str, Any]:
    """The run as `GET /api/v1/analytics/clusters` answers it (money in minor units here)."""
    from loyalty.analytics.clusters import describe, name

    if run is None:
        return {"computed_at": None, "members": 0, "k": None, "scores": [], "clusters": []}
    return {
        "run_id": run.id,
        "computed_at": run.computed_at.isoformat(),
        "as_of": run.as_of.isoformat(),
        "members": run.members,
        "currency": run.currency,
        "k": run.k,
        "best_k": run.best_k,
        "forced": run.forced,
        "criterion": run.criterion,
        "seed": run.seed,
        "reason_zh": run.reason("zh-CN"),
        "reason_en": run.reason("en"),
        "scores": [
            {"k": s.k, "silhouette": s.silhouette, "inertia": s.inertia, "chosen": s.k == run.k}
            for s in run.scores
        ],
        "categories": list(run.categories),
        "overall": run.overall,
        "clusters": [
            {
                "cluster": p.cluster,
                "members": p.members,
                "share": p.share,
                "name_zh": name(p.traits, "zh-CN"),
                "name_en": name(p.traits, "en"),
                "description_zh": describe(p.traits, "zh-CN"),
                "description_en": describe(p.traits, "en"),
                "traits": [t.to_dict() for t in p.traits],
                "means": p.means,
            }
            for p in run.profiles
        ],
    }


def _width(text: str) -> int:
    """Columns a terminal gives `text` (CJK characters take two)."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> str:
    widths = [max(_width(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            pad = " " * (widths[i] - _width(cell))
            out.append(pad + cell if i in right else cell + pad)
        return "  ".join(out).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def as_table(run: StoredRun | None) -> str:
    """The run for a person: when and why, the silhouette per k, then one row per cluster."""
    from loyalty.analytics.clusters import describe
    from loyalty.i18n import current_locale, formats

    if run is None:
        return _("No clustering has run yet: run `loyalty analytics clusters refresh`.")
    locale = current_locale()
    head = _(
        "{members} members in {k} clusters as of {day} (seed {seed}).",
        members=formats.number(run.members, locale),
        k=run.k,
        day=run.as_of.isoformat(),
        seed=run.seed,
    )
    scores = _table(
        ["k", _("Silhouette"), _("Inertia"), ""],
        [
            [str(s.k), f"{s.silhouette:.3f}", f"{s.inertia:.3f}", "←" if s.k == run.k else ""]
            for s in run.scores
        ],
        {0, 1, 2},
    )
    rows = []
    for p in run.profiles:
        m = p.means
        rows.append(
            [
                str(p.cluster),
                formats.number(p.members, locale),
                formats.percent(p.share, locale),
                formats.number(round(m.get("visit_days", 0.0), 1), locale, 1),
                formats.money(round(m.get("ticket_minor", 0.0)), run.currency, locale),
                formats.number(round(m.get("recency_days", 0.0)), locale),
                describe(p.traits, locale),
            ]
        )
    clusters = _table(
        [
            _("Cluster"),
            _("Members"),
            _("Share"),
            _("Visit days"),
            _("Per purchase"),
            _("Days since last"),
            _("Description"),
        ],
        rows,
        {0, 1, 2, 3, 4, 5},
    )
    return "\n\n".join([head, run.reason(locale), scores, clusters])


def _print(run: StoredRun | None, fmt: str) -> None:
    if fmt == "json":
        typer.echo(json.dumps(as_json(run), ensure_ascii=False, indent=2))
    else:
        typer.echo(as_table(run))


@app.command()
def show(fmt: FormatOpt = "table", database_url: DatabaseUrlOpt = None) -> None:
    """The last clustering run: k and why, the silhouette per k, and each cluster described."""
    from loyalty.cli._core import context
    from loyalty.services.clusters import last_run

    _check_format(fmt)
    ctx = context(database_url)
    try:
        run = last_run(ctx)
    finally:
        ctx.engine.dispose()
    _print(run, fmt)


@app.command()
def refresh(
    k: Annotated[
        int | None,
        typer.Option("--k", min=2, max=8, help="force this many clusters (default: the best silhouette)"),
    ] = None,
    fmt: FormatOpt = "table",
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Cluster every member with a purchase again and store the run (recorded as a member-clusters job)."""
    from loyalty.analytics.errors import AnalyticsError
    from loyalty.cli._core import context
    from loyalty.domain.actors import Actor
    from loyalty.domain.errors import DomainError
    from loyalty.services import jobs
    from loyalty.services.clusters import last_run

    _check_format(fmt)
    ctx = context(database_url)
    cli = Actor(kind="system", id="cli", role="system")
    try:
        jobs.run_now(
            ctx, jobs.MEMBER_CLUSTERS, cli, actor_name="cli", params={"k": k} if k is not None else {}
        )
        run = last_run(ctx)
    except DomainError as exc:
        typer.echo(_("error [{code}]: {reason}", code=exc.code, reason=exc.localized()), err=True)
        raise typer.Exit(code=1) from exc
    except AnalyticsError as exc:  # e.g. purchases in several currencies
        typer.echo(_("error [{code}]: {reason}", code=exc.code, reason=exc.message), err=True)
        raise typer.Exit(code=1) from exc
    finally:
        ctx.engine.dispose()
    _print(run, fmt)
