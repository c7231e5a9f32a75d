"""The administration index: the sections the user's role may open."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from loyalty.web.console.admin.common import SECTIONS
from loyalty.web.pages import ConsoleRoute, Denied, StaffPage

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@router.get("/admin")
def admin_index(page: StaffPage) -> Response:
    """A link to each section the user may open; a role that may open none gets the 403 page."""
    sections = [s for s in SECTIONS if page.can(s.permission)]
    if not sections:
        raise Denied
    return page.html("console/admin/index.html", {"sections": sections})
