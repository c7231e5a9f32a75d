"""The till's routes (every sale, every scan) read a well-formed request without FastAPI's per-request
dependency solving.

FastAPI solves a route's whole parameter tree on each request: it walks the dependencies, collects
headers into a dictionary, reads and validates the body through its generic field machinery, and
builds the error list as it goes. On the POS path that was about an eighth of the server's time. A
`TillRoute` learns once, from the same declaration FastAPI reads (so the published schema is
unchanged), what its endpoint takes: one JSON body model, header parameters, dependencies that take
only the request, and the request itself. A request whose body and headers validate is then answered
by calling the endpoint directly; any other (no or another content type, malformed JSON, a field or
header that does not validate) is handed to FastAPI's own handler, which answers it exactly as for
any route (the 422 naming the field, and so on). Dependencies raise as they do under FastAPI, and the
app's exception handlers render what the endpoint raises. A route whose declaration holds anything
else is left to FastAPI entirely.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, get_type_hints

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


@dataclass(frozen=True)
class _Header:
    name: str  # the endpoint's parameter
    alias: str  # the header
    adapter: TypeAdapter[Any]


@dataclass(frozen=True)
class _Plan:
    """How to call an endpoint from a well-formed request, learnt from its FastAPI declaration."""

    endpoint: Callable[..., Awaitable[Response]]
    body_name: str
    body_model: type[BaseModel]
    headers: tuple[_Header, ...]
    dependencies: tuple[tuple[str, Callable[..., Any], str], ...]  # (argument, dependency, its request)
    request_name: str | None

    @classmethod
    def of(cls, route: APIRoute) -> _Plan | None:
        """The plan for `route`, or None when its declaration holds more than a plan knows."""
        dependant = route.dependant
        endpoint = dependant.call
        if endpoint is None or not inspect.iscoroutinefunction(endpoint):
            return None
        returns = get_type_hints(endpoint).get("return")
        if not (inspect.isclass(returns) and issubclass(returns, Response)):
            return None  # the lean path cannot serialize a model as FastAPI would
        if dependant.path_params or dependant.query_params or dependant.cookie_params:
            return None
        if len(dependant.body_params) != 1 or route._embed_body_fields:
            return None
        body = dependant.body_params[0]
        model = body.field_info.annotation
        if not (inspect.isclass(model) and issubclass(model, BaseModel)):
            return None
        extra = (
            dependant.response_param_name,
            dependant.background_tasks_param_name,
            dependant.security_scopes_param_name,
            dependant.websocket_param_name,
            dependant.http_connection_param_name,
        )
        if any(name is not None for name in extra):
            return None
        dependencies = []
        for sub in dependant.dependencies:
            takes_more = (
                sub.dependencies,
                sub.path_params,
                sub.query_params,
                sub.header_params,
                sub.cookie_params,
                sub.body_params,
            )
            if sub.request_param_name is None or any(takes_more) or sub.name is None or sub.call is None:
                return None  # a dependency that takes anything but the request
            dependencies.append((sub.name, sub.call, sub.request_param_name))
        headers = tuple(_Header(h.name, h.alias, _adapter(h.field_info)) for h in dependant.header_params)
        return cls(endpoint, body.name, model, headers, tuple(dependencies), dependant.request_param_name)

    async def arguments(self, request: Request) -> dict[str, Any] | None:
        """The endpoint's arguments for `request`, or None for FastAPI's handler to answer it."""
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            return None
        raw = await request.body()  # kept on the request: FastAPI's handler reads it again if need be
        try:
            body = self.body_model.model_validate(json.loads(raw))
            values: dict[str, Any] = {self.body_name: body}
            for header in self.headers:
                values[header.name] = header.adapter.validate_python(request.headers.get(header.alias))
        except Exception:  # malformed JSON, too deep to parse, a field or header that fails: FastAPI answers
            return None
        if self.request_name is not None:
            values[self.request_name] = request
        for name, call, request_name in self.dependencies:
            value = call(**{request_name: request})
            values[name] = await value if inspect.isawaitable(value) else value
        return values


def _adapter(info: FieldInfo) -> TypeAdapter[Any]:
    """Validates a value as FastAPI validates the parameter (its type and constraints, e.g. a length)."""
    form: Any = Annotated[info.annotation, info]
    return TypeAdapter(form)


class TillRoute(APIRoute):
    """An APIRoute that answers a well-formed request by the lean path above (`route_class`)."""

    def get_route_handler(self) -> Handler:
        standard = super().get_route_handler()
        plan = _Plan.of(self)
        if plan is None:
            return standard

        async def handler(request: Request) -> Response:
            arguments = await plan.arguments(request)
            if arguments is None:
                return await standard(request)
            return await plan.endpoint(**arguments)

        return handler
