"""`POST /programme/simulations`: a draft programme replayed over past days before it is published.

The draft is a rules document as `POST /programme/rules` takes it; nothing is written. Readers of
the programme (`programme:read`: admins, marketers, analysts, auditors) may simulate.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from loyalty.api.deps import CtxDep, requires
from loyalty.api.schemas import DbId, Money, aware, money
from loyalty.api.security import Principal
from loyalty.services.earning_rules import simulation, yaml_io

router = APIRouter(tags=["programme"])

Reader = Annotated[Principal, Depends(requires("programme:read"))]


class SimulationIn(BaseModel):
    """The draft and the business days to replay (the programme's time zone, at most 92 days)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    rules: list[dict[str, Any]] = Field(min_length=1, max_length=yaml_io.MAX_RULES)
    programme: str | None = Field(default=None, max_length=40)
    from_: date = Field(alias="from")
    to: date
    store_id: DbId | None = Field(default=None, description="Only this store's sales.")


class RuleEffectOut(BaseModel):
    code: str
    name: str
    kind: str
    sales: int = Field(description="Sales the rule added points to.")
    points: int


class DayEffectOut(BaseModel):
    day: date
    sales: int
    points_actual: int
    points_draft: int


class SaleChangeOut(BaseModel):
    purchase_id: int
    order_id: str
    store_id: int
    member_id: int
    occurred_at: datetime
    amount: Money
    points_actual: int
    points_draft: int


class SimulationOut(BaseModel):
    """The draft's points beside what the sales earned, per rule, per day and the sales it changes most."""

    programme: str
    start: date
    end: date
    store_id: int | None
    sales: int
    spend: Money
    points_actual: int
    points_draft: int
    base_points: int
    rules: list[RuleEffectOut]
    days: list[DayEffectOut]
    changed: list[SaleChangeOut]


def simulation_view(s: simulation.Simulation) -> SimulationOut:
    return SimulationOut(
        programme=s.programme,
        start=s.start,
        end=s.end,
        store_id=s.store_id,
        sales=s.sales,
        spend=money(s.spend_minor, s.currency),
        points_actual=s.points_actual,
        points_draft=s.points_draft,
        base_points=s.base_points,
        rules=[
            RuleEffectOut(code=r.code, name=r.name, kind=r.kind, sales=r.sales, points=r.points)
            for r in s.rules
        ],
        days=[DayEffectOut(**vars(d)) for d in s.days],
        changed=[
            SaleChangeOut(
                purchase_id=c.purchase_id,
                order_id=c.order_id,
                store_id=c.store_id,
                member_id=c.member_id,
                occurred_at=aware(c.occurred_at),
                amount=money(c.amount_minor, s.currency),
                points_actual=c.points_actual,
                points_draft=c.points_draft,
            )
            for c in s.changed
        ],
    )


@router.post("/programme/simulations", response_model=SimulationOut)
def simulate(body: SimulationIn, caller: Reader, ctx: CtxDep) -> SimulationOut:
    """Replay the members' sales of `from`…`to` under a draft: what it would have given, beside what
    they earned (writes nothing; 422 names each bad rule field, or the day)."""
    document: dict[str, Any] = {"rules": body.rules}
    if body.programme is not None:
        document["programme"] = body.programme
    return simulation_view(simulation.simulate(ctx, document, body.from_, body.to, store_id=body.store_id))
