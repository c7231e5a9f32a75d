"""`loyalty anomalies …`: scan for fraud, work the review queue, and set the chain's rules.

The same services as `/api/v1/anomalies` and the console's queue (`services.anomalies`): results as
JSON, each flag's reason in LOYALTY_LOCALE. A scan runs as the `anomaly_scan` job, recorded like the
console's; reviews and rule changes are audited as the CLI's (`system:cli`), with the reviewer's
name given.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from loyalty.cli._core import day_option
from loyalty.i18n import translator

_ = translator("cli")

app = typer.Typer(
    help="Anomaly detection: scan for fraud, review the flags, set the rules.", no_args_is_help=True
)

#: a service field → the option that sets it
OPTION_OF_FIELD = {
    "start": "--from",
    "end": "--to",
    "from": "--from",
    "status": "--status",
    "kind": "--kind",
    "limit": "--limit",
    "offset": "--offset",
    "sort": "--sort",
    "decision": "--approve/--reject",
    "note": "--note",
    "suspend": "--suspend",
}

From = Annotated[str | None, typer.Option("--from", help="First business day, YYYY-MM-DD.")]
To = Annotated[str | None, typer.Option("--to", help="Last business day, YYYY-MM-DD.")]


def _actor() -> Any:
    from loyalty.domain.actors import Actor

    return Actor(kind="system", id="cli", role="system")


def _checked(call: Any) -> Any:
    """`call()`, a service's InvalidInput as a usage error naming the option (a rule's field by its
    name: `rules.velocity.params.per_hour: must be between 2 and 1000`)."""
    from loyalty.cli._core import bad_parameter
    from loyalty.domain.errors import InvalidInput

    try:
        return call()
    except InvalidInput as exc:
        errors = exc.localized_errors() or []
        field = errors[0]["field"] if errors else ""
        if field.startswith("rules"):
            raise typer.BadParameter(f"{field}: {errors[0]['message']}", param_hint="'--set'") from exc
        raise bad_parameter(exc, OPTION_OF_FIELD) from exc


@app.command("scan")
def scan(from_: From = None, to: To = None) -> None:
    """Scan a period (default: the 30 days ending today) with the chain's rules and write the flags;
    a rerun adds no flag twice. Runs as the anomaly_scan job."""
    from loyalty.cli._core import context, run
    from loyalty.services import anomalies, jobs

    start, end = day_option(from_, "--from"), day_option(to, "--to")
    ctx = context()
    start, end = _checked(lambda: anomalies.period(ctx, start, end))
    params = {"start": start.isoformat(), "end": end.isoformat()}
    run(lambda: jobs.run_now(ctx, jobs.ANOMALY_SCAN, _actor(), actor_name="cli", params=params)[1])


@app.command("list")
def list_flags(
    status: Annotated[str, typer.Option(help="open, approved, rejected or all.")] = "open",
    kind: Annotated[
        str | None, typer.Option(help="Only this rule's flags (see `loyalty anomalies rules`).")
    ] = None,
    member: Annotated[int | None, typer.Option(min=1, help="Only this member's flags.")] = None,
    from_: From = None,
    to: To = None,
    min_score: Annotated[float | None, typer.Option(min=0, help="Only flags scoring at least this.")] = None,
    sort: Annotated[str, typer.Option(help="score (highest first) or newest.")] = "score",
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="How many to skip.")] = 0,
) -> None:
    """The review queue: flags by filter, highest score first, each with its reason and figures."""
    from loyalty.cli._core import context, emit
    from loyalty.i18n import current_locale
    from loyalty.services import anomalies

    flt = anomalies.FlagFilter(
        status=None if status == "all" else status,
        kind=kind,
        member_id=member,
        start=day_option(from_, "--from"),
        end=day_option(to, "--to"),
        min_score=min_score,
    )
    ctx = context()
    page = _checked(lambda: anomalies.list_flags(ctx, flt, sort=sort, limit=limit, offset=offset))
    locale = current_locale()
    emit({"total": page.total, "items": [f.as_dict(locale) for f in page.items]})


@app.command("show")
def show(flag_id: Annotated[int, typer.Argument(min=1, help="The flag's id.")]) -> None:
    """One flag: whom it is about, the days, the score, the reason with its figures, and its review."""
    from loyalty.cli._core import context, run
    from loyalty.i18n import current_locale
    from loyalty.services import anomalies

    ctx = context()
    run(lambda: anomalies.get_flag(ctx, flag_id).as_dict(current_locale()))


@app.command("review")
def review(
    flag_id: Annotated[int, typer.Argument(min=1, help="The flag's id.")],
    approve: Annotated[
        bool | None, typer.Option("--approve/--reject", help="Confirm the fraud, or call it a false alarm.")
    ] = None,
    suspend: Annotated[
        bool, typer.Option("--suspend", help="With --approve: suspend the member's redemptions.")
    ] = False,
    note: Annotated[str | None, typer.Option(help="Why (kept on the flag and in the audit log).")] = None,
    reviewer: Annotated[str, typer.Option(help="The reviewer's name, as recorded.")] = "cli",
) -> None:
    """Approve or reject an open flag (audited); --suspend stops the member's redemptions."""
    from loyalty.cli._core import context, run
    from loyalty.i18n import current_locale
    from loyalty.services import anomalies

    if approve is None:
        raise typer.BadParameter(_("say --approve or --reject"), param_hint="'--approve/--reject'")
    ctx = context()
    decision = "approve" if approve else "reject"
    run(
        lambda: _checked(
            lambda: anomalies.review(
                ctx, flag_id, decision, actor=_actor(), reviewer_name=reviewer, note=note, suspend=suspend
            )
        ).as_dict(current_locale())
    )


