"""`loyalty analytics clusters show|refresh`: the members' clusters, as a table or as JSON.

Registered on the `analytics` app by `loyalty.cli.analytics`; the services, NumPy and scikit-learn are
imported inside the commands, so the rest of the CLI starts without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from loyalty.cli._runs import DatabaseUrlOpt, FormatOpt, check_format, echo, reading, run_job, table
from loyalty.i18n import translator

if TYPE_CHECKING:
    from loyalty.services.clusters import StoredRun

_ = translator("cli")

app = typer.Typer(
    help="Member clusters: members grouped by behaviour, described for marketers.", no_args_is_help=True
)


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
    scores = table(
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
    clusters = table(
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


@app.command()
def show(fmt: FormatOpt = "table", database_url: DatabaseUrlOpt = None) -> None:
    """The last clustering run: k and why, the silhouette per k, and each cluster described."""
    from loyalty.services.clusters import last_run

    check_format(fmt)
    run = reading(database_url, last_run)
    echo(fmt, lambda: as_json(run), lambda: as_table(run))


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
    from loyalty.services import jobs
    from loyalty.services.clusters import last_run

    check_format(fmt)
    _result, run = run_job(database_url, jobs.MEMBER_CLUSTERS, {"k": k} if k is not None else {}, last_run)
    echo(fmt, lambda: as_json(run), lambda: as_table(run))
