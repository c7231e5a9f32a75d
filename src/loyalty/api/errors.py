"""RFC 9457 problem+json for every error the API returns.

Clients (POS terminals, mini-programs) branch on `type`, never on the human `title`/`detail`, so each
error has one stable type URI derived from its code (``urn:loyalty:problem:points-insufficient``) and the
upper-case `code` as an extension member. Validation failures list every bad field under `errors`.
Domain errors from the services are mapped here once, so routers never translate exceptions themselves.

The words (`title`, `detail`, each field's `message`) are in the request's language: Accept-Language
when it names Chinese or English, else `LOYALTY_LOCALE`, stated in `Content-Language`. The language is
worked out only when an error is rendered, so successful requests pay nothing for it. Messages are
written as English templates (`ApiError(…, "{what} not found.", values=…)`) and translated through the
`api` catalog (domain errors through `errors`) at that moment.
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

from loyalty.domain.errors import DomainError, InvalidInput, fill
from loyalty.i18n import configured_locale, current_locale, from_accept_language, marker, translate
from loyalty.services.posting.shared_transactions import NotWritten

log = logging.getLogger(__name__)
N_ = marker("api")
API_DOMAIN = "api"

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
    503: "SERVICE_UNAVAILABLE",
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


class Term(str):
    """A word inside a message that is itself translated (``not_found("API key")``'s "API key")."""

    __slots__ = ()


class ApiError(Exception):
    """An error raised by the HTTP layer itself (authentication, authorisation, rate limits).

    `detail` and each entry's `message` in `errors` are English templates (api catalog) filled from
    `values` (an entry may carry its own `values`); `.detail` is the filled English text.
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        self.template = detail
        self.values = dict(values or {})
        self.detail = fill(detail, self.values)
        super().__init__(self.detail)
        self.status = status
        self.code = code
        self.headers = dict(headers or {})
        self.errors = list(errors) if errors is not None else None


def unauthenticated(detail: str = "Missing or invalid credentials.") -> ApiError:
    return ApiError(401, "UNAUTHENTICATED", detail, headers={"WWW-Authenticate": "Bearer"})


def forbidden(detail: str = "Your role does not allow this action.", **values: Any) -> ApiError:
    return ApiError(403, "FORBIDDEN", detail, values=values)


def not_found(what: str) -> ApiError:
    """404 for an API-layer lookup; `what` ("API key") is a literal, translated like a message."""
    code = what.upper().replace(" ", "_") + "_NOT_FOUND"
    return ApiError(404, code, "{what} not found.", values={"what": Term(what)})


class InvalidValue(InvalidInput, ValueError):
    """What a request model's own validator refuses: pydantic reports it among the validation errors
    (it is a ValueError) and the problem shows its field and message translated (a DomainError)."""

    default_code = "VALIDATION_FAILED"


def request_locale(request: Request) -> str:
    """The language of an error's words: Accept-Language when it names zh or en, else LOYALTY_LOCALE."""
    return from_accept_language(request.headers.get("accept-language")) or configured_locale()


def _api_text(template: str, values: Mapping[str, Any] | None, locale: str) -> str:
    """An api-catalog template in `locale`, filled; `Term` values are translated too."""
    text = translate(API_DOMAIN, template, locale)
    if not values:
        return fill(text, None)
    filled = {k: translate(API_DOMAIN, v, locale) if isinstance(v, Term) else v for k, v in values.items()}
    return fill(text, filled, locale)


def title_of(code: str) -> str:
    """The English title of a code ("POINTS_INSUFFICIENT" → "Points insufficient"), its catalog key."""
    return code.replace("_", " ").capitalize()


def problem_title(code: str, status: int, locale: str, title: str | None = None) -> str:
    """`title` (default: the code's) in `locale`; a code without a translation gets its status's title."""
    english = title or title_of(code)
    if locale == "en":
        return english
    text = translate(API_DOMAIN, english, locale)
    if text != english:
        return text
    generic = _STATUS_CODES.get(status) or ("INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST")
    return translate(API_DOMAIN, title_of(generic), locale)


def problem_response(
    status: int,
    code: str,
    detail: str | None,
    *,
    title: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
    locale: str | None = None,
) -> JSONResponse:
    """Build a problem+json response; the one place the wire shape is decided.

    `detail` and `errors` come already in `locale` (default: the current one); the title is put in it
    here, and `Content-Language` says which it is.
    """
    language = locale or current_locale()
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": problem_title(code, status, language, title),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = [{"field": str(e["field"]), "message": str(e["message"])} for e in errors]
    if extra:
        body.update({k: v for k, v in extra.items() if k not in body})
    all_headers = {**dict(headers or {}), "Content-Language": language, "Vary": "Accept-Language"}
    return JSONResponse(body, status_code=status, headers=all_headers, media_type=PROBLEM_MEDIA_TYPE)


def api_error_response(exc: ApiError, locale: str) -> JSONResponse:
    """An `ApiError` as problem+json, its detail and field messages in `locale`."""
    errors = None
    if exc.errors is not None:
        errors = []
        for e in exc.errors:
            own = e.get("values")
            values = {**exc.values, **own} if isinstance(own, Mapping) else exc.values
            errors.append({"field": e["field"], "message": _api_text(str(e["message"]), values, locale)})
    return problem_response(
        exc.status,
        exc.code,
        _api_text(exc.template, exc.values, locale),
        errors=errors,
        headers=exc.headers,
        locale=locale,
    )


def _loc_to_field(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        head, rest = parts[0], parts[1:]
        return ".".join(rest) if head == "body" and rest else ".".join([head, *rest])
    return ".".join(parts)


# Pydantic's common error types, as English templates (api catalog) filled from the error's `ctx`.
# English keeps pydantic's own message (it handles plurals); an unlisted type keeps it in every language.
VALIDATION_MESSAGES: dict[str, str] = {
    "missing": N_("Field required"),
    "extra_forbidden": N_("Extra inputs are not permitted"),
    "string_type": N_("Input should be a valid string"),
    "string_too_short": N_("String should have at least {min_length} characters"),
    "string_too_long": N_("String should have at most {max_length} characters"),
    "string_pattern_mismatch": N_("String should match pattern '{pattern}'"),
    "int_type": N_("Input should be a valid integer"),
    "int_parsing": N_("Input should be a valid integer, unable to parse string as an integer"),
    "int_from_float": N_("Input should be a valid integer, got a number with a fractional part"),
    "float_type": N_("Input should be a valid number"),
    "float_parsing": N_("Input should be a valid number, unable to parse string as a number"),
    "decimal_type": N_("Input should be a valid decimal"),
    "decimal_parsing": N_("Input should be a valid decimal"),
    "decimal_max_digits": N_("Decimal input should have no more than {max_digits} digits in total"),
    "decimal_max_places": N_("Decimal input should have no more than {decimal_places} decimal places"),
    "bool_type": N_("Input should be a valid boolean"),
    "bool_parsing": N_("Input should be a valid boolean, unable to interpret input"),
    "greater_than": N_("Input should be greater than {gt}"),
    "greater_than_equal": N_("Input should be greater than or equal to {ge}"),
    "less_than": N_("Input should be less than {lt}"),
    "less_than_equal": N_("Input should be less than or equal to {le}"),
    "multiple_of": N_("Input should be a multiple of {multiple_of}"),
    "too_short": N_("Should have at least {min_length} items, not {actual_length}"),
    "too_long": N_("Should have at most {max_length} items, not {actual_length}"),
    "list_type": N_("Input should be a valid list"),
    "dict_type": N_("Input should be a valid dictionary"),
    "model_type": N_("Input should be an object"),
    "model_attributes_type": N_("Input should be an object"),
    "literal_error": N_("Input should be {expected}"),
    "enum": N_("Input should be {expected}"),
    "json_invalid": N_("Invalid JSON: {error}"),
    "datetime_type": N_("Input should be a valid datetime"),
    "datetime_parsing": N_("Input should be a valid datetime, {error}"),
    "datetime_from_date_parsing": N_("Input should be a valid datetime or date, {error}"),
    "date_type": N_("Input should be a valid date"),
    "date_parsing": N_("Input should be a valid date in the format YYYY-MM-DD, {error}"),
    "date_from_datetime_parsing": N_("Input should be a valid date or datetime, {error}"),
    "timezone_aware": N_("Input should have timezone info"),
    "uuid_type": N_("Input should be a valid UUID"),
    "uuid_parsing": N_("Input should be a valid UUID, {error}"),
    "url_type": N_("Input should be a valid URL"),
    "url_parsing": N_("Input should be a valid URL, {error}"),
}
_VALUE_ERROR_PREFIX = "Value error, "
JSON_INVALID = N_("Invalid JSON at character {position}: {error}")
#: why a body FastAPI could not read at all was refused, by the exception under its 400
UNREADABLE_BODY: dict[type[Exception], str] = {
    RecursionError: N_("The JSON is nested too deeply to read."),
    UnicodeDecodeError: N_("The body is not UTF-8 text."),
}


def validation_errors(raw: Sequence[Mapping[str, Any]], locale: str) -> list[dict[str, str]]:
    """Pydantic's errors as `{"field", "message"}` entries in `locale`.

    A validator's `InvalidValue` (any DomainError) brings its own fields and translated messages; a
    plain ValueError's message is looked up in the api catalog as it is.
    """
    out: list[dict[str, str]] = []
    for e in raw:
        field = _loc_to_field(e.get("loc", ()))
        kind = str(e.get("type", ""))
        ctx = e.get("ctx") or {}
        message = str(e.get("msg"))
        if kind == "json_invalid":  # FastAPI's location is ("body", character offset): the field is the body
            loc = tuple(e.get("loc", ()))
            values = {"position": loc[1] if len(loc) > 1 else 0, "error": ctx.get("error", message)}
            out.append(
                {"field": "body", "message": fill(translate(API_DOMAIN, JSON_INVALID, locale), values)}
            )
            continue
        if kind == "value_error":
            error = ctx.get("error")
            if isinstance(error, DomainError):
                own = error.localized_errors(locale)
                if own:
                    out.extend(own)
                    continue
                message = error.localized(locale)
            elif message.startswith(_VALUE_ERROR_PREFIX):
                message = translate(API_DOMAIN, message[len(_VALUE_ERROR_PREFIX) :], locale)
        elif locale != "en" and kind in VALIDATION_MESSAGES:
            message = fill(translate(API_DOMAIN, VALIDATION_MESSAGES[kind], locale), ctx)
        out.append({"field": field, "message": message})
    return out


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


def domain_error_response(exc: DomainError, locale: str | None = None) -> JSONResponse:
    """Translate a core `DomainError(code, message, details)` into problem+json, its words in `locale`."""
    language = locale or current_locale()
    details = exc.details if isinstance(exc.details, dict) else {}
    extra = {k: v for k, v in details.items() if k != "errors"}
    return problem_response(
        domain_status(exc),
        exc.code,
        exc.localized(language),
        errors=exc.localized_errors(language),
        extra=_jsonable(extra),
        locale=language,
    )


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if callable(getattr(value, "as_json", None)):  # money in a message: `loyalty.i18n.formats.Amount`
        return value.as_json()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)


def database_unavailable(exc: Exception, locale: str | None = None) -> JSONResponse:
    """503 with Retry-After when the database is busy (a long import holds SQLite's write lock) or down.

    Nothing was written: the transaction never began or was rolled back, so the till can retry.
    """
    text = str(exc).lower()
    busy = "locked" in text or "busy" in text
    log.warning("database %s: %s", "busy" if busy else "unavailable", text.splitlines()[0] if text else exc)
    language = locale or current_locale()
    return problem_response(
        503,
        "DATABASE_BUSY" if busy else "DATABASE_UNAVAILABLE",
        translate(API_DOMAIN, N_("The database is busy with other work; retry shortly."), language)
        if busy
        else translate(API_DOMAIN, N_("The database cannot be reached; retry shortly."), language),
        headers={"Retry-After": "1" if busy else "5"},
        locale=language,
    )


def _plain(status: int, code: str, detail: str, request: Request) -> JSONResponse:
    """A problem whose detail is a fixed api-catalog message."""
    locale = request_locale(request)
    return problem_response(status, code, translate(API_DOMAIN, detail, locale), locale=locale)


def unreadable_body(exc: StarletteHTTPException) -> str | None:
    """The message for a body FastAPI gave up reading (its bare 400), or None for any other HTTP error.

    JSON nested deeper than the parser recurses, or bytes that are not UTF-8, are a bad body like any
    other: a 422 naming `body`, not a 400 that names nothing.
    """
    if exc.status_code != 400:
        return None
    for kind, message in UNREADABLE_BODY.items():
        if isinstance(exc.__cause__, kind):
            return message
    return None


def install_error_handlers(app: FastAPI) -> None:
    """Register problem+json handlers for API, validation, HTTP, domain and unexpected errors."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return api_error_response(exc, request_locale(request))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        locale = request_locale(request)
        return problem_response(
            422,
            "VALIDATION_FAILED",
            translate(API_DOMAIN, N_("The request has invalid fields."), locale),
            title="Validation failed",
            errors=validation_errors(exc.errors(), locale),
            locale=locale,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, f"HTTP_{exc.status_code}")
        locale = request_locale(request)
        unreadable = unreadable_body(exc)
        if unreadable is not None:
            return problem_response(
                422,
                "VALIDATION_FAILED",
                translate(API_DOMAIN, N_("The request has invalid fields."), locale),
                title="Validation failed",
                errors=[{"field": "body", "message": translate(API_DOMAIN, unreadable, locale)}],
                locale=locale,
            )
        detail = translate(API_DOMAIN, str(exc.detail), locale)
        return problem_response(exc.status_code, code, detail, headers=exc.headers, locale=locale)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return domain_error_response(exc, request_locale(request))

    @app.exception_handler(NotWritten)
    async def _not_written(request: Request, exc: NotWritten) -> JSONResponse:
        # Not the sale's own fault: the transaction it shared could not commit, and nothing was written.
        error = ApiError(
            503,
            "NOT_WRITTEN",
            "The sale was not written (the transaction it shared could not commit); retry it.",
            headers={"Retry-After": "1"},
        )
        return api_error_response(error, request_locale(request))

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # A safety net: services validate references, but a constraint is the final word.
        log.info("integrity error mapped to 409: %s", str(exc.orig).splitlines()[0] if exc.orig else exc)
        return _plain(409, "CONSTRAINT_VIOLATION", N_("The request conflicts with stored data."), request)

    @app.exception_handler(OperationalError)
    async def _operational(request: Request, exc: Exception) -> JSONResponse:
        return database_unavailable(exc, request_locale(request))

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        return _plain(422, "VALIDATION_FAILED", N_("A value is out of range for storage."), request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return _plain(500, "INTERNAL_ERROR", N_("An unexpected error occurred; it has been logged."), request)
