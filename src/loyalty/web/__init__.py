"""The web front ends served by `loyalty serve` beside the API: the staff console (`/console`) and the
member portal (`/m`).

Server-rendered pages (Jinja2) enhanced with htmx, both shipped in this package (see
docs/adr/0004-web-console.md). The pages are clients of the services, like the API and the CLI: no
business rule lives here, and `loyalty.db` is out of reach (an import-linter contract).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/static"


def install(app: FastAPI) -> None:
    """Mount the console's and the member portal's routes and the package's static files (CSS,
    vendored scripts) on `app`."""
    from starlette.staticfiles import StaticFiles

    from loyalty.web.console import router as console_router
    from loyalty.web.portal import router as portal_router

    app.include_router(console_router)
    app.include_router(portal_router)
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="static")
