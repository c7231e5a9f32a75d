"""`loyalty programme rewards …` (the catalogue: define, list, show, set) and the member's side of it,
`loyalty members redeem-reward | reward-orders | fulfil-reward | cancel-reward`.

The commands call `services.rewards`, as the API does (audited as the system, the CLI's actor); a
refusal prints the error's code, message and fields as JSON on stderr and exits 1. Services are
imported inside the commands, so that `loyalty --help` stays quick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from loyalty.cli._core import context, run
from loyalty.i18n import translator

if TYPE_CHECKING:
    from datetime import datetime

_ = translator("cli")

app = typer.Typer(help="Rewards members buy with points: gifts, coupons, services.", no_args_is_help=True)

When = Annotated[
    str | None,
    typer.Option(help="A time such as 2026-12-08T00:00 (the chain's time zone unless one is given)."),
]


def _when(text: str | None, option: str) -> datetime | None:
    """An option's time as an aware datetime (a time without a zone: the chain's)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from loyalty.config import get_settings

    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            _("{value!r} is not a time such as 2026-12-08T00:00", value=text), param_hint=f"'{option}'"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=ZoneInfo(get_settings().timezone))


ForTier = Annotated[
    list[str] | None,
    typer.Option(
        help="Only members of this tier may order it (a tier code; repeat for more: exactly the tiers "
        "named, e.g. --for-tier gold --for-tier diamond for gold and above)."
    ),
]


def _tier_prices(pairs: list[str]) -> dict[str, int]:
    """`gold=90` pairs as tier code → points."""
    out: dict[str, int] = {}
    for pair in pairs:
        tier, _sep, points = pair.partition("=")
        if not tier.strip() or not points.strip().isdigit():
            raise typer.BadParameter(
                _("{value!r} is not TIER=POINTS, e.g. gold=90", value=pair), param_hint="'--tier-price'"
            )
        out[tier.strip()] = int(points)
    return out


@app.command("define")
def define(
    code: Annotated[str, typer.Argument(help="The reward's code, e.g. thermos-mug.")],
    name: Annotated[str, typer.Argument(help="What members see, e.g. 保温杯.")],
    points: Annotated[int, typer.Option(help="The price in points.")],
    kind: Annotated[str, typer.Option(help="gift, coupon or service.")] = "gift",
    tier_price: Annotated[
        list[str] | None, typer.Option(help="A tier's own price, TIER=POINTS (repeatable), e.g. gold=90.")
    ] = None,
    stock: Annotated[int | None, typer.Option(help="Units to order (default: unlimited).")] = None,
    per_member: Annotated[int | None, typer.Option(help="Orders per member (default: no limit).")] = None,
    offer: Annotated[str | None, typer.Option(help="A coupon reward's offer code.")] = None,
    description: Annotated[str | None, typer.Option(help="A longer description.")] = None,
    valid_from: When = None,
    valid_to: When = None,
    for_tier: ForTier = None,
) -> None:
    """Add a reward to the catalogue (audited); a term that cannot work is refused, naming its field.
    With --for-tier only members of the tiers named may order it."""
    from loyalty.domain.programme.rewards import RewardTerms
    from loyalty.services.rewards import catalog

    terms = RewardTerms(
        code=code,
        name=name,
        kind=kind,  # type: ignore[arg-type]  # checked by the service, naming `kind`
        points=points,
        tier_prices=_tier_prices(tier_price or []),
        stock=stock,
        per_member_limit=per_member,
        offer_code=offer,
        description=description,
        tiers=tuple(for_tier) if for_tier else None,
    )
    start, end = _when(valid_from, "--valid-from"), _when(valid_to, "--valid-to")
    ctx = context()
    run(lambda: catalog.define_reward(ctx, terms, valid_from=start, valid_to=end))


