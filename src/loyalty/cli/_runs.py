"""What the commands over stored analytics runs share (`loyalty analytics clusters|churn|recommendations|
basket-rules`, `loyalty analytics recommend`): their `--format` and `--database-url` options, a plain
text table that lines up Chinese, the database opened and closed around a read, a job run now as the
CLI, and a refused command as one line on stderr with exit status 1.

So each command says only what it reads and how it prints it; the way a run is refreshed, read back
and printed, and how its errors read, is the same for all of them. Top-level imports stay at typer and
the standard library: the services are imported inside, so the rest of the CLI starts without them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from loyalty.i18n import translator

if TYPE_CHECKING:
    from loyalty.bootstrap import Context

_ = translator("cli")

T = TypeVar("T")

FORMATS = ("table", "json")
FormatOpt = Annotated[str, typer.Option("--format", help="table (default) or json")]
DatabaseUrlOpt = Annotated[
    str | None, typer.Option("--database-url", help="product database (default: LOYALTY_DATABASE_URL)")
]


def check_format(fmt: str) -> None:
    """A `--format` other than table or json is a usage error (exit status 2)."""
    if fmt not in FORMATS:
        typer.echo(_("error: --format table|json"), err=True)
        raise typer.Exit(code=2)


def _width(text: str) -> int:
    """Columns a terminal gives `text` (CJK characters take two)."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def table(headers: list[str], rows: list[list[str]], right: set[int]) -> str:
    """`rows` under `headers` and a rule, the columns in `right` aligned right."""
    widths = [max(_width(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            pad = " " * (widths[i] - _width(cell))
            out.append(pad + cell if i in right else cell + pad)
        return "  ".join(out).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def echo(fmt: str, as_json: Callable[[], Any], as_table: Callable[[], str]) -> None:
    """Print the answer as JSON (`--format json`: what the API answers) or as text for a person."""
    if fmt == "json":
        typer.echo(json.dumps(as_json(), ensure_ascii=False, indent=2))
    else:
        typer.echo(as_table())


def failure(exc: Exception) -> typer.Exit:
    """`error [CODE]: reason` on stderr (a domain error's reason in LOYALTY_LOCALE); exit status 1."""
    from loyalty.domain.errors import DomainError

    reason = exc.localized() if isinstance(exc, DomainError) else getattr(exc, "message", str(exc))
    typer.echo(_("error [{code}]: {reason}", code=getattr(exc, "code", ""), reason=reason), err=True)
    return typer.Exit(code=1)


def reading(
    database_url: str | None, read: Callable[[Context], T], refused: tuple[type[Exception], ...] = ()
) -> T:
    """`read` on the product database (checked as every command checks it), closed after; an error of
    the `refused` kinds ends the command with `failure`."""
    from loyalty.cli._core import context

    ctx = context(database_url)
    try:
        return read(ctx)
    except refused as exc:
        raise failure(exc) from exc
    finally:
        ctx.engine.dispose()


def run_job(
    database_url: str | None,
    kind: str,
    params: dict[str, Any],
    then: Callable[[Context], T],
    *,
    analytics_errors: bool = True,
) -> tuple[dict[str, Any], T]:
    """Run a job of `kind` now, recorded as the console's are (by the system actor "cli"), then `then`
    on the database: (the job's result, what `then` read). A refused job ends the command with
    `failure`: a domain error, and with `analytics_errors` an analytics one (purchases in several
    currencies, say)."""
    from loyalty.analytics.errors import AnalyticsError
    from loyalty.domain.actors import Actor
    from loyalty.domain.errors import DomainError
    from loyalty.services import jobs

    cli = Actor(kind="system", id="cli", role="system")

    def run_then(ctx: Context) -> tuple[dict[str, Any], T]:
        _job, result = jobs.run_now(ctx, kind, cli, actor_name="cli", params=params)
        return result, then(ctx)

    refused: tuple[type[Exception], ...] = (
        (DomainError, AnalyticsError) if analytics_errors else (DomainError,)
    )
    return reading(database_url, run_then, refused)
