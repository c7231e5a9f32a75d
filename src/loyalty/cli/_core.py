"""Shared helpers for the commands: the database they open, results as JSON, domain errors as exit code 1.

Every command that reads or writes the product database opens it here (`context`, `engine` or
`checked_url`), so each one checks the same way that the database exists and has this code's schema,
and otherwise says so in one line with the command to run. Only `loyalty db upgrade` and `loyalty demo`
create a database; they open it without these checks.

Top-level imports stay at typer and the standard library: every `loyalty` command imports this module.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from loyalty.i18n import translator

if TYPE_CHECKING:
    from datetime import date

    from sqlalchemy import Engine

    from loyalty.bootstrap import Context
    from loyalty.domain.errors import DomainError

_ = translator("cli")


def database_url(url: str | None = None) -> str:
    """`url`, else the configured one (LOYALTY_DATABASE_URL or loyalty.toml; default var/loyalty.db)."""
    if url:
        return url
    from loyalty.config import get_settings

    return get_settings().database_url


def fail(message: str) -> NoReturn:
    """One line on stderr, exit status 1."""
    typer.echo(message, err=True)
    raise typer.Exit(1)


def _require_file(url: str) -> str:
    from loyalty.db.schema_version import is_missing, location

    where = location(url)
    if is_missing(url):
        fail(_("no database at {location}: run `loyalty db upgrade` (or `make demo`)", location=where))
    return where


def _require_schema(eng: Engine, where: str) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from loyalty.db.schema_version import schema_state

    try:
        state = schema_state(eng)
    except SQLAlchemyError as exc:
        fail(_("cannot open the database at {location}: {reason}", location=where, reason=reason(exc)))
    if state.status == "empty":
        fail(_("the database at {location} has no tables yet: run `loyalty db upgrade`", location=where))
    if state.status == "behind":
        fail(
            _(
                "the database at {location} lacks migrations {revisions}: run `loyalty db upgrade`",
                location=where,
                revisions=", ".join(state.missing),
            )
        )
    if state.status == "ahead":
        fail(
            _(
                "the database at {location} has migrations this loyalty does not know ({revisions}): "
                "install the newer loyalty that made them",
                location=where,
                revisions=", ".join(state.unknown),
            )
        )


def bad_parameter(exc: DomainError, option_of_field: dict[str, str]) -> typer.BadParameter:
    """A service's InvalidInput as a usage error naming the command's option for the bad field."""
    errors = (exc.details or {}).get("errors") or [{}]
    field = str(errors[0].get("field", ""))
    return typer.BadParameter(exc.localized(), param_hint=f"'{option_of_field.get(field, field)}'")


def day_option(text: str | None, option: str) -> date | None:
    """An option's business day (2026-03-31), None when not given; a usage error naming it otherwise."""
    from datetime import date

    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            _("{value} is not a date such as 2026-03-31", value=text), param_hint=f"'{option}'"
        ) from None


def reason(exc: BaseException) -> str:
    """The first line of a database error, without SQLAlchemy's wrapping."""
    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(cause).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__


def context(url: str | None = None) -> Context:
    """A context on the configured database, once it is known to exist and to have this code's schema."""
    from loyalty.bootstrap import Context

    url = database_url(url)
    where = _require_file(url)
    ctx = Context.from_url(url)
    _checked(ctx.engine, where)
    return ctx


def engine(url: str | None = None) -> Engine:
    """An engine on the configured database, checked as `context` checks it."""
    from loyalty.db.engine import make_engine

    url = database_url(url)
    where = _require_file(url)
    eng = make_engine(url)
    _checked(eng, where)
    return eng


def _checked(eng: Engine, where: str) -> None:
    """`_require_schema`, closing the engine's connections when the command stops there."""
    try:
        _require_schema(eng, where)
    except BaseException:
        eng.dispose()
        raise


def checked_url(url: str | None = None) -> str:
    """The configured URL, checked as `context` checks it, for commands that open it elsewhere (serve)."""
    eng = engine(url)
    eng.dispose()
    return database_url(url)


def emit(value: Any) -> None:
    """Print a result as JSON (models, lists of models, dicts)."""
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def run(call: Callable[[], Any]) -> None:
    from loyalty.domain.errors import DomainError

    try:
        emit(call())
    except DomainError as exc:
        # the code stays for scripts; the message and field errors are in LOYALTY_LOCALE
        shown = {"code": exc.code, "message": exc.localized(), "details": exc.localized_details()}
        typer.echo(json.dumps(shown, ensure_ascii=False, default=str), err=True)
        raise typer.Exit(1) from exc
