"""RFC 9457 problem+json for every error the API returns.

Clients (POS terminals, mini-programs) branch on `type`, never on the human `title`/`detail`, so each
error has one stable type URI derived from its code (``urn:loyalty:problem:points-insufficient``) and the
upper-case `code` as an extension member. Validation failures list every bad field under `errors`.
Domain errors from the services are mapped here once, so routers never translate exceptions themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:loyalty:problem:"

_STATUS_CODES: dict[int, str] = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_FAILED",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
}


def problem_type(code: str) -> str:
    """The stable type URI for an error code (``POINTS_INSUFFICIENT`` → ``urn:…:points-insufficient``)."""
    return TYPE_PREFIX + code.lower().replace("_", "-")


class FieldError(BaseModel):
    """One invalid input field: a dotted location and why it was rejected."""

    field: str
    message: str


class Problem(BaseModel):
    """The RFC 9457 body of every non-2xx response."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["urn:loyalty:problem:points-insufficient"])
    title: str
    status: int
    detail: str | None = None
    code: str
    errors: list[FieldError] | None = None


class ApiError(Exception):
    """An error raised by the HTTP layer itself (authentication, authorisation, rate limits)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        errors: Sequence[Mapping[str, str]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = dict(headers or {})
        self.errors = list(errors) if errors is not None else None


def unauthenticated(detail: str = "Missing or invalid credentials.") -> ApiError:
    return ApiError(401, "UNAUTHENTICATED", detail, headers={"WWW-Authenticate": "Bearer"})


def forbidden(detail: str = "Your role does not allow this action.") -> ApiError:
    return ApiError(403, "FORBIDDEN", detail)


def not_found(what: str) -> ApiError:
    code = what.upper().replace(" ", "_") + "_NOT_FOUND"
    return ApiError(404, code, f"{what} not found.")


def problem_response(
    status: int,
    code: str,
    detail: str | None,
    *,
    title: str | None = None,
    errors: Sequence[Mapping[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """Build a problem+json response; the one place the wire shape is decided."""
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": title or code.replace("_", " ").capitalize(),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = [{"field": str(e["field"]), "message": str(e["message"])} for e in errors]
    if extra:
        body.update({k: v for k, v in extra.items() if k not in body})
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE)


def _loc_to_field(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        head, rest = parts[0], parts[1:]
        return ".".join(rest) if head == "body" and rest else ".".join([head, *rest])
    return ".".join(parts)


# Domain error classes are mapped by code family so this module need not import every subclass.
DOMAIN_STATUS_BY_CLASS: dict[str, int] = {
    "NotFound": 404,
    "Conflict": 409,
    "InvalidInput": 422,
    "IdempotencyMismatch": 422,
    "Forbidden": 403,
}


def domain_status(exc: Exception) -> int:
    """HTTP status for a `loyalty.domain.errors.DomainError`, by the most specific known base class."""
    for cls in type(exc).__mro__:
        status = DOMAIN_STATUS_BY_CLASS.get(cls.__name__)
        if status is not None:
            return status
    code = str(getattr(exc, "code", ""))
    if code.endswith("_NOT_FOUND"):
        return 404
    return 422


def domain_error_response(exc: Exception) -> JSONResponse:
    """Translate a core `DomainError(code, message, details)` into problem+json."""
    code = str(getattr(exc, "code", "DOMAIN_ERROR"))
    message = str(getattr(exc, "message", None) or exc)
    details = getattr(exc, "details", None) or {}
    errors = details.get("errors") if isinstance(details, dict) else None
    extra = {k: v for k, v in details.items() if k != "errors"} if isinstance(details, dict) else None
    return problem_response(domain_status(exc), code, message, errors=errors, extra=_jsonable(extra))


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)


def _domain_error_class() -> type[Exception] | None:
    import importlib

    try:
        cls: type[Exception] = importlib.import_module("loyalty.domain.errors").DomainError
    except ImportError:  # pragma: no cover - only before the core package exists
        return None
    return cls


def database_unavailable(exc: Exception) -> JSONResponse:
    """503 with Retry-After when the database is busy (a long import holds SQLite's write lock) or down.

    Nothing was written: the transaction never began or was rolled back, so the till can retry.
    """
    text = str(exc).lower()
    busy = "locked" in text or "busy" in text
    log.warning("database %s: %s", "busy" if busy else "unavailable", text.splitlines()[0] if text else exc)
    return problem_response(
        503,
        "DATABASE_BUSY" if busy else "DATABASE_UNAVAILABLE",
        "The database is busy with other work; retry shortly."
        if busy
        else "The database cannot be reached; retry shortly.",
        headers={"Retry-After": "1" if busy else "5"},
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register problem+json handlers for API, validation, HTTP, domain and unexpected errors."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return problem_response(exc.status, exc.code, exc.detail, errors=exc.errors, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _loc_to_field(e.get("loc", ())), "message": str(e.get("msg"))} for e in exc.errors()
        ]
        return problem_response(
            422,
            "VALIDATION_FAILED",
            "The request has invalid fields.",
            title="Validation failed",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, f"HTTP_{exc.status_code}")
        return problem_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    domain_error = _domain_error_class()
    if domain_error is not None:

        @app.exception_handler(domain_error)
        async def _domain(_request: Request, exc: Exception) -> JSONResponse:
            return domain_error_response(exc)

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, exc: IntegrityError) -> JSONResponse:
        # A safety net: services validate references, but a constraint is the final word.
        log.info("integrity error mapped to 409: %s", str(exc.orig).splitlines()[0] if exc.orig else exc)
        return problem_response(409, "CONSTRAINT_VIOLATION", "The request conflicts with stored data.")

    @app.exception_handler(OperationalError)
    async def _operational(_request: Request, exc: Exception) -> JSONResponse:
        return database_unavailable(exc)

    @app.exception_handler(DataError)
    async def _data(_request: Request, exc: DataError) -> JSONResponse:
        return problem_response(422, "VALIDATION_FAILED", "A value is out of range for storage.")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(500, "INTERNAL_ERROR", "An unexpected error occurred; it has been logged.")
