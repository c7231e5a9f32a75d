"""Administration pages: the chain's staff accounts, their roles and stores (admins only)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from loyalty.services import auth as auth_service
from loyalty.web.console import views
from loyalty.web.pages import ConsoleRoute, StaffPage, role_name

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@router.get("/admin/staff")
def staff_list(page: StaffPage) -> Response:
    """Every staff account with its role, stores and whether it may log in."""
    page.require("staff:manage")
    stores = views.store_map(page)
    rows = [
        (user, role_name(user.role), [stores[s].name for s in user.store_ids if s in stores])
        for user in auth_service.list_staff(page.ctx)
    ]
    return page.html("console/staff.html", {"rows": rows})
