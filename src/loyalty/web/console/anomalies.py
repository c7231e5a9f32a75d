"""The anomaly review queue (`/console/anomalies`): flags by filter, one flag and its review, the rules.

The queue lists the flags a scan raised (open ones by default, highest score first), filtered by
status, rule, subject, store, days and score, with each flag's reason in words; a GET form, so a view
can be bookmarked. A flag's page shows whom it is about, its figures and, for reviewers
(anomalies:review), the review form: confirm the fraud (optionally suspending the member's
redemptions) or call it a false alarm, with a note. Reviewers also start a scan (the anomaly_scan
job, followed on the page as the analytics refresh is), change the rules, and lift suspensions. A
store manager sees their stores' members' flags only. Everything comes from `services.anomalies`,
as the API's `/api/v1/anomalies`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from loyalty.domain.errors import Conflict, InvalidInput, NotFound
from loyalty.i18n import formats, marker, translate, translator
from loyalty.services import anomalies
from loyalty.services import jobs as jobs_service
from loyalty.web.console import forms, views
from loyalty.web.console.jobs import KIND_NAMES, actor_of, shown
from loyalty.web.pages import ConsoleRoute, Denied, Page, StaffForm, StaffPage

_ = translator("web")
N_ = marker("web")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PATH = "/console/anomalies"
RULES_PATH = f"{PATH}/rules"
#: flags one page lists (the count of all that pass is shown above the table)
SHOWN = 100
STATUS_NAMES = {
    "open": N_("Open"),
    "approved": N_("Confirmed fraud"),
    "rejected": N_("False alarm"),
    "all": N_("All"),
}
SUBJECT_NAMES = {"member": N_("About members"), "staff": N_("About staff")}
#: figures the reason already says in words (or that are codes, not figures)
UNSHOWN_FIGURES = frozenset({"window", "currency", "feature", "operator", "start_hour", "end_hour"})
SORT_NAMES = {"score": N_("Highest score first"), "newest": N_("Newest first")}
ALL_STORES = "all"
#: the figures of a flag as the flag's page names them (others are shown by their key)
FIGURE_NAMES = {
    "points": N_("Points"),
    "limit": N_("Limit"),
    "day": N_("Day"),
    "month": N_("Month"),
    "median": N_("Chain's median"),
    "times_median": N_("Times the median"),
    "count": N_("Count"),
    "first": N_("First"),
    "last": N_("Last"),
    "minutes": N_("Minutes apart"),
    "pairs": N_("Such pairs"),
    "stores": N_("Stores"),
    "ratio": N_("Share returned"),
    "purchases": N_("Purchases"),
    "returned": N_("Purchases with returns"),
    "members": N_("Members"),
    "value": N_("Value"),
    "z": N_("Robust z-score"),
    "score": N_("Isolation score"),
    "breaches": N_("Windows over the line"),
}


@dataclass
class FlagRow:
    """One flag as the queue and the flag's page write it."""

    id: int
    score: str
    kind: str
    subject: str
    member_id: int | None
    period: str
    reason: str
    status: str
    status_code: str
    suspended: bool


def _period(start: date, end: date, locale: str) -> str:
    if start == end:
        return formats.day(start, locale)
    return f"{formats.day(start, locale)} – {formats.day(end, locale)}"


def _subject(flag: anomalies.Flag) -> str:
    if flag.subject_kind == "member":
        return _("Member {id}", id=flag.member_id)
    return _("Staff {name}", name=flag.operator_name or flag.operator or "")


def flag_row(flag: anomalies.Flag, locale: str) -> FlagRow:
    return FlagRow(
        id=flag.id,
        score=formats.number(round(flag.score, 2), locale, 2),
        kind=flag.kind_name(locale),
        subject=_subject(flag),
        member_id=flag.member_id,
        period=_period(flag.period_start, flag.period_end, locale),
        reason=flag.reason(locale),
        status=_(STATUS_NAMES.get(flag.status, flag.status)),
        status_code=flag.status,
        suspended=flag.member_suspended,
    )


def _kinds(locale: str) -> list[tuple[str, str]]:
    from loyalty.analytics.anomalies import RULES

    return [(r.code, translate("report", r.title, locale)) for r in RULES]


def _store_filter(page: Page, value: str) -> int | None:
    if value in ("", ALL_STORES):
        return None
    if not value.isdigit():
        raise Denied
    page.require_store(int(value))
    return int(value)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _scan_job(page: Page) -> Any:
    if not (page.can("anomalies:review") or page.can("jobs:read")):
        return None
    job = jobs_service.latest_job(page.ctx, jobs_service.ANOMALY_SCAN)
    return shown(job) if job is not None else None


Text = Annotated[str | None, Query(max_length=20)]


