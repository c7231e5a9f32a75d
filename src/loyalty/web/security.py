"""HTTP headers every console page carries: a Content-Security-Policy that allows this server's own
scripts, styles and images only (no inline script or style: htmx is driven by `hx-*` attributes),
no framing, no MIME sniffing, no referrer, and no caching of pages that show personal data."""

from __future__ import annotations

from starlette.responses import Response

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def secure(response: Response) -> Response:
    """`response` with the console's security headers (those it sets itself are kept)."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response
