"""`loyalty ledger verify`: prove the ledger invariants on the configured database."""

from __future__ import annotations

import typer

from loyalty.cli._core import context, emit

app = typer.Typer(help="Ledger checks.", no_args_is_help=True)


@app.command("verify")
def verify() -> None:
    """Zero-sum, cached balances = postings = unspent lots − debt, no negative lot, nothing earned twice."""
    from loyalty.services import points

    report = points.verify_ledger(context())
    emit(report)
    if not report["ok"]:
        raise typer.Exit(1)
