"""Staff accounts (`staff:manage`, admins): list, create, change role, stores and display name,
disable and enable, reset a password.

A password typed here goes to the service in the form body only; one left empty is generated and
shown once on the page that answers the form (never in a redirect, a cookie or a URL).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.responses import Response

from loyalty.domain.errors import DomainError
from loyalty.i18n import translator
from loyalty.services import auth as auth_service
from loyalty.web.console import forms, views
from loyalty.web.console.admin.common import given
from loyalty.web.pages import ROLE_NAMES, ConsoleRoute, Page, StaffForm, StaffPage, role_name

_ = translator("web")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

STAFF_PATH = "/console/admin/staff"
#: what the API accepts as a username (`api.routers.auth.StaffIn`)
USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
_FIELDS = {"username", "display_name", "role", "store_ids", "password", "active"}


def staff_path(user_id: int) -> str:
    return f"{STAFF_PATH}/{user_id}"


def _roles() -> list[tuple[str, str]]:
    return [(code, role_name(code)) for code in ROLE_NAMES]


@router.get("/admin/staff")
def staff_list(page: StaffPage) -> Response:
    """Every staff account with its role, stores and whether it may log in."""
    page.require("staff:manage")
    stores = views.store_map(page)
    rows = [
        (user, role_name(user.role), [stores[s].name for s in user.store_ids if s in stores])
        for user in auth_service.list_staff(page.ctx)
    ]
    return page.html("console/admin/staff.html", {"rows": rows})


# --- create ---------------------------------------------------------------------------------------


def _form_values(page: Page, values: dict[str, Any], errors: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "given": values,
        "errors": errors or {},
        "roles": _roles(),
        "stores": views.my_stores(page),
        "scoped_roles": sorted(auth_service.STORE_SCOPED_ROLES),
    }


@router.get("/admin/staff/new")
def new_staff(page: StaffPage) -> Response:
    """The form for a new staff account."""
    page.require("staff:manage")
    return page.html("console/admin/staff_new.html", _form_values(page, {"role": "cashier", "store_ids": []}))


def _store_ids(form: FormData, errors: dict[str, str]) -> list[int]:
    ids: list[int] = []
    for raw in form.getlist("store_ids"):
        try:
            ids.append(int(str(raw)))
        except ValueError:
            errors["store_ids"] = _("Choose stores from the list.")
    return ids


@router.post("/admin/staff")
def create_staff(page: StaffPage, form: StaffForm) -> Response:
    """Create the account; a password left empty is generated and shown once."""
    page.require("staff:manage")
    values: dict[str, Any] = given(form, "username", "display_name", "role", "password")
    errors: dict[str, str] = {}
    values["store_ids"] = _store_ids(form, errors)
    if not USERNAME.match(values["username"]):
        errors["username"] = _("Use 3 to 64 letters, digits or . _ @ -")
    if values["role"] not in ROLE_NAMES:
        errors["role"] = _("Choose a role.")
    if len(values["display_name"]) > 100:
        errors["display_name"] = _("Use at most 100 characters.")
    password = values.pop("password")
    if password and not 8 <= len(password) <= 256:
        errors["password"] = _("Use at least 8 characters, or leave it empty to have one generated.")
    if errors:
        return page.html("console/admin/staff_new.html", _form_values(page, values, errors), status=422)
    generated = None if password else auth_service.generated_password()
    try:
        user = auth_service.create_staff(
            page.ctx,
            username=values["username"],
            password=password or str(generated),
            role=values["role"],
            store_ids=values["store_ids"],
            display_name=values["display_name"] or None,
            actor=page.staff.to_actor(),
        )
    except DomainError as exc:
        errors = forms.field_errors(exc, page.locale, _FIELDS)
        if "form" in errors and exc.code == "DUPLICATE_USERNAME":
            errors["username"] = errors.pop("form")
        return page.html("console/admin/staff_new.html", _form_values(page, values, errors), status=422)
    message = _("Staff account {username} created.", username=user.username)
    if generated is None:
        return page.redirect(staff_path(user.id), flash=message)
    return _edit(page, user, secret=generated, notice=message)


# --- one account ----------------------------------------------------------------------------------


def _user(page: Page, user_id: int) -> auth_service.StaffUser:
    user = auth_service.get_staff(page.ctx, user_id)
    if user is None:
        raise auth_service.staff_not_found(user_id)
    return user


def _edit(
    page: Page,
    user: auth_service.StaffUser,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    secret: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    shown = values or {
        "role": user.role,
        "store_ids": list(user.store_ids),
        "display_name": user.display_name or "",
    }
    return page.html(
        "console/admin/staff_edit.html",
        {
            **_form_values(page, shown, errors),
            "account": user,
            "secret": secret,
            "notice": notice,
        },
        status=status,
    )


@router.get("/admin/staff/{user_id}")
def staff_page(user_id: int, page: StaffPage) -> Response:
    """One account: its role, stores and display name to change, enable/disable, reset password."""
    page.require("staff:manage")
    return _edit(page, _user(page, user_id))


@router.post("/admin/staff/{user_id}")
def update_staff(user_id: int, page: StaffPage, form: StaffForm) -> Response:
    """Change the account's role, stores and display name (the role applies at the user's next click)."""
    page.require("staff:manage")
    user = _user(page, user_id)
    values: dict[str, Any] = given(form, "display_name", "role")
    errors: dict[str, str] = {}
    values["store_ids"] = _store_ids(form, errors)
    if values["role"] not in ROLE_NAMES:
        errors["role"] = _("Choose a role.")
    if len(values["display_name"]) > 100:
        errors["display_name"] = _("Use at most 100 characters.")
    if errors:
        return _edit(page, user, values=values, errors=errors, status=422)
    changes = auth_service.StaffChanges(
        role=values["role"],
        # a chain-wide role takes no stores: the boxes still ticked from a store role are dropped
        store_ids=values["store_ids"] if values["role"] in auth_service.STORE_SCOPED_ROLES else [],
        display_name=values["display_name"] or None,
    )
    try:
        auth_service.update_staff(page.ctx, user_id, changes, actor=page.staff.to_actor())
    except DomainError as exc:
        errors = forms.field_errors(exc, page.locale, _FIELDS)
        return _edit(
            page, user, values=values, errors=errors, status=409 if exc.code == "LAST_ADMIN" else 422
        )
    return page.redirect(staff_path(user_id), flash=_("Changes to {username} saved.", username=user.username))


@router.post("/admin/staff/{user_id}/active")
def set_active(user_id: int, page: StaffPage, form: StaffForm) -> Response:
    """Disable the account (it is logged out at its next click and cannot log in) or enable it again."""
    page.require("staff:manage")
    user = _user(page, user_id)
    active = str(form.get("active") or "") == "1"
    try:
        auth_service.update_staff(
            page.ctx, user_id, auth_service.StaffChanges(active=active), actor=page.staff.to_actor()
        )
    except DomainError as exc:
        errors = forms.field_errors(exc, page.locale, _FIELDS)
        return _edit(page, user, errors=errors, status=409)
    message = (
        _("{username} may log in again.", username=user.username)
        if active
        else _("{username} is disabled and can no longer log in.", username=user.username)
    )
    return page.redirect(staff_path(user_id), flash=message)


@router.post("/admin/staff/{user_id}/password")
def reset_password(user_id: int, page: StaffPage, form: StaffForm) -> Response:
    """Set the password typed, or generate one and show it once."""
    page.require("staff:manage")
    user = _user(page, user_id)
    password = str(form.get("password") or "")
    if password and not 8 <= len(password) <= 256:
        errors = {"password": _("Use at least 8 characters, or leave it empty to have one generated.")}
        return _edit(page, user, errors=errors, status=422)
    try:
        generated = auth_service.reset_password(
            page.ctx, user_id, password or None, actor=page.staff.to_actor()
        )
    except DomainError as exc:
        return _edit(page, user, errors=forms.field_errors(exc, page.locale, _FIELDS), status=422)
    if generated is None:
        return page.redirect(
            staff_path(user_id), flash=_("Password of {username} changed.", username=user.username)
        )
    notice = _("Password of {username} changed.", username=user.username)
    return _edit(page, user, secret=generated, notice=notice)
