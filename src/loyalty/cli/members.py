"""`loyalty members …`: register, show, find, update, deactivate and merge members."""

from __future__ import annotations

import typer

from loyalty.cli._core import context, run
from loyalty.services import members, seed
from loyalty.services.schemas import MemberIn, MemberUpdate

app = typer.Typer(help="Members.", no_args_is_help=True)


@app.command("register")
def register(
    phone: str, name: str, email: str | None = None, store_id: int | None = None, consent: bool = False
) -> None:
    """Register a member (seeds the default programme on an empty database)."""
    ctx = context()
    seed.ensure_programme(ctx)
    run(
        lambda: members.register_member(
            ctx,
            MemberIn(
                phone=phone, name=name, email=email, registration_store_id=store_id, marketing_consent=consent
            ),
        )
    )


@app.command("show")
def show(
    member_id: int | None = typer.Argument(None),
    phone: str | None = None,
    card: str | None = None,
    code: str | None = None,
) -> None:
    """Look a member up by id, phone, card number or QR member code."""
    ctx = context()
    run(lambda: members.find_member(ctx, member_id=member_id, phone=phone, card_no=card, member_code=code))


@app.command("search")
def search(query: str = typer.Argument(""), limit: int = 20) -> None:
    """Members whose name, phone or card contains QUERY."""
    ctx = context()
    run(lambda: members.search_members(ctx, query or None, limit=limit))


@app.command("update")
def update(
    member_id: int, name: str | None = None, email: str | None = None, phone: str | None = None
) -> None:
    """Change a member's contact details."""
    ctx = context()
    run(lambda: members.update_member(ctx, member_id, MemberUpdate(name=name, email=email, phone=phone)))


@app.command("deactivate")
def deactivate(member_id: int, reason: str | None = None) -> None:
    """Deactivate a member (history and balance are kept)."""
    ctx = context()
    run(lambda: members.deactivate_member(ctx, member_id, reason=reason))


@app.command("merge")
def merge(survivor_id: int, merged_id: int, reason: str | None = None) -> None:
    """Merge MERGED_ID into SURVIVOR_ID: points, purchases and tier history move; nothing is lost."""
    ctx = context()
    run(lambda: members.merge_members(ctx, survivor_id, merged_id, reason=reason))