@app.command("set")
def change(
    code: Annotated[str, typer.Argument(help="The reward's code.")],
    points: Annotated[int | None, typer.Option(help="A new price in points.")] = None,
    stock: Annotated[int | None, typer.Option(help="Units left to order, counted anew.")] = None,
    unlimited: Annotated[bool, typer.Option("--unlimited", help="No stock to count any more.")] = False,
    per_member: Annotated[int | None, typer.Option(help="Orders per member.")] = None,
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    valid_to: When = None,
    for_tier: ForTier = None,
    all_tiers: Annotated[
        bool, typer.Option("--all-tiers", help="Every member may order it again (no tier only).")
    ] = False,
) -> None:
    """Change a reward's terms (audited): price, stock, limit per member, name, end, or the tiers it
    is for (--for-tier lists the whole new set)."""
    from loyalty.services.rewards import catalog

    changes: dict[str, Any] = {
        k: v
        for k, v in (("points", points), ("stock", stock), ("per_member_limit", per_member), ("name", name))
        if v is not None
    }
    if unlimited:
        changes["stock"] = None
    if valid_to is not None:
        changes["valid_to"] = _when(valid_to, "--valid-to")
    if for_tier and all_tiers:
        raise typer.BadParameter(_("give --for-tier or --all-tiers, not both"), param_hint="'--all-tiers'")
    if for_tier:
        changes["tiers"] = list(for_tier)
    if all_tiers:
        changes["tiers"] = None
    ctx = context()
    run(lambda: catalog.change_reward(ctx, code, changes))


@app.command("list")
def list_rewards(
    current: Annotated[bool, typer.Option("--current", help="Only those that can be ordered now.")] = False,
) -> None:
    """The catalogue: code, kind, points, stock, limit per member, period, name, and the tiers an
    exclusive reward is for."""
    from loyalty.services.rewards import catalog

    found = catalog.list_rewards(context(), current=current)
    if not found:
        typer.echo(_("no reward in the catalogue: add one with `loyalty programme rewards define`"))
    for r in found:
        stock = "∞" if r.stock is None else str(r.stock)
        limit = "-" if r.per_member_limit is None else str(r.per_member_limit)
        until = r.valid_to.isoformat() if r.valid_to is not None else "…"
        typer.echo(
            f"{r.code:<24} {r.kind:<8} {r.points:>8} {stock:>8} {limit:>4}  "
            f"{r.valid_from.isoformat()} → {until}  {r.name}"
            + ("  " + _("for tiers: {tiers}", tiers=", ".join(r.tiers)) if r.tiers is not None else "")
        )


@app.command("show")
def show(code: Annotated[str, typer.Argument(help="The reward's code.")]) -> None:
    """One reward's terms, as JSON."""
    from loyalty.services.rewards import catalog

    ctx = context()
    run(lambda: catalog.get_reward(ctx, code))


def redeem_reward(
    member_id: Annotated[int, typer.Argument(help="The member's id.")],
    code: Annotated[str, typer.Argument(help="The reward's code.")],
    store_id: Annotated[int, typer.Option(help="The store where the points are spent.")],
    idempotency_key: Annotated[str | None, typer.Option(help="Order at most once per key.")] = None,
) -> None:
    """Order reward CODE for MEMBER_ID with their points (audited); refused when out of stock."""
    from loyalty.services.rewards import redeem

    ctx = context()
    run(lambda: redeem.redeem(ctx, member_id, code, store_id=store_id, idempotency_key=idempotency_key))


def reward_orders(member_id: Annotated[int, typer.Argument(help="The member's id.")]) -> None:
    """A member's reward orders, newest first, as JSON."""
    from loyalty.services.rewards import orders

    ctx = context()
    run(lambda: orders.member_orders(ctx, member_id))


def fulfil_reward(
    order_id: Annotated[int, typer.Argument(help="The order's id.")],
    status: Annotated[str, typer.Argument(help="shipped, collected or fulfilled.")],
) -> None:
    """Mark a reward order shipped, collected or fulfilled (audited)."""
    from loyalty.services.rewards import settle

    ctx = context()
    run(lambda: settle.fulfil(ctx, order_id, status))


def cancel_reward(
    order_id: Annotated[int, typer.Argument(help="The order's id.")],
    reason: Annotated[str | None, typer.Option(help="Shown on the member's statement.")] = None,
) -> None:
    """Cancel a reward order (audited): the points back with their dates, the unit back in stock."""
    from loyalty.services.rewards import settle

    ctx = context()
    run(lambda: settle.cancel(ctx, order_id, reason=reason))


def register_member_commands(members: typer.Typer) -> None:
    """`loyalty members redeem-reward | reward-orders | fulfil-reward | cancel-reward`."""
    members.command("redeem-reward")(redeem_reward)
    members.command("reward-orders")(reward_orders)
    members.command("fulfil-reward")(fulfil_reward)
    members.command("cancel-reward")(cancel_reward)
