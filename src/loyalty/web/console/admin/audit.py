"""The audit log (`audit:read`: admins and auditors): who changed what, when, with the values before
and after, filtered by actor, action, object and date range, newest first, a page at a time with the
id cursor of `GET /api/v1/audit`.

The filters travel in the query string because they are ids, action names and dates, never personal
data; the dates are days of the programme's time zone. A phone or email among the values before and
after is masked for a role that may not see contact data (as the API masks members).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from starlette.responses import Response

from loyalty.api.security import mask_email, mask_phone
from loyalty.domain import cursors
from loyalty.domain.errors import InvalidInput
from loyalty.i18n import translator
from loyalty.services import auth as auth_service
from loyalty.web.console import forms
from loyalty.web.pages import ConsoleRoute, Page, StaffPage

_ = translator("web")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

AUDIT_PATH = "/console/admin/audit"
PAGE_SIZE = 50
ACTOR_KINDS = ("staff", "api_key", "member", "system")
#: what the object filter offers (the `entity` of audit rows)
ENTITIES = (
    "member",
    "purchase",
    "store",
    "merchant",
    "staff_user",
    "api_key",
    "programme",
    "tier",
    "job",
    "import_run",
    "export",
)
#: offered beside the action filter (any action may be typed)
KNOWN_ACTIONS = (
    "api_key.create",
    "api_key.revoke",
    "job.start",
    "member.deactivate",
    "member.erase",
    "member.merge",
    "member.register",
    "member.update",
    "member_token.issue",
    "member_token.revoke",
    "merchant.create",
    "merchant.update",
    "points.adjust",
    "points.redeem",
    "programme.update",
    "purchase.claim",
    "purchase.post",
    "purchase.return",
    "staff.create",
    "staff.password_reset",
    "staff.update",
    "store.create",
    "store.update",
    "tier.create",
    "tier.lock",
    "tier.update",
)
_CONTACT_KEYS = {"phone": mask_phone, "email": mask_email}
_SHOWN_CHARS = 160

Text = Annotated[str, Query(max_length=64)]


@dataclass(frozen=True)
class Change:
    """One field of an entry: its value before and after (None: absent on that side)."""

    field: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class Row:
    entry: auth_service.AuditEntry
    actor: str
    changes: list[Change]


@router.get("/admin/audit")
def audit_page(
    page: StaffPage,
    actor: Text = "",
    action: Text = "",
    entity: Text = "",
    entity_id: Text = "",
    since: Text = "",
    until: Text = "",
    cursor: Text = "",
) -> Response:
    """Audit entries newest first, filtered as asked, `PAGE_SIZE` at a time."""
    page.require("audit:read")
    values = {
        "actor": actor.strip(),
        "action": action.strip(),
        "entity": entity.strip(),
        "entity_id": entity_id.strip(),
        "since": since.strip(),
        "until": until.strip(),
    }
    errors: dict[str, str] = {}
    zone = ZoneInfo(page.ctx.settings.timezone)
    start = forms.optional_date(values["since"], "since", errors)
    end = forms.optional_date(values["until"], "until", errors)
    if start and end and end < start:
        errors["until"] = _("The last day cannot be before the first.")
    actor_kind, actor_id = _actor_filter(values["actor"], errors)
    before_id = None
    try:
        before_id = cursors.before_id(cursor or None)
    except InvalidInput:
        errors["form"] = _("That page link is not valid; start again from the newest entries.")
    rows: list[Row] = []
    next_url = None
    query = {k: v for k, v in values.items() if v}
    first_url = f"{AUDIT_PATH}?{urlencode(query)}" if query else AUDIT_PATH
    if not errors:
        entries = auth_service.audit_entries(
            page.ctx,
            entity=values["entity"] or None,
            entity_id=values["entity_id"] or None,
            actor_id=actor_id,
            actor_kind=actor_kind,
            action=values["action"] or None,
            since=_day_start(start, zone),
            until=_day_start(end + timedelta(days=1), zone) if end else None,
            before_id=before_id,
            limit=PAGE_SIZE,
        )
        rows = _rows(page, entries)
        if len(entries) == PAGE_SIZE:
            next_url = f"{AUDIT_PATH}?{urlencode({**query, 'cursor': cursors.id_cursor(entries[-1].id)})}"
    return page.html(
        "console/admin/audit.html",
        {
            "given": values,
            "errors": errors,
            "rows": rows,
            "next_url": next_url,
            "first_url": first_url if cursor else None,
            "actors": _actor_options(page, values["actor"]),
            "entities": [("", _("Any object")), *[(e, e) for e in ENTITIES]],
            "actions": KNOWN_ACTIONS,
            "zone": page.ctx.settings.timezone,
        },
        status=422 if errors else 200,
    )


def _day_start(day: date | None, zone: ZoneInfo) -> datetime | None:
    return None if day is None else datetime.combine(day, time(0), tzinfo=zone)


def _actor_filter(text: str, errors: dict[str, str]) -> tuple[str | None, str | None]:
    """`staff:12` → ("staff", "12"); `system` → ("system", None); empty → no filter."""
    if not text:
        return None, None
    kind, _sep, ident = text.partition(":")
    if kind not in ACTOR_KINDS or (kind != "system" and not ident.isdigit()):
        errors["actor"] = _("Choose who from the list.")
        return None, None
    return kind, (ident or None)


def _actor_options(page: Page, chosen: str) -> list[tuple[str, str]]:
    options = [("", _("Anyone")), ("system", _("The system (command line, nightly jobs)"))]
    options += [(f"staff:{u.id}", f"{u.username} · {_('staff')}") for u in auth_service.list_staff(page.ctx)]
    if chosen and chosen not in {value for value, _text in options}:
        options.append((chosen, chosen))
    return options


def _rows(page: Page, entries: list[auth_service.AuditEntry]) -> list[Row]:
    staff = {str(u.id): u.username for u in auth_service.list_staff(page.ctx)} if entries else {}
    keys = {str(k.id): k.name for k in auth_service.list_api_keys(page.ctx)} if entries else {}
    masked = not page.can("members:pii")
    return [
        Row(entry=e, actor=_actor_name(e, staff, keys), changes=_changes(e.before, e.after, masked))
        for e in entries
    ]


def _actor_name(entry: auth_service.AuditEntry, staff: dict[str, str], keys: dict[str, str]) -> str:
    ident = entry.actor_id or ""
    if entry.actor_kind == "staff":
        return _("{name} (staff #{id})", name=staff.get(ident, "?"), id=ident)
    if entry.actor_kind == "api_key":
        return _("POS key {name} (#{id})", name=keys.get(ident, "?"), id=ident)
    if entry.actor_kind == "member":
        return _("Member #{id}", id=ident)
    return _("The system")


def _changes(before: Any, after: Any, masked: bool) -> list[Change]:
    old = before if isinstance(before, dict) else {}
    new = after if isinstance(after, dict) else {}
    fields = list(dict.fromkeys([*new, *old]))
    return [
        Change(field, _shown(field, old, masked), _shown(field, new, masked))
        for field in fields
        if old.get(field) != new.get(field) or field not in old or field not in new
    ]


def _shown(field: str, values: dict[str, Any], masked: bool) -> str | None:
    if field not in values:
        return None
    value = values[field]
    if masked and field in _CONTACT_KEYS and isinstance(value, str):
        value = _CONTACT_KEYS[field](value)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"
