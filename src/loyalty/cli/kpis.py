"""`loyalty kpis …`: a store's or the chain's KPIs per day, week or month, and the KPIs by staff, as JSON.

The same report as `GET /api/v1/kpis` and the console's dashboard (`services.kpis`), money in minor
units. The sleeping members' phones are masked unless `--contacts` is given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from loyalty.cli._core import day_option
from loyalty.i18n import translator

if TYPE_CHECKING:
    from collections.abc import Callable

    from loyalty.services.kpis import KpiReport

_ = translator("cli")

app = typer.Typer(
    help="KPIs: a store's, a region's or the chain's figures per day, week or month.", no_args_is_help=True
)

#: a service field → the option that sets it
OPTION_OF_FIELD = {
    "period": "--period",
    "from": "--from",
    "to": "--to",
    "active_days": "--active-days",
    "sleeping": "--sleeping",
}

Period = Annotated[str, typer.Option(help="The buckets: day, week (Monday first) or month.")]
From = Annotated[
    str | None,
    typer.Option(
        "--from",
        help="First business day, YYYY-MM-DD (moved back to the start of its week or month); "
        "default 30 days, 12 weeks or 12 months back.",
    ),
]
To = Annotated[str | None, typer.Option("--to", help="Last business day, YYYY-MM-DD; default today.")]
ActiveDays = Annotated[
    int, typer.Option(help="A member is active who bought in this many days up to the end of the range.")
]
Sleeping = Annotated[int, typer.Option(help="How many sleeping members to list (0 to 200).")]
Contacts = Annotated[
    bool, typer.Option("--contacts", help="Show the sleeping members' phone numbers unmasked.")
]


@app.command("store")
def store(
    store: Annotated[str, typer.Argument(help="The store: its code or id.")],
    period: Period = "day",
    from_: From = None,
    to: To = None,
    active_days: ActiveDays = 90,
    sleeping: Sleeping = 20,
    contacts: Contacts = False,
) -> None:
    """One store's members, sign-ups, active rate, sales and member sales share, average ticket, points
    issued, redeemed and expired, and its sleeping high-value members, on its business days."""
    from loyalty.cli._core import context
    from loyalty.services import kpis

    start, end = day_option(from_, "--from"), day_option(to, "--to")
    ctx = context()
    store_id = store_id_of(ctx, store)
    _show(
        lambda: kpis.store_kpis(
            ctx, store_id, period=period, start=start, end=end, active_days=active_days, sleeping=sleeping
        ),
        contacts,
    )


@app.command("chain")
def chain(
    period: Period = "day",
    from_: From = None,
    to: To = None,
    active_days: ActiveDays = 90,
    sleeping: Sleeping = 20,
    contacts: Contacts = False,
    region: Annotated[
        str | None, typer.Option(help="Only this region's stores and their members (e.g. 华东).")
    ] = None,
) -> None:
    """The whole chain's figures (or a region's): every store's on its own business days, added up by day."""
    from loyalty.cli._core import context
    from loyalty.services import kpis

    start, end = day_option(from_, "--from"), day_option(to, "--to")
    ctx = context()
    _show(
        lambda: kpis.chain_kpis(
            ctx,
            region=region,
            period=period,
            start=start,
            end=end,
            active_days=active_days,
            sleeping=sleeping,
        ),
        contacts,
    )


@app.command("staff")
def staff(
    store: Annotated[
        str | None, typer.Option(help="Only this store (its code or id); default every store.")
    ] = None,
    from_: Annotated[
        str | None,
        typer.Option("--from", help="First business day, YYYY-MM-DD; default 30 days before --to."),
    ] = None,
    to: To = None,
) -> None:
    """Each staff code's sales, net sales, member sales share, average ticket, new members, coupons used
    and points redeemed (who rang the sales, who signed the members up), most net sales first."""
    from loyalty.cli._core import bad_parameter, context, run
    from loyalty.domain.errors import InvalidInput
    from loyalty.services import kpis

    start, end = day_option(from_, "--from"), day_option(to, "--to")
    ctx = context()
    store_ids = None if store is None else [store_id_of(ctx, store, "--store")]

    def report() -> kpis.StaffReport:
        try:
            return kpis.staff_kpis(ctx, store_ids, start=start, end=end)
        except InvalidInput as exc:
            raise bad_parameter(exc, OPTION_OF_FIELD) from exc

    run(report)


def store_id_of(ctx: Any, store: str, hint: str = "'STORE'") -> int:
    """The id of the store a code (or an id) names (else a usage error naming `hint`)."""
    from loyalty.services import merchants

    stores = merchants.list_stores(ctx)
    for s in stores:
        if s.code == store:
            return s.id
    if store.isdigit() and any(s.id == int(store) for s in stores):
        return int(store)
    raise typer.BadParameter(_("no store with code or id {store}", store=store), param_hint=hint)


def _show(make: Callable[[], KpiReport], contacts: bool) -> None:
    """The report as JSON (phones masked unless `contacts`); a bad option as a usage error naming it."""
    from loyalty.cli._core import bad_parameter, run
    from loyalty.domain.errors import InvalidInput

    def report() -> KpiReport:
        try:
            made = make()
        except InvalidInput as exc:
            raise bad_parameter(exc, OPTION_OF_FIELD) from exc
        return made if contacts else _masked(made)

    run(report)


def _masked(report: KpiReport) -> KpiReport:
    from loyalty.api.security import mask_phone

    sleeping = report.sleeping.model_copy(
        update={
            "members": [m.model_copy(update={"phone": mask_phone(m.phone)}) for m in report.sleeping.members]
        }
    )
    return report.model_copy(update={"sleeping": sleeping})