@router.get("/anomalies")
def queue(
    page: StaffPage,
    status: Text = None,
    kind: Annotated[str | None, Query(max_length=40)] = None,
    subject: Text = None,
    store: Text = None,
    from_: Annotated[str | None, Query(alias="from", max_length=20)] = None,
    to: Text = None,
    min_score: Text = None,
    sort: Text = None,
) -> Response:
    """The review queue: the flags that pass the filters, highest score first."""
    page.require("anomalies:read")
    locale = page.locale
    given = {
        "status": status if status in STATUS_NAMES else "open",
        "kind": kind or "",
        "subject": subject if subject in SUBJECT_NAMES else "",
        "store": store or ALL_STORES,
        "from": from_ or "",
        "to": to or "",
        "min_score": min_score or "",
        "sort": sort if sort in SORT_NAMES else "score",
    }
    errors: dict[str, str] = {}
    store_id = _store_filter(page, given["store"])
    start = forms.optional_date(given["from"], "from", errors)
    end = forms.optional_date(given["to"], "to", errors)
    score = _number(given["min_score"]) if given["min_score"] else None
    if given["min_score"] and (score is None or score < 0):
        errors["min_score"] = _("Enter a score of 0 or more, such as 1.5.")
    kinds = _kinds(locale)
    if given["kind"] and given["kind"] not in {k for k, _n in kinds}:
        errors["kind"] = _("Choose a rule from the list.")
    values: dict[str, Any] = {
        "given": given,
        "errors": errors,
        "statuses": STATUS_NAMES,
        "subjects": SUBJECT_NAMES,
        "sorts": SORT_NAMES,
        "kinds": kinds,
        "stores": views.my_stores(page),
        "chain_wide": page.staff.store_ids is None,
        "rows": [],
        "total": 0,
        "job": _scan_job(page),
        "zone": page.ctx.settings.timezone,
        "suspensions": anomalies.list_suspensions(page.ctx, store_ids=page.staff.store_ids),
        "days": anomalies.DEFAULT_DAYS,
    }
    if not errors:
        flt = anomalies.FlagFilter(
            status=None if given["status"] == "all" else given["status"],
            kind=given["kind"] or None,
            subject_kind=given["subject"] or None,
            store_id=store_id,
            start=start,
            end=end,
            min_score=score,
        )
        try:
            found = anomalies.list_flags(
                page.ctx, flt, store_ids=page.staff.store_ids, sort=given["sort"], limit=SHOWN
            )
        except InvalidInput as exc:
            errors.update(forms.field_errors(exc, locale, {"from", "to", "kind", "status"}))
        else:
            values["rows"] = [flag_row(f, locale) for f in found.items]
            values["total"] = found.total
    return page.html("console/anomalies.html", values, status=422 if errors else 200)


def _rule_views(ruleset: Any, locale: str, given: dict[str, str] | None = None) -> list[dict[str, Any]]:
    out = []
    for code, s in ruleset.settings.items():
        rule = s.rule
        out.append(
            {
                "code": code,
                "title": translate("report", rule.title, locale),
                "description": translate("report", rule.description, locale),
                "statistical": rule.kind == "statistical",
                "enabled": s.enabled,
                "params": [
                    {
                        "name": p.name,
                        "key": f"{code}.{p.name}",
                        "label": translate("report", p.label, locale),
                        "value": (given or {}).get(f"{code}.{p.name}", _plain(s.params[p.name])),
                        "default": _plain(p.default),
                        "minimum": _plain(p.minimum),
                        "maximum": _plain(p.maximum),
                    }
                    for p in rule.params
                ],
            }
        )
    return out


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@router.get("/anomalies/rules")
def rules_page(page: StaffPage) -> Response:
    """The rules and their parameters (reviewers change them here)."""
    page.require("anomalies:read")
    return page.html(
        "console/anomaly_rules.html",
        {"rules": _rule_views(anomalies.get_rules(page.ctx), page.locale), "errors": {}},
    )


@router.post("/anomalies/rules")
def save_rules(page: StaffPage, form: StaffForm) -> Response:
    """Change the rules as the form sets them (every rule on the form; audited)."""
    page.require("anomalies:review")
    current = anomalies.get_rules(page.ctx)
    changes: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    given: dict[str, str] = {}
    for code, setting in current.settings.items():
        if f"{code}.shown" not in form:
            continue
        change: dict[str, Any] = {"enabled": form.get(f"{code}.enabled") == "1", "params": {}}
        for p in setting.rule.params:
            key = f"{code}.{p.name}"
            text = str(form.get(key) or "").strip()
            given[key] = text
            number = _number(text)
            if number is None:
                errors[key] = _("Enter a number.")
                continue
            change["params"][p.name] = int(number) if p.integer and number.is_integer() else number
        changes[code] = change
    if not changes:
        return page.redirect(RULES_PATH, flash=_("Nothing to change."), kind="error")
    if not errors:
        try:
            anomalies.set_rules(page.ctx, changes, actor_of(page))
        except InvalidInput as exc:
            for entry in exc.localized_errors(page.locale) or []:
                field = str(entry.get("field", "")).removeprefix("rules.").replace(".params.", ".")
                errors[field] = str(entry.get("message", ""))
        else:
            return page.redirect(RULES_PATH, flash=_("The rules are saved; the next scan uses them."))
    return page.html(
        "console/anomaly_rules.html",
        {"rules": _rule_views(current, page.locale, given), "errors": errors},
        status=422,
    )


