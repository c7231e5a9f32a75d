"""Help texts in LOYALTY_LOCALE.

Typer builds the command tree from English docstrings and `help=` texts only when the command runs
(annotations such as `Annotated[int, typer.Option(help=…)]` are evaluated then), so the texts are
translated on the built tree, once, just before it runs: each is looked up in the `cli` catalog as it
is written. In English nothing is done. Only the standard library and Typer are imported here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer
import typer.main

from loyalty.i18n import configured_locale, translate

DOMAIN = "cli"


def commands(command: Any) -> Iterator[Any]:
    """`command` and every command under it (Typer's groups keep theirs in `.commands`)."""
    yield command
    for sub in getattr(command, "commands", {}).values():
        yield from commands(sub)


def help_texts(command: Any) -> Iterator[str]:
    """Every help text of the tree: commands' and groups' help and short help, parameters' help."""
    for cmd in commands(command):
        for text in (cmd.help, getattr(cmd, "short_help", None)):
            if text:
                yield text
        for param in cmd.params:
            text = getattr(param, "help", None)
            if text:
                yield text


def localize(command: Any, locale: str) -> Any:
    """Translate the tree's help texts into `locale` in place (a text without a translation stays)."""
    if locale == "en":
        return command
    for cmd in commands(command):
        if cmd.help:
            cmd.help = translate(DOMAIN, cmd.help, locale)
        if getattr(cmd, "short_help", None):
            cmd.short_help = translate(DOMAIN, cmd.short_help, locale)
        for param in cmd.params:
            if getattr(param, "help", None):
                param.help = translate(DOMAIN, param.help, locale)
    return command


def localized_command(app: typer.Typer, locale: str | None = None) -> Any:
    """The click command Typer builds for `app`, its help in `locale` (default: LOYALTY_LOCALE)."""
    return localize(typer.main.get_command(app), locale or configured_locale())
