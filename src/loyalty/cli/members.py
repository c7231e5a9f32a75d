"""`loyalty members …`: register, show, search, list (with score filters), purchases, update,
deactivate and merge members, export a member's data and erase it, and read the local outbox of
sign-in codes."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from loyalty.cli._core import context, run
from loyalty.cli.rewards import register_member_commands
from loyalty.domain.money import parse_amount
from loyalty.i18n import translator

_ = translator("cli")

app = typer.Typer(help="Members.", no_args_is_help=True)
register_member_commands(app)  # redeem-reward, reward-orders, fulfil-reward, cancel-reward


@app.command("register")
def register(
    phone: str,
    name: str,
    email: str | None = None,
    store_id: int | None = None,
    consent: bool = False,
    registered_by: Annotated[
        str | None, typer.Option(help="Who signed the member up: a staff code (the KPIs by staff).")
    ] = None,
) -> None:
    """Register a member (seeds the default programme on an empty database)."""
    from loyalty.services import members, seed
    from loyalty.services.schemas import MemberIn

    ctx = context()
    if seed.programme_state(ctx).programme_id is None:  # no store S001 beside a chain's own
        seed.ensure_programme(ctx)
    run(
        lambda: members.register_member(
            ctx,
            MemberIn(
                phone=phone,
                name=name,
                email=email,
                registration_store_id=store_id,
                marketing_consent=consent,
                registered_by=registered_by,
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
    from loyalty.services import members

    ctx = context()
    run(lambda: members.find_member(ctx, member_id=member_id, phone=phone, card_no=card, member_code=code))


@app.command("search")
def search(query: str = typer.Argument(""), limit: int = 20) -> None:
    """Members whose name, phone or card contains QUERY."""
    from loyalty.services import members

    ctx = context()
    run(lambda: members.search_members(ctx, query or None, limit=limit))


@app.command("update")
def update(
    member_id: int, name: str | None = None, email: str | None = None, phone: str | None = None
) -> None:
    """Change a member's contact details."""
    from loyalty.services import members
    from loyalty.services.schemas import MemberUpdate

    ctx = context()
    run(lambda: members.update_member(ctx, member_id, MemberUpdate(name=name, email=email, phone=phone)))


@app.command("deactivate")
def deactivate(member_id: int, reason: str | None = None) -> None:
    """Deactivate a member (history and balance are kept)."""
    from loyalty.services import members

    ctx = context()
    run(lambda: members.deactivate_member(ctx, member_id, reason=reason))


@app.command("merge")
def merge(
    duplicate: int = typer.Option(..., "--duplicate", help="The member that goes away (its status: merged)."),
    survivor: int = typer.Option(..., "--survivor", help="The member that stays and receives everything."),
    reason: str | None = None,
) -> None:
    """Merge the --duplicate member into the --survivor: points, purchases and tier history move to the
    survivor; the duplicate stays as a merged record, so nothing is lost."""
    from loyalty.services import members

    ctx = context()
    run(lambda: members.merge_members(ctx, duplicate_id=duplicate, survivor_id=survivor, reason=reason))


@app.command("export-data")
def export_data(
    member_id: int,
    output: Path = typer.Option(..., "-o", "--output", help="The JSON file to write the package to."),
) -> None:
    """Write the member's data package (profile, consents, points statement, purchases, claims, tier
    history, scores, merged records) as JSON to --output, unmasked; audited. Prints what it wrote."""
    from loyalty.services import privacy

    ctx = context()

    def write() -> dict[str, object]:
        package = privacy.export_member_data(ctx, member_id)
        output.write_text(
            json.dumps(package.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n",
            encoding="utf-8",
        )
        return {"member_id": member_id, "file": str(output), "format": package.format, **package.counts()}

    run(write)


@app.command("erase")
def erase(
    member_id: int,
    yes: bool = typer.Option(False, "--yes", help="Confirm without typing the member's card number."),
) -> None:
    """Erase the member's personal data for good (and that of the duplicates merged into them): the
    purchases and the points ledger stay, on an anonymised record. Irreversible: asks for the member's
    card number unless --yes. Prints what was removed."""
    from loyalty.services import members, privacy

    ctx = context()

    def go() -> object:
        card = members.get_member(ctx, member_id).card_no
        confirm = (
            card
            if yes
            else typer.prompt(
                _(
                    "Type the card number of member {member_id} to erase their personal data",
                    member_id=member_id,
                )
            )
        )
        return privacy.erase_member(ctx, member_id, confirm=confirm)

    run(go)


@app.command("list")
def list_members(
    q: str | None = typer.Option(None, help="Name, phone or card fragment."),
    tier: str | None = typer.Option(None, help="Tier code."),
    status: str | None = typer.Option(None, help="active, inactive or merged."),
    tag: str | None = None,
    store: list[int] = typer.Option([], "--store", help="Registered at this store (repeatable)."),
    segment: list[str] = typer.Option([], help="RFM group such as high_value (repeatable)."),
    rfm_code: list[str] = typer.Option([], "--rfm-code", help="RFM code such as 222 (repeatable)."),
    p_alive_min: float | None = typer.Option(None, "--p-alive-min"),
    p_alive_max: float | None = typer.Option(None, "--p-alive-max"),
    clv_min: str | None = typer.Option(None, "--clv-min", help="Lowest CLV, e.g. 500.00."),
    clv_max: str | None = typer.Option(None, "--clv-max"),
    cursor: str | None = typer.Option(None, help="next_cursor of the previous page."),
    limit: int = 50,
) -> None:
    """Members matching every filter, newest first, with their scores; score filters (segment,
    rfm code, P(alive), CLV) match members `loyalty analytics refresh` scored."""
    from loyalty.services import member_search

    filters = member_search.MemberFilter(
        q=q,
        tier=tier,
        status=status,
        tag=tag,
        store_ids=store or None,
        segment=segment,
        rfm_code=rfm_code,
        p_alive_min=p_alive_min,
        p_alive_max=p_alive_max,
        clv_min=_amount("--clv-min", clv_min),
        clv_max=_amount("--clv-max", clv_max),
    )
    ctx = context()
    run(lambda: member_search.search_members(ctx, filters, cursor=cursor, limit=limit))


@app.command("purchases")
def purchases(
    member_id: int,
    lines: bool = typer.Option(False, "--lines", help="Include each receipt's lines."),
    cursor: str | None = typer.Option(None, help="next_cursor of the previous page."),
    limit: int = 50,
) -> None:
    """A member's receipts, newest first, with store, business date, total, points and returns."""
    from loyalty.services import purchase_history

    ctx = context()
    run(lambda: purchase_history.member_purchases(ctx, member_id, cursor=cursor, limit=limit, lines=lines))


@app.command("outbox")
def outbox(
    phone: str | None = typer.Option(None, help="Only the messages sent to this phone."),
    limit: int = 20,
) -> None:
    """The latest messages of the local outbox (member sign-in codes where no SMS gateway is set up)."""
    from loyalty.services import member_otp, members

    ctx = context()

    def messages() -> list[dict[str, str]]:
        to = members.normalise_phone(phone, ctx.settings.phone_region) if phone else None
        return [
            {"to": m.recipient, "at": m.created_at.isoformat(), "body": m.body}
            for m in member_otp.list_outbox(ctx, to, limit=limit)
        ]

    run(messages)


def _amount(option: str, text: str | None) -> Decimal | None:
    """A money option as a Decimal (never a float); a malformed one exits with its name."""
    if text is None:
        return None
    amount = parse_amount(text)
    if amount is None:
        raise typer.BadParameter(_("{value} is not an amount such as 500.00", value=text), param_hint=option)
    return amount
