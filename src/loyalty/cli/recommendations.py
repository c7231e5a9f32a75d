"""`loyalty analytics recommend --member ID` and `loyalty analytics recommendations show|refresh`.

Registered on the `analytics` app by `loyalty.cli.analytics`; the services, NumPy, SciPy and `implicit`
are imported inside the commands, so the rest of the CLI starts without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from loyalty.cli._runs import DatabaseUrlOpt, FormatOpt, check_format, echo, reading, run_job, table
from loyalty.i18n import translator

if TYPE_CHECKING:
    from loyalty.services.recommendations import MemberRecommendations, StoredRun

_ = translator("cli")

app = typer.Typer(
    help="Recommendations: collaborative filtering, content and popularity, blended per member.",
    no_args_is_help=True,
)


def member_json(found: MemberRecommendations) -> dict[str, Any]:
    """The member's list as `GET /api/v1/members/{id}/recommendations` answers it."""
    from loyalty.analytics.recommend import reason

    return {
        "member_id": found.member_id,
        "source": found.source,
        "computed_at": found.computed_at.isoformat() if found.computed_at else None,
        "items": [
            {
                "rank": i.rank,
                "sku": i.sku,
                "category": i.category,
                "label": i.label,
                "score": round(i.score, 6),
                "reason": i.reason,
                "reason_zh": reason(i.reason, "zh-CN"),
                "reason_en": reason(i.reason, "en"),
            }
            for i in found.items
        ],
    }


def member_table(found: MemberRecommendations) -> str:
    from loyalty.analytics.recommend import reason
    from loyalty.i18n import current_locale

    if found.source == "none":
        return _("No recommendations yet: run `loyalty analytics recommendations refresh`.")
    locale = current_locale()
    head = {
        "member": _("Recommended for member {member}:", member=found.member_id),
        "store": _("Member {member} has no history yet: popular at their store.", member=found.member_id),
        "chain": _("Member {member} has no history yet: popular across the chain.", member=found.member_id),
    }[found.source]
    rows = [[str(i.rank), i.label, f"{i.score:.3f}", reason(i.reason, locale)] for i in found.items]
    return head + "\n\n" + table([_("Rank"), _("Item"), _("Score"), _("Why")], rows, {0, 2})


def run_json(run: StoredRun | None) -> dict[str, Any]:
    """The last refresh as `GET /api/v1/analytics/recommendations` answers it."""
    if run is None:
        return {"computed_at": None, "members": 0, "items": 0, "models": []}
    ev = run.evaluation
    return {
        "run_id": run.id,
        "computed_at": run.computed_at.isoformat(),
        "as_of": run.as_of.isoformat(),
        "members": run.members,
        "items": run.items,
        "training_seconds": run.seconds,
        "settings": run.settings.to_dict(),
        "evaluation": ev.to_dict() if ev else None,
        "problem": run.problem,
    }


def run_table(run: StoredRun | None) -> str:
    from loyalty.analytics.recommend import model_name
    from loyalty.i18n import current_locale, formats

    if run is None:
        return _("No recommendations yet: run `loyalty analytics recommendations refresh`.")
    locale = current_locale()
    seconds = format(run.seconds, ".2f")
    head = _(
        "Recommendations for {members} members from {items} items, sales up to {day}; "
        "trained in {seconds} s.",
        members=formats.number(run.members, locale),
        items=formats.number(run.items, locale),
        day=run.as_of.isoformat(),
        seconds=seconds,
    )
    ev = run.evaluation
    if ev is None:
        return head + "\n" + _("No holdout figures: {reason}", reason=run.problem or "")
    about = _(
        "Holdout: trained up to {cutoff}, tested on {members} members' new purchases since; k = {k}.",
        cutoff=ev.cutoff.isoformat(),
        members=formats.number(ev.members, locale),
        k=ev.k,
    )
    rows = [
        [
            model_name(m.name, locale),
            f"{m.scores.precision:.4f}",
            f"{m.scores.recall:.4f}",
            f"{m.scores.map:.4f}",
            formats.percent(m.scores.coverage, locale),
            f"{m.seconds:.2f}",
        ]
        for m in ev.models
    ]
    listing = table(
        [_("Model"), f"P@{ev.k}", f"R@{ev.k}", f"MAP@{ev.k}", _("Coverage"), _("Training s")],
        rows,
        {1, 2, 3, 4, 5},
    )
    cf, half, share = (format(v, "g") for v in ev.blend)
    shape = _(
        "Blend chosen on the holdout: collaborative filtering weight {cf}, half at {half} items, "
        "content {share} of the rest.",
        cf=cf,
        half=half,
        share=share,
    )
    return "\n\n".join([head, about, listing, shape])


@app.command()
def show(fmt: FormatOpt = "table", database_url: DatabaseUrlOpt = None) -> None:
    """The last refresh: what it learnt from and the holdout's figures beside the baselines."""
    from loyalty.services.recommendations import last_run

    check_format(fmt)
    run = reading(database_url, last_run)
    echo(fmt, lambda: run_json(run), lambda: run_table(run))


@app.command()
def refresh(
    evaluate: Annotated[
        bool,
        typer.Option(
            "--evaluate/--no-evaluate", help="test on the last four weeks first (and choose the blend)"
        ),
    ] = True,
    fmt: FormatOpt = "table",
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Train the recommender on every sale and store each member's recommendations (a recommendations job)."""
    from loyalty.services import jobs
    from loyalty.services.recommendations import last_run

    check_format(fmt)
    _result, run = run_job(database_url, jobs.RECOMMENDATIONS, {"evaluate": evaluate}, last_run)
    echo(fmt, lambda: run_json(run), lambda: run_table(run))


def recommend(
    member: Annotated[int, typer.Option("--member", min=1, help="the member's id")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=20, help="how many items (at most 20)")] = 10,
    fmt: FormatOpt = "table",
    database_url: DatabaseUrlOpt = None,
) -> None:
    """A member's recommended items from the last refresh, each with its score and reason."""
    from loyalty.domain.errors import DomainError
    from loyalty.services.recommendations import member_recommendations

    check_format(fmt)
    found = reading(database_url, lambda ctx: member_recommendations(ctx, member, limit), (DomainError,))
    echo(fmt, lambda: member_json(found), lambda: member_table(found))
