"""The marketer's earning rules (`/console/programme/rules`): what is in force, each rule's history,
definitions written as YAML (checked first, every bad field named), retiring with a confirmation,
presets to start from, and the programme's YAML to download.

Reading needs `programme:read`, changing `programme:write` (admins and marketers). Everything goes
through `services.earning_rules` as the API's `/api/v1/programme/rules` does: a definition is checked
whole (`rules[0].when.hours`), then saved all or nothing, versioned from its start (never in the past),
audited as the user's.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.responses import Response

from loyalty.domain.errors import DomainError
from loyalty.domain.programme.rules import RuleSpec
from loyalty.i18n import marker, translate, translator
from loyalty.services.earning_rules import book, presets, simulation, yaml_io
from loyalty.services.earning_rules.simulation import Simulation
from loyalty.web.pages import ConsoleRoute, Page, StaffForm, StaffPage

_ = translator("web")
N_ = marker("web")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PATH = "/console/programme/rules"
#: the biggest YAML text the form takes (a programme of a few hundred rules fits)
MAX_YAML = 200_000
KIND_NAMES = {
    "multiplier": N_("Multiplier"),
    "bonus_per_unit": N_("Points per unit spent"),
    "fixed_bonus": N_("Bonus per sale"),
    "exclude": N_("Excluded"),
    "event_bonus": N_("Event bonus"),
}
ACTION_NAMES = {
    "new": N_("new"),
    "changed": N_("changed: a new version"),
    "unchanged": N_("unchanged"),
}


def _effect(spec: RuleSpec) -> str:
    """What a rule gives, in a few words."""
    if spec.kind == "multiplier":
        factor = format(spec.multiplier_pct / 100, "g")
        return _("×{factor} points", factor=factor)
    if spec.kind == "bonus_per_unit":
        return _("+{points} points per unit spent", points=spec.points_per_unit)
    if spec.kind == "fixed_bonus":
        return _("+{points} points per sale", points=spec.points)
    if spec.kind == "event_bonus":
        return _("+{points} points once per member", points=spec.points)
    return _("no points")


def _row(v: book.RuleVersion) -> dict[str, Any]:
    definition = v.spec.as_dict()
    return {
        "version": v,
        "code": v.spec.code,
        "kind": translate("web", KIND_NAMES[v.spec.kind]),
        "effect": _effect(v.spec),
        "when": yaml_io.inline(definition.get("when")) if "when" in definition else "",
        "limits": yaml_io.inline(definition.get("limits")) if "limits" in definition else "",
        "yaml": yaml_io.dump_rules([definition]),
    }


def _render(
    page: Page,
    *,
    text: str | None = None,
    effective_from: str = "",
    errors: list[dict[str, str]] | None = None,
    checked: list[dict[str, str]] | None = None,
    retire_error: tuple[str, str] | None = None,
    simulated: Simulation | None = None,
    replay: tuple[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The page: the rules in force, every rule's history, the definition form and the presets."""
    ctx = page.ctx
    versions = book.list_rules(ctx, history=True)
    now = ctx.now()
    in_force = [_row(v) for v in versions if v.in_force(now)]
    history: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for v in versions:
        history[v.spec.code].append(_row(v))
    editing = page.request.query_params.get("edit")
    chosen = page.request.query_params.get("preset")
    if text is None:
        text = _starting_text(page, versions, editing, chosen)
    return page.html(
        "console/programme_rules.html",
        {
            "in_force": in_force,
            "history": sorted(history.items()),
            "scheduled": [_row(v) for v in versions if v.effective_from > now],
            "zone": ctx.settings.timezone,
            "text": text,
            "effective_from": effective_from,
            "errors": errors or [],
            "checked": checked,
            "retire_error": retire_error,
            "presets": [
                {
                    "code": p.code,
                    "title": presets.title(p, page.locale),
                    "description": presets.description(p, page.locale),
                }
                for p in presets.PRESETS
            ],
            "editable": page.can("programme:write"),
            "simulated": simulated,
            "replay": replay or _last_week(page),
        },
        status=status,
    )


def _starting_text(
    page: Page, versions: list[book.RuleVersion], editing: str | None, chosen: str | None
) -> str:
    """The definition box's first text: a rule to edit, a preset, or an example."""
    now = page.ctx.now()
    if editing:
        for v in versions:
            if v.spec.code == editing and v.in_force(now):
                return yaml_io.dump_rules([v.spec.as_dict()])
    if chosen:
        try:
            return yaml_io.dump_rules(presets.preset_rules(chosen, page.locale))
        except DomainError:
            pass
    return yaml_io.dump_rules(presets.preset_rules("member-day", page.locale))


def _last_week(page: Page) -> tuple[str, str]:
    """The replay's default days: the seven ending yesterday, in the chain's zone."""
    yesterday = page.ctx.now().astimezone(page.ctx.settings.tz).date() - timedelta(days=1)
    return str(yesterday - timedelta(days=6)), str(yesterday)


