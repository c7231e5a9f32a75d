"""A member's data rights from their 360° page: download their data package, erase their personal data.

Both need `members:privacy` (administrators) and run through `loyalty.services.privacy`, as the
API's `GET /members/{id}/data-export` and `POST /members/{id}/erase` and the CLI do. The download is
a POST (CSRF-checked; the export is audited), answered with the JSON file as an attachment; the
form opts out of htmx's boost so the browser saves it. The erasure needs the member's card number
typed into its field; a wrong one is refused beside it and nothing is changed.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from loyalty.domain.errors import DomainError
from loyalty.i18n import translator
from loyalty.services import privacy
from loyalty.web.console.members import member_path, render_member
from loyalty.web.pages import ConsoleRoute, StaffForm, StaffPage

_ = translator("web")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@router.post("/members/{member_id}/data-export")
def data_export(member_id: int, page: StaffPage, form: StaffForm) -> Response:
    """The member's data package as a JSON download (audited as `member.data_export`)."""
    page.require("members:privacy")
    package = privacy.export_member_data(page.ctx, member_id, actor=page.staff.to_actor())
    return Response(
        package.model_dump_json(indent=2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="member-{member_id}-data.json"'},
    )


@router.post("/members/{member_id}/erase")
def erase(member_id: int, page: StaffPage, form: StaffForm) -> Response:
    """Erase the member's personal data once their card number is typed as confirmation."""
    page.require("members:privacy")
    confirm = str(form.get("confirm") or "").strip()[:40]
    try:
        privacy.erase_member(page.ctx, member_id, confirm=confirm, actor=page.staff.to_actor())
    except DomainError as exc:
        if exc.code == "MEMBER_NOT_FOUND":
            raise
        return render_member(
            page, member_id, errors={"erase.confirm": exc.localized(page.locale)}, status=422
        )
    return page.redirect(
        member_path(member_id),
        flash=_("Personal data erased. Purchases and points stay, on an anonymised record."),
    )