@app.command("rules")
def rules(
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="RULE.PARAMETER=VALUE, e.g. velocity.per_hour=8 (repeatable)."),
    ] = None,
    on: Annotated[list[str] | None, typer.Option("--on", help="Turn a rule on (repeatable).")] = None,
    off: Annotated[list[str] | None, typer.Option("--off", help="Turn a rule off (repeatable).")] = None,
) -> None:
    """The chain's rules and their parameters; with --set/--on/--off, change them first (audited)."""
    from loyalty.cli._core import context, run
    from loyalty.i18n import current_locale, translate
    from loyalty.services import anomalies

    changes: dict[str, dict[str, Any]] = {}
    for item in set_ or []:
        target, sep, value = item.partition("=")
        code, dot, name = target.partition(".")
        if not (sep and dot and code and name):
            raise typer.BadParameter(
                _("write RULE.PARAMETER=VALUE, e.g. velocity.per_hour=8"), param_hint="'--set'"
            )
        try:
            number: float | int = int(value) if value.strip().lstrip("-").isdigit() else float(value)
        except ValueError:
            raise typer.BadParameter(
                _("{value} is not a number", value=value), param_hint="'--set'"
            ) from None
        changes.setdefault(code, {}).setdefault("params", {})[name] = number
    for code in on or []:
        changes.setdefault(code, {})["enabled"] = True
    for code in off or []:
        changes.setdefault(code, {})["enabled"] = False
    ctx = context()
    locale = current_locale()

    def shown() -> list[dict[str, Any]]:
        ruleset = (
            _checked(lambda: anomalies.set_rules(ctx, changes, _actor()))
            if changes
            else anomalies.get_rules(ctx)
        )
        return [
            {
                "code": code,
                "title": translate("report", s.rule.title, locale),
                "kind": s.rule.kind,
                "subject": s.rule.subject,
                "enabled": s.enabled,
                "customised": s.customised,
                "params": dict(s.params),
            }
            for code, s in ruleset.settings.items()
        ]

    run(shown)


@app.command("lift")
def lift(
    member_id: Annotated[int, typer.Argument(min=1, help="The member's id.")],
    note: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
) -> None:
    """Let a member whose redemptions were suspended redeem again (audited)."""
    from loyalty.cli._core import context, run
    from loyalty.services import anomalies

    ctx = context()
    run(
        lambda: {
            "member_id": anomalies.lift(ctx, member_id, note=note, actor=_actor()).member_id,
            "lifted": True,
        }
    )


@app.command("suspensions")
def suspensions() -> None:
    """The members whose redemptions are suspended, newest first."""
    from loyalty.cli._core import context, run
    from loyalty.services import anomalies

    ctx = context()
    run(
        lambda: [
            {
                "member_id": s.member_id,
                "flag_id": s.flag_id,
                "store_id": s.store_id,
                "suspended_at": s.suspended_at.isoformat(),
                "suspended_by": s.suspended_by,
                "note": s.note,
            }
            for s in anomalies.list_suspensions(ctx)
        ]
    )