def _replay_days(form: FormData, errors: list[dict[str, str]]) -> tuple[date, date] | None:
    days = []
    for name in ("replay_from", "replay_to"):
        try:
            days.append(date.fromisoformat(_text(form, name).strip()))
        except ValueError:
            errors.append({"field": name, "message": _("Enter a day such as 2026-11-01.")})
    return (days[0], days[1]) if len(days) == 2 else None


@router.get("/programme/rules")
def rules_page(page: StaffPage) -> Response:
    """The earning rules in force and their history; for marketers, the form to define them."""
    page.require("programme:read")
    return _render(page)


@router.get("/programme/rules.yaml")
def rules_yaml(page: StaffPage) -> Response:
    """The rules in force as the programme's YAML, to keep in git and import back."""
    page.require("programme:read")
    stamp = page.ctx.now().strftime("%Y%m%d-%H%M")
    return Response(
        yaml_io.export_yaml(page.ctx),
        media_type=f"{yaml_io.MEDIA_TYPE}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="earning-rules-{stamp}.yaml"'},
    )


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _start(page: Page, text: str, errors: list[dict[str, str]]) -> datetime | None:
    """The form's start time (a local time in the chain's zone); None when left empty or unreadable
    (then an error names the field)."""
    if not text.strip():
        return None
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=page.ctx.settings.tz)
    except ValueError:
        errors.append({"field": "effective_from", "message": _("Enter a time such as 2026-12-08T00:00.")})
        return None


@router.post("/programme/rules")
def define_rules(page: StaffPage, form: StaffForm) -> Response:
    """Check the rules typed as YAML (action=check) or save them (all or nothing, audited)."""
    page.require("programme:write")
    text = _text(form, "yaml")
    when_text = _text(form, "effective_from")
    action = _text(form, "action")
    saving = action not in ("check", "simulate")
    replay = (_text(form, "replay_from"), _text(form, "replay_to"))

    def refused(errors: list[dict[str, str]]) -> Response:
        return _render(page, text=text, effective_from=when_text, errors=errors, replay=replay, status=422)

    if not text.strip():
        return refused([{"field": "yaml", "message": _("Type the rules to define, as YAML.")}])
    if len(text) > MAX_YAML:
        return refused([{"field": "yaml", "message": _("At most {n} characters.", n=MAX_YAML)}])
    shape: list[dict[str, str]] = []
    start = _start(page, when_text, shape)
    if shape:
        return refused(shape)
    if action == "simulate":
        days = _replay_days(form, shape)
        if days is None:
            return refused(shape)
        try:
            simulated = simulation.simulate(page.ctx, yaml_io.load(text), days[0], days[1])
        except DomainError as exc:
            return refused(
                exc.localized_errors(page.locale)
                or [{"field": "yaml", "message": exc.localized(page.locale)}]
            )
        return _render(page, text=text, effective_from=when_text, simulated=simulated, replay=replay)
    try:
        checked = yaml_io.validate(page.ctx, yaml_io.load(text))
        if start is not None:
            book.check_start(page.ctx, start)
        if not saving:
            result = yaml_io.import_rules(page.ctx, text, effective_from=start, dry_run=True)
            rows = [
                {"code": c.code, "action": translate("web", ACTION_NAMES[c.action])}
                for c in result.changes
                if c.action in ACTION_NAMES
            ]
            return _render(page, text=text, effective_from=when_text, checked=rows)
        written = book.define_rules(
            page.ctx,
            checked.raw,
            programme=checked.programme,
            effective_from=start,
            actor=page.staff.to_actor(),
        )
    except DomainError as exc:
        return refused(
            exc.localized_errors(page.locale) or [{"field": "yaml", "message": exc.localized(page.locale)}]
        )
    if not written:
        message = _("Nothing changed: every rule is as in force.")
    else:
        message = _(
            "Saved: {codes}. Sales from {start} earn by them.",
            codes=", ".join(f"{v.spec.code} v{v.version}" for v in written),
            start=written[0].effective_from.astimezone(page.ctx.settings.tz).strftime("%Y-%m-%d %H:%M"),
        )
    return page.redirect(PATH, flash=message)


@router.post("/programme/rules/{code}/retire")
def retire_rule(code: str, page: StaffPage, form: StaffForm) -> Response:
    """Retire a rule now, once the user confirmed it (audited)."""
    page.require("programme:write")
    if _text(form, "confirm") != "yes":
        return _render(page, retire_error=(code, _("Tick the box to confirm.")), status=422)
    try:
        retired = book.retire_rule(page.ctx, code, actor=page.staff.to_actor())
    except DomainError as exc:
        return _render(page, retire_error=(code, exc.localized(page.locale)), status=404)
    return page.redirect(
        PATH,
        flash=_("Rule {code} retired: sales from now on earn without it.", code=retired.spec.code),
    )
