"""Who is asking the member portal: a visitor of the sign-in pages, or a signed-in member.

The same `Page`, CSRF check and route class as the console (`loyalty.web.pages`), with the portal's
own cookies (`session.PORTAL`: other names, `Path=/m`, other audiences), so a staff session is no
member session and a member's is no staff session. A member page knows its member from the session
only: no route takes a member id, so a member can reach nobody else's data.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from loyalty.domain.errors import NotFound
from loyalty.services import members as members_service
from loyalty.web import csrf, session
from loyalty.web.i18n import request_locale
from loyalty.web.pages import ConsoleRoute, LoginRequired, Page, checked_form, keep_alive, visitor

PREFIX = "/m"
LOGIN_PATH = f"{PREFIX}/login"
HOME_PATH = PREFIX


class PortalRoute(ConsoleRoute):
    """A portal route: errors as portal pages, no session → the sign-in page."""

    login_path = LOGIN_PATH
    error_template = "portal/error.html"


async def visitor_page(request: Request) -> Page:
    """A sign-in page: the CSRF token of the visitor's pre-session cookie (made if missing)."""
    return visitor(request, session.PORTAL)


async def member_page(request: Request) -> Page:
    """A page of a signed-in member who is still active; else the sign-in page."""
    ctx = request.app.state.ctx
    secret = ctx.settings.secret_key
    now = ctx.now()
    live = session.read_session(request, secret, now, session.PORTAL)
    page = Page(
        request,
        ctx,
        request_locale(request),
        live.csrf if live else csrf.new_token(),
        cookies=session.PORTAL,
    )
    request.state.page = page
    if live is None:
        raise LoginRequired
    try:
        member = await run_in_threadpool(members_service.get_member, ctx, live.user_id)
    except NotFound:
        member = None
    if member is None or member.status != "active":
        page.after(lambda r: session.end_session(r, request, session.PORTAL))
        raise LoginRequired
    page.member_id = member.id
    keep_alive(page, live, now)
    return page


async def member_form(page: Annotated[Page, Depends(member_page)]) -> FormData:
    return await checked_form(page)


async def visitor_form(page: Annotated[Page, Depends(visitor_page)]) -> FormData:
    return await checked_form(page)


MemberPage = Annotated[Page, Depends(member_page)]
VisitorPage = Annotated[Page, Depends(visitor_page)]
MemberForm = Annotated[FormData, Depends(member_form)]
VisitorForm = Annotated[FormData, Depends(visitor_form)]
