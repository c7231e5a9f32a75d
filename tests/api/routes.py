"""The app's routes as the server matches them, for tests that must cover every one.

Taken from the running app rather than from `/openapi.json`, so a route left out of the published
schema (`include_in_schema=False`) is still covered. FastAPI nests included routers in its route list
(`iter_route_contexts` flattens them, as FastAPI's own OpenAPI generation does); static mounts carry
no handler of ours and are left out.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import FastAPI

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _flattened(routes: Sequence[Any]) -> Iterator[Any]:
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before nested route contexts: the list is flat already
        yield from routes
        return
    yield from iter_route_contexts(routes)


#: the staff console's pages (HTML forms, session cookies): their own role × route matrix, which lists
#: every one of them, is tests/web/test_console.py
CONSOLE_PREFIX = "/console"
PORTAL_PREFIX = "/m"


def app_routes(app: FastAPI, *, console: bool = False, portal: bool = False) -> set[tuple[str, str]]:
    """Every (METHOD, path template) the app serves; HEAD only where it is the route's sole method.

    The console's routes only with `console=True`, the member portal's only with `portal=True` (the
    API's matrix and attacks are about the API).
    """
    found: set[tuple[str, str]] = set()
    for route in _flattened(app.routes):
        methods = set(getattr(route, "methods", None) or ())
        path = getattr(route, "path", None)
        if not methods or path is None:
            continue  # a mount (static files)
        in_portal = path == PORTAL_PREFIX or path.startswith(PORTAL_PREFIX + "/")
        if in_portal is not portal:
            continue
        if (path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")) is not console:
            continue
        if methods != {"HEAD"}:
            methods.discard("HEAD")  # Starlette adds HEAD beside GET
        found.update((method, path) for method in methods)
    return found


def write_routes(app: FastAPI) -> set[tuple[str, str]]:
    """The routes that can change stored data: every POST, PUT, PATCH and DELETE."""
    return {(method, path) for method, path in app_routes(app) if method in WRITE_METHODS}
