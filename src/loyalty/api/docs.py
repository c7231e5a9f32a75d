"""Interactive API docs (Swagger UI at /docs, ReDoc at /redoc) served from the installed package.

FastAPI's own docs pages load Swagger UI and ReDoc from a CDN, so behind a firewall or offline they
are a blank page. The `fastapi-offline` package ships both bundles; they are served from here, with
no web fonts, favicon or validator badge fetched from anywhere else, and a content security policy
that keeps the pages to this server.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
ASSETS_URL = "/docs/assets"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"

# Swagger UI otherwise sends the schema's address to validator.swagger.io for a badge.
_SWAGGER_PARAMETERS: dict[str, Any] = {"validatorUrl": None, "persistAuthorization": True}
# The pages may load and call only this server: ReDoc's sidebar still asks a CDN for a logo, and a
# future bundle could ask for more; the browser refuses such requests instead of waiting on them
# behind a firewall. Inline scripts and styles are the pages' own; ReDoc's search runs in a blob: worker.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' blob:; worker-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'self'"
)


def _self_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page


def install_docs(app: FastAPI) -> None:
    """Mount the bundled assets and add the /docs, /docs/oauth2-redirect and /redoc pages to `app`.

    The app must be built with `docs_url=None, redoc_url=None` (FastAPI's CDN pages off).
    """
    assets = resources.files("fastapi_offline") / "static"
    app.mount(ASSETS_URL, StaticFiles(directory=str(assets)), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} — Swagger UI",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_URL}",
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), **_SWAGGER_PARAMETERS},
        )
        return _self_only(page)

    async def oauth2_redirect() -> HTMLResponse:
        return _self_only(get_swagger_ui_oauth2_redirect_html())

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} — ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
        return _self_only(page)

    app.add_api_route(DOCS_URL, swagger_ui, include_in_schema=False)
    app.add_api_route(OAUTH2_REDIRECT_URL, oauth2_redirect, include_in_schema=False)
    app.add_api_route(REDOC_URL, redoc, include_in_schema=False)
