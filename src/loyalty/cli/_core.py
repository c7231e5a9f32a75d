"""Shared helpers for the core commands: one Context per invocation, domain errors as exit code 1."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import typer
from pydantic import BaseModel

from loyalty.bootstrap import Context
from loyalty.domain.errors import DomainError


def context() -> Context:
    return Context.from_url()


def emit(value: Any) -> None:
    """Print a result as JSON (models, lists of models, dicts)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def run(call: Callable[[], Any]) -> None:
    try:
        emit(call())
    except DomainError as exc:
        typer.echo(
            json.dumps(
                {"code": exc.code, "message": exc.message, "details": exc.details}, ensure_ascii=False
            ),
            err=True,
        )
        raise typer.Exit(1) from exc
