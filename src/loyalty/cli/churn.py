"""`loyalty analytics churn show|refresh`: the churn model's AUC beside P(alive)'s, and who is at risk.

Registered on the `analytics` app by `loyalty.cli.analytics`; the services, NumPy and scikit-learn are
imported inside the commands, so the rest of the CLI starts without them. The list of members at risk
names them by id only (no name or phone here: the console and the API mask those per reader).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from loyalty.cli._runs import DatabaseUrlOpt, FormatOpt, check_format, echo, reading, run_job, table
from loyalty.i18n import translator

if TYPE_CHECKING:
    from loyalty.bootstrap import Context
    from loyalty.services.churn import AtRisk, StoredRun

_ = translator("cli")

app = typer.Typer(
    help="Churn: a gradient-boosting churn model beside P(alive), and each member's next purchase date.",
    no_args_is_help=True,
)

LimitOpt = Annotated[int, typer.Option("--limit", min=0, max=500, help="members at risk listed (default 10)")]


def _day(value: Any) -> str | None:
    return None if value is None else str(value.isoformat())


def as_json(run: StoredRun | None, risky: AtRisk | None) -> dict[str, Any]:
    """The run as `GET /api/v1/analytics/churn` answers it (money in minor units, members by id)."""
    from loyalty.analytics.churn import words

    if run is None:
        return {"computed_at": None, "members": 0, "aucs": {}, "at_risk": {"total": 0, "members": []}}
    return {
        "run_id": run.id,
        "computed_at": run.computed_at.isoformat(),
        "as_of": run.as_of.isoformat(),
        "horizon_days": run.horizon_days,
        "members": run.members,
        "currency": run.currency,
        "seed": run.seed,
        "train_cutoff": run.train_cutoff.isoformat(),
        "train_members": run.train_members,
        "train_churn_rate": run.train_churn_rate,
        "validation": {
            "train_cutoff": _day(run.validation_train_cutoff),
            "cutoff": _day(run.validation_cutoff),
            "members": run.validation_members,
            "churned": run.validation_churned,
            "problem": run.problem,
            "problem_en": run.problem_text("en") or None,
        },
        "aucs": run.aucs,
        "roc": run.roc,
        "importances": [i.to_dict() for i in run.importances],
        "next_purchase": run.next_purchase.to_dict() if run.next_purchase else None,
        "timings": run.timings,
        "purchase_problem": run.purchase_problem,
        "features": {f: words.feature_name(f, "en") for f in run.settings.get("features", [])},
        "at_risk": {
            "threshold": risky.threshold if risky else None,
            "total": risky.total if risky else 0,
            "members": [
                {
                    "member_id": m.scores.member_id,
                    "churn_probability": m.scores.churn_probability,
                    "p_alive": m.scores.p_alive,
                    "next_purchase_on": _day(m.scores.next_purchase_on),
                    "recency_days": m.scores.recency_days,
                    "yearly_spend_minor": m.scores.yearly_spend_minor,
                    "value_at_risk_minor": m.scores.value_at_risk_minor,
                }
                for m in (risky.members if risky else [])
            ],
        },
    }


def _auc(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def as_table(run: StoredRun | None, risky: AtRisk | None) -> str:
    """The run for a person: the AUCs side by side, the next purchase date's check, the features that
    matter, then the members at risk."""
    from loyalty.analytics.churn import SCORES, words
    from loyalty.i18n import current_locale, formats

    if run is None:
        return _("The churn model has not run yet: run `loyalty analytics churn refresh`.")
    locale = current_locale()
    head = _(
        "{members} members scored as of {day}: churn = no purchase in the next {horizon} days "
        "(model trained on the members of {cutoff}).",
        members=formats.number(run.members, locale),
        day=run.as_of.isoformat(),
        horizon=run.horizon_days,
        cutoff=run.train_cutoff.isoformat(),
    )
    parts = [head]
    if run.validated:
        parts.append(
            _(
                "Out of time: trained on {train}, checked on the {members} members of {cutoff}, of whom "
                "{churned} churned.",
                train=_day(run.validation_train_cutoff),
                members=formats.number(run.validation_members or 0, locale),
                cutoff=_day(run.validation_cutoff),
                churned=formats.number(run.validation_churned or 0, locale),
            )
        )
        parts.append(
            table(
                [_("Churn score"), "AUC"],
                [[words.score_name(s, locale), _auc(run.aucs.get(s))] for s in SCORES],
                {1},
            )
        )
        check = run.next_purchase
        if check is not None:

            def err(v: float | None) -> str:
                return "–" if v is None else formats.number(round(v, 1), locale, 1)

            parts.append(
                _(
                    "Next purchase date, mean error in days on those members: model {model}, own rhythm "
                    "{rhythm}.",
                    model=err(check.model_error_days),
                    rhythm=err(check.rhythm_error_days),
                )
            )
        if run.importances:
            parts.append(
                table(
                    [_("Feature"), _("Importance (AUC lost when shuffled)")],
                    [
                        [words.feature_name(i.feature, locale), f"{i.importance:.4f}"]
                        for i in run.importances[:8]
                    ],
                    {1},
                )
            )
    else:
        parts.append(run.problem_text(locale))
    if run.purchase_problem:
        parts.append(_("No P(alive) or next purchase date: {reason}", reason=run.purchase_problem))
    if risky is not None and risky.members:
        parts.append(
            _(
                "{total} members at risk (churn probability ≥ {threshold}); most value at risk first:",
                total=formats.number(risky.total, locale),
                threshold=formats.percent(risky.threshold, locale, 0),
            )
        )
        parts.append(
            table(
                [
                    _("Member"),
                    _("Churn"),
                    "P(alive)",
                    _("Next purchase"),
                    _("Days since last"),
                    _("Value at risk"),
                ],
                [
                    [
                        str(m.scores.member_id),
                        formats.percent(m.scores.churn_probability, locale),
                        "–" if m.scores.p_alive is None else formats.percent(m.scores.p_alive, locale),
                        _day(m.scores.next_purchase_on) or "–",
                        formats.number(m.scores.recency_days, locale),
                        formats.money(m.scores.value_at_risk_minor, run.currency, locale),
                    ]
                    for m in risky.members
                ],
                {1, 2, 4, 5},
            )
        )
    return "\n\n".join(parts)


@app.command()
def show(fmt: FormatOpt = "table", limit: LimitOpt = 10, database_url: DatabaseUrlOpt = None) -> None:
    """The last churn run: the model's AUC beside P(alive)'s, and the members most at risk."""
    from loyalty.services.churn import at_risk, last_run

    check_format(fmt)

    def read(ctx: Context) -> tuple[StoredRun | None, AtRisk | None]:
        run = last_run(ctx)
        return run, at_risk(ctx, limit=limit) if run is not None else None

    run, risky = reading(database_url, read)
    echo(fmt, lambda: as_json(run, risky), lambda: as_table(run, risky))


@app.command()
def refresh(
    horizon: Annotated[
        int | None,
        typer.Option(
            "--horizon", min=7, max=365, help="days without a purchase that count as churn (default 90)"
        ),
    ] = None,
    fmt: FormatOpt = "table",
    limit: LimitOpt = 10,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Train and check the churn model again and score every member (recorded as a churn-model job)."""
    from loyalty.services import jobs
    from loyalty.services.churn import at_risk, last_run

    check_format(fmt)
    params = {"horizon_days": horizon} if horizon is not None else {}
    _result, (run, risky) = run_job(
        database_url, jobs.CHURN_MODEL, params, lambda ctx: (last_run(ctx), at_risk(ctx, limit=limit))
    )
    echo(fmt, lambda: as_json(run, risky), lambda: as_table(run, risky))
