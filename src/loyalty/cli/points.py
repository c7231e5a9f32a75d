"""`loyalty points …`: balance, statement, redeem and manual adjustments."""

from __future__ import annotations

import typer

from loyalty.cli._core import context, run

app = typer.Typer(help="Points ledger.", no_args_is_help=True)


@app.command("balance")
def balance(member_id: int) -> None:
    """Balance, available, pending, debt, points expiring within 30/60/90 days and the expiry
    schedule (each business date, in the programme's time zone, with the points expiring then)."""
    from loyalty.services import points

    ctx = context()
    run(lambda: points.balance(ctx, member_id))


@app.command("statement")
def statement(member_id: int, limit: int = 1000) -> None:
    """Every movement on a member's account with the running balance."""
    from loyalty.services import points

    ctx = context()
    run(lambda: points.statement(ctx, member_id, limit=limit))


@app.command("redeem")
def redeem(
    member_id: int,
    amount: int,
    store_id: int,
    order_id: str | None = None,
    order_total_minor: int | None = None,
    idempotency_key: str | None = None,
) -> None:
    """Spend AMOUNT points as cash at STORE_ID."""
    from loyalty.services import points

    ctx = context()
    run(
        lambda: points.redeem(
            ctx,
            member_id,
            amount,
            store_id=store_id,
            order_id=order_id,
            order_total_minor=order_total_minor,
            idempotency_key=idempotency_key,
        )
    )


@app.command("adjust", context_settings={"ignore_unknown_options": True})
def adjust(
    member_id: int,
    amount: int,
    reason: str = typer.Option(...),
    operator: str = typer.Option(...),
    idempotency_key: str | None = None,
) -> None:
    """Add (positive) or remove (negative) points by hand, with a reason and the operator's name."""
    from loyalty.services import points

    ctx = context()
    run(
        lambda: points.adjust(
            ctx, member_id, amount, reason=reason, operator=operator, idempotency_key=idempotency_key
        )
    )
