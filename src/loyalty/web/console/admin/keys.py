"""POS keys (`apikeys:manage`: admins for every store, store managers for their own): list a store's
keys, create one (its secret shown once, on the page that answers the form), revoke one.

As `POST /api/v1/stores/{id}/api-keys`: the secret leaves the service once and only its hash is kept;
the page that shows it is never cached (`Cache-Control: no-store`) and nothing puts it in a URL.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from loyalty.i18n import translator
from loyalty.services import auth as auth_service
from loyalty.services import merchants as merchants_service
from loyalty.web.console import views
from loyalty.web.console.admin.common import given
from loyalty.web.pages import ConsoleRoute, Page, StaffForm, StaffPage

_ = translator("web")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

KEYS_PATH = "/console/admin/keys"


def store_keys_path(store_id: int) -> str:
    return f"/console/admin/stores/{store_id}/keys"


@router.get("/admin/keys")
def keys_index(page: StaffPage) -> Response:
    """The stores whose keys the user manages, with how many live keys each has."""
    page.require("apikeys:manage")
    stores = views.my_stores(page)
    live = Counter(k.store_id for k in auth_service.list_api_keys(page.ctx) if k.revoked_at is None)
    rows = [(store, live.get(store.id, 0)) for store in stores]
    return page.html("console/admin/keys.html", {"rows": rows})


def _store_page(
    page: Page,
    store_id: int,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    created: Any = None,
    secret: str | None = None,
    status: int = 200,
) -> Response:
    store = merchants_service.get_store(page.ctx, store_id)
    keys = list(reversed(auth_service.list_api_keys(page.ctx, store_id)))
    return page.html(
        "console/admin/store_keys.html",
        {
            "store": store,
            "keys": keys,
            "given": values or {},
            "errors": errors or {},
            "created": created,
            "secret": secret,
        },
        status=status,
    )


@router.get("/admin/stores/{store_id}/keys")
def store_keys(store_id: int, page: StaffPage) -> Response:
    """A store's keys, live and revoked (never their secrets), and the form for a new one."""
    page.require("apikeys:manage")
    page.require_store(store_id)
    return _store_page(page, store_id)


@router.post("/admin/stores/{store_id}/keys")
def create_key(store_id: int, page: StaffPage, form: StaffForm) -> Response:
    """Create a key for the store's till and show its secret this once."""
    page.require("apikeys:manage")
    page.require_store(store_id)
    merchants_service.get_store(page.ctx, store_id)  # 404 page for a store that does not exist
    values = given(form, "name")
    if not 1 <= len(values["name"]) <= 100:
        errors = {"name": _("Name the till, e.g. till-1 (1 to 100 characters).")}
        return _store_page(page, store_id, values=values, errors=errors, status=422)
    info, secret = auth_service.create_api_key(
        page.ctx, store_id=store_id, name=values["name"], actor=page.staff.to_actor()
    )
    return _store_page(page, store_id, created=info, secret=secret)


@router.post("/admin/keys/{key_id}/revoke")
def revoke_key(key_id: int, page: StaffPage, form: StaffForm) -> Response:
    """Revoke the key: its till is refused within the API's credential-cache lifetime (30 s)."""
    page.require("apikeys:manage")
    key = auth_service.get_api_key(page.ctx, key_id)
    if key is None:
        raise auth_service.api_key_not_found(key_id)
    page.require_store(key.store_id)
    if key.revoked_at is not None:
        return page.redirect(
            store_keys_path(key.store_id), flash=_("Key {name} was already revoked.", name=key.name)
        )
    auth_service.revoke_api_key(page.ctx, key_id, actor=page.staff.to_actor())
    return page.redirect(
        store_keys_path(key.store_id),
        flash=_("Key {name} revoked: its till is refused within 30 seconds.", name=key.name),
    )
