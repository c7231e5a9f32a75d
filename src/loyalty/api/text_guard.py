"""Control characters in a request's text are refused at the edge: 422 naming each field.

The rule is `loyalty.domain.text`'s, the one the services apply to their own text filters: a NUL in
`q=` ended SQLite's LIKE pattern early and listed every member, and PostgreSQL's driver refused it
(an unnamed 422, "a value is out of range for storage"). Here it covers every route at once, query
parameters (`query.q`) and JSON or form bodies (`lines.0.category`, as pydantic names a body field),
before the app sees them.

A body is read here whole (FastAPI would read it whole anyway; `body_limit` bounds it) and scanned in
bytes for anything that could decode to such a character: in JSON an escape (`\\u0000`, `\\b`, a
surrogate) or a raw DEL or C1 byte pair, since raw C0 bytes are not valid JSON (a body in UTF-16 or
UTF-32, which JSON parsers accept, is always parsed). Only a body in which the scan finds one is
parsed here to name its fields, so an ordinary sale costs one pass over its bytes; then the app gets
the body as it came.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loyalty.api.errors import domain_error_response, request_locale
from loyalty.domain.errors import InvalidInput
from loyalty.domain.text import CONTROL, control_error

#: bytes of a JSON body that may decode to a refused character (false alarms are parsed and pass)
_JSON_SUSPECT = re.compile(
    rb"\\(?:u00[0189][0-9a-fA-F]|u007[fF]|u[dD][89a-fA-F][0-9a-fA-F]{2}|[bf])|\x7f|\xc2[\x80-\x9f]"
)
#: at most this many fields are named in one problem
_MAX_NAMED = 20


def query_errors(query_string: bytes) -> list[dict[str, Any]]:
    """One error per query parameter whose value holds a refused character, named `query.<name>`."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    errors = [control_error(f"query.{name}", value) for name, value in pairs]
    return [e for e in errors if e is not None][:_MAX_NAMED]


def json_errors(body: bytes) -> list[dict[str, Any]]:
    """One error per string (or key) of a JSON body holding a refused character, by its path.

    Empty when the body is not JSON: the app's parser then says what is wrong with it.
    """
    if b"\x00" not in body:  # UTF-8; JSON in UTF-16 or UTF-32 (NUL bytes in any text) is parsed
        if b"\\" not in body and b"\x7f" not in body and b"\xc2" not in body:  # most: fast way out
            return []
        if _JSON_SUSPECT.search(body) is None:
            return []
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return []
    return _walk(document)


def form_errors(body: bytes) -> list[dict[str, Any]]:
    """One error per field of a URL-encoded form whose value holds a refused character."""
    pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding="utf-8")
    errors = [control_error(name, value) for name, value in pairs]
    return [e for e in errors if e is not None][:_MAX_NAMED]


def _walk(document: Any) -> list[dict[str, Any]]:
    """Every string in `document` (iteratively: nesting depth is the client's choice)."""
    errors: list[dict[str, Any]] = []
    todo: list[tuple[tuple[str, ...], Any]] = [((), document)]
    while todo and len(errors) < _MAX_NAMED:
        path, value = todo.pop()
        if isinstance(value, str):
            error = control_error(".".join(path) or "body", value)
            if error is not None:
                errors.append(error)
        elif isinstance(value, dict):
            for key, item in value.items():
                shown = CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", key)
                error = control_error(".".join((*path, shown)), key)
                if error is not None:
                    errors.append(error)
                todo.append(((*path, shown), item))
        elif isinstance(value, list):
            todo.extend(((*path, str(i)), item) for i, item in enumerate(value))
    errors.sort(key=lambda e: str(e["field"]))
    return errors[:_MAX_NAMED]


def _body_kind(scope: Scope) -> str | None:
    """ "json" or "form" by the request's Content-Type; None for anything this does not read."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            if media == b"application/json" or (
                media.startswith(b"application/") and media.endswith(b"+json")
            ):
                return "json"
            if media == b"application/x-www-form-urlencoded":
                return "form"
            return None
    return None


def refused(errors: Iterable[dict[str, Any]]) -> InvalidInput:
    """The 422 for `errors`: VALIDATION_FAILED, its detail the first field's message."""
    listed = list(errors)
    first = listed[0]
    return InvalidInput(
        "VALIDATION_FAILED",
        "{field} contains the control character {character}; send text without it",
        {"field": first["field"], "character": first["values"]["character"], "errors": listed},
    )


class TextGuard:
    """ASGI middleware: a request whose query or JSON/form body holds a refused character gets 422."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string")
        if query:
            errors = query_errors(query)
            if errors:
                await self._refuse(scope, receive, send, errors)
                return
        kind = _body_kind(scope)
        if kind is None:
            await self.app(scope, receive, send)
            return
        message = await receive()
        if message.get("more_body", False):  # a body in several chunks: one message of them all
            message = await _whole(message, receive)
        if message["type"] == "http.request":
            body = message.get("body", b"")
            errors = json_errors(body) if kind == "json" else form_errors(body)
            if errors:
                await self._refuse(scope, receive, send, errors)
                return
        await self.app(scope, _replaying(message, receive), send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, errors: list[dict[str, Any]]) -> None:
        request = Request(scope, receive)
        response = domain_error_response(refused(errors), request_locale(request))
        await response(scope, receive, send)


async def _whole(first: Message, receive: Receive) -> Message:
    """The body whose first chunk is `first` as one message (or the disconnect that cut it short)."""
    chunks = [first.get("body", b"")]
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}


def _replaying(message: Message, receive: Receive) -> Receive:
    """A `receive` that gives `message` first, then what the server sends (a disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return message

    return replay


def install(app: FastAPI) -> None:
    """Check every request's query and JSON or form body (module docstring)."""
    app.add_middleware(TextGuard)
