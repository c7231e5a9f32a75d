"""Request bodies over `LOYALTY_API_MAX_BODY_BYTES` get 413 before they are read whole.

A body is held in memory whole before it is validated, so without a limit the size of what a client
sends is the memory a request takes (a sale padded to 10 MB was read, parsed and posted). A declared
`Content-Length` over the limit is answered at once, before a byte of the body is read; the server
holds a body to its declared length, so a request within the limit costs one pass over its headers
and nothing else (the POS path). A body without a length (chunked) is counted as it arrives and
refused as soon as it passes the limit. The 413 closes the connection: the rest of the body is never
read, so the connection cannot carry another request.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loyalty.api.errors import API_DOMAIN, problem_response, request_locale
from loyalty.domain.errors import fill
from loyalty.i18n import marker, translate

N_ = marker("api")
TOO_LARGE = N_("The request body is larger than the {limit} bytes this API accepts.")

#: methods whose bodies nothing here reads: a request without a length is passed on unwatched
_BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a body without a declared length passes the limit.

    An `HTTPException`, so that FastAPI lets it through its body parsing (anything else becomes a
    400 there) to the handler `install` registers.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, "Content Too Large")
        self.limit = limit


def too_large(request: Request, limit: int) -> JSONResponse:
    """The 413 problem, in the request's language, naming the limit (also as `max_body_bytes`)."""
    from loyalty.i18n.formats import number

    locale = request_locale(request)
    return problem_response(
        413,
        "PAYLOAD_TOO_LARGE",
        fill(translate(API_DOMAIN, TOO_LARGE, locale), {"limit": number(limit, locale)}),
        extra={"max_body_bytes": limit},
        headers={"Connection": "close"},
        locale=locale,
    )


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length (None when it has none)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:  # the server refuses these before we see them
                return None
    return None


class BodyLimit:
    """ASGI middleware: 413 for a body over `limit` bytes, declared or counted (module docstring)."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = declared_length(scope)
        if length is not None:
            if length > self.limit:
                await too_large(Request(scope), self.limit)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if scope["method"] in _BODILESS:
            await self.app(scope, receive, send)
            return
        await self._counted(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit
        received = 0
        started = False

        async def counting() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watching(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting, watching)
        except BodyTooLarge:  # passed the limit outside FastAPI's handlers (another middleware read it)
            if started:
                raise
            await too_large(Request(scope), limit)(scope, receive, send)


def install(app: FastAPI, limit: int) -> None:
    """Refuse bodies over `limit` bytes on every route of `app` (add it outermost)."""

    async def handler(request: Request, exc: Any) -> JSONResponse:
        return too_large(request, exc.limit)

    app.add_exception_handler(BodyTooLarge, handler)
    app.add_middleware(BodyLimit, limit=limit)
