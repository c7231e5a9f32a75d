"""Members' feedback (`/console/feedback`): their ratings of purchases at the user's stores, newest
first, low ones to follow up, and the "handled" form a store manager sends once they have.

The filters are a GET form (store among the user's own, low ratings only, open ones only; no personal
data, so the URL may carry them). Handling is a CSRF-checked POST naming the rating in the form (not
the path), for `feedback:handle` (admins, store managers); a store manager sees and handles their own
stores' ratings only (another store's answers as a missing one). Everything comes from
`services.feedback`, as the API's `/api/v1/feedback`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from loyalty.domain.errors import Conflict, InvalidInput, NotFound
from loyalty.i18n import translator
from loyalty.services import feedback
from loyalty.web.console import views
from loyalty.web.console.jobs import actor_of
from loyalty.web.pages import ConsoleRoute, Denied, StaffForm, StaffPage

_ = translator("web")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PATH = "/console/feedback"
#: ratings one page lists
SHOWN = 100
ALL_STORES = "all"


@router.get("/feedback")
def feedback_page(
    page: StaffPage,
    store: Annotated[str | None, Query(max_length=20)] = None,
    low: Annotated[str | None, Query(max_length=5)] = None,
    open_: Annotated[str | None, Query(alias="open", max_length=5)] = None,
) -> Response:
    """The ratings that pass the filters, newest first, with the handled form on open ones."""
    page.require("feedback:read")
    given = {"store": store or ALL_STORES, "low": low == "1", "open": open_ == "1"}
    store_id = None
    if given["store"] != ALL_STORES:
        if not str(given["store"]).isdigit():
            raise Denied
        store_id = int(str(given["store"]))
        page.require_store(store_id)
    found = feedback.list_feedback(
        page.ctx,
        store_ids=page.staff.store_ids,
        store_id=store_id,
        low=bool(given["low"]),
        handled=False if given["open"] else None,
        limit=SHOWN,
    )
    values: dict[str, Any] = {
        "given": given,
        "stores": views.my_stores(page),
        "chain_wide": page.staff.store_ids is None,
        "rows": found.items,
        "more": found.next_cursor is not None,
        "may_handle": page.can("feedback:handle"),
    }
    return page.html("console/feedback.html", values)


@router.post("/feedback/handle")
def handle(page: StaffPage, form: StaffForm) -> Response:
    """Mark the rating named in the form handled, with the note typed beside it."""
    page.require("feedback:handle")
    raw = str(form.get("id") or "")
    back = str(form.get("back") or PATH)
    if not back.startswith(PATH):
        back = PATH
    if not raw.isdigit() or not 0 < len(raw) <= 18:
        return page.redirect(back, flash=_("Choose a rating to mark handled."), kind="error")
    try:
        done = feedback.handle_feedback(
            page.ctx,
            int(raw),
            actor_of(page),
            note=str(form.get("note") or ""),
            store_ids=page.staff.store_ids,
        )
    except (InvalidInput, NotFound, Conflict) as exc:
        return page.redirect(back, flash=exc.localized(page.locale), kind="error")
    return page.redirect(back, flash=_("Rating {id} is marked handled.", id=done.id))