@router.post("/anomalies/scan")
def start_scan(page: StaffPage, form: StaffForm) -> Response:
    """Scan the chosen days (default: the last 30) as a job; the queue follows its progress."""
    kind = jobs_service.ANOMALY_SCAN
    page.require(jobs_service.permission_for(kind))
    errors: dict[str, str] = {}
    start = forms.optional_date(str(form.get("from") or ""), "from", errors)
    end = forms.optional_date(str(form.get("to") or ""), "to", errors)
    if errors:
        return page.redirect(PATH, flash=next(iter(errors.values())), kind="error")
    try:
        start, end = anomalies.period(page.ctx, start, end)
        job = jobs_service.start(
            page.ctx,
            kind,
            actor_of(page),
            actor_name=page.staff.username,
            params={"start": start.isoformat(), "end": end.isoformat()},
        )
    except InvalidInput as exc:
        return page.redirect(PATH, flash=exc.localized(page.locale), kind="error")
    except jobs_service.JobAlreadyRunning:
        return page.redirect(
            PATH,
            flash=_("{kind} is already running: follow it below.", kind=_(KIND_NAMES[kind])),
            kind="error",
        )
    return page.redirect(PATH, flash=_("{kind} started (job {id}).", kind=_(KIND_NAMES[kind]), id=job.id))


@router.post("/anomalies/suspensions/{member_id}/lift")
def lift(page: StaffPage, form: StaffForm, member_id: int) -> Response:
    """Let the member redeem again (audited, with the note)."""
    page.require("anomalies:review")
    note = str(form.get("note") or "").strip()[:1000] or None
    try:
        anomalies.lift(page.ctx, member_id, note=note, actor=actor_of(page))
    except NotFound:
        return page.redirect(PATH, flash=_("Member {id} may already redeem.", id=member_id), kind="error")
    return page.redirect(PATH, flash=_("Member {id} may redeem again.", id=member_id))


def _figures(flag: anomalies.Flag, locale: str) -> list[tuple[str, str]]:
    out = []
    for key, value in flag.params.items():
        if isinstance(value, list | dict) or value is None or key in UNSHOWN_FIGURES:
            continue
        label = _(FIGURE_NAMES[key]) if key in FIGURE_NAMES else key
        shown_value = formats.number(value, locale) if isinstance(value, int | float) else str(value)
        out.append((label, shown_value))
    return out


def _flag_page(page: Page, flag: anomalies.Flag, errors: dict[str, str], status: int = 200) -> Response:
    return page.html(
        "console/anomaly.html",
        {
            "flag": flag,
            "row": flag_row(flag, page.locale),
            "figures": _figures(flag, page.locale),
            "errors": errors,
            "zone": page.ctx.settings.timezone,
        },
        status=status,
    )


@router.get("/anomalies/{flag_id}")
def flag_page(page: StaffPage, flag_id: int) -> Response:
    """One flag: whom it is about, why, its figures, and its review (or the review form)."""
    page.require("anomalies:read")
    flag = anomalies.get_flag(page.ctx, flag_id, store_ids=page.staff.store_ids)
    return _flag_page(page, flag, {})


@router.post("/anomalies/{flag_id}/review")
def review(page: StaffPage, form: StaffForm, flag_id: int) -> Response:
    """Confirm the fraud (optionally suspending redemptions) or call it a false alarm."""
    page.require("anomalies:review")
    flag = anomalies.get_flag(page.ctx, flag_id, store_ids=page.staff.store_ids)
    decision = str(form.get("decision") or "")
    suspend = form.get("suspend") == "1"
    note = str(form.get("note") or "")
    if decision not in anomalies.DECISIONS:
        return _flag_page(page, flag, {"decision": _("Choose: fraud or false alarm.")}, status=422)
    try:
        anomalies.review(
            page.ctx,
            flag_id,
            decision,
            actor=actor_of(page),
            reviewer_name=page.staff.username,
            note=note,
            suspend=suspend,
        )
    except InvalidInput as exc:
        return _flag_page(
            page, flag, forms.field_errors(exc, page.locale, {"decision", "note", "suspend"}), 422
        )
    except Conflict as exc:
        return page.redirect(f"{PATH}/{flag_id}", flash=exc.localized(page.locale), kind="error")
    if decision == "approve":
        said = (
            _("Flag {id} confirmed as fraud; the member's redemptions are suspended.", id=flag_id)
            if suspend
            else _("Flag {id} confirmed as fraud.", id=flag_id)
        )
    else:
        said = _("Flag {id} closed as a false alarm.", id=flag_id)
    return page.redirect(PATH, flash=said)
