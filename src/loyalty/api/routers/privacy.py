"""A member's data rights: their data package (export) and the erasure of their personal data.

Both need `members:privacy` (administrators) and are audited by the service: an export records who
took whose data and how much, an erasure which records were anonymised and what was removed,
neither the data itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from loyalty.api.deps import CtxDep, requires
from loyalty.api.routers.members import load_member, require_member_store
from loyalty.api.schemas import PathId
from loyalty.api.security import Principal
from loyalty.api.views import MemberOut, member_view
from loyalty.services import privacy

router = APIRouter(tags=["privacy"])

PrivacyOfficer = Annotated[Principal, Depends(requires("members:privacy"))]


class EraseIn(BaseModel):
    """The typed confirmation of an erasure."""

    model_config = ConfigDict(extra="forbid")

    confirm: str = Field(
        min_length=1,
        max_length=40,
        description="The member's card number, typed as confirmation (spaces and dashes ignored).",
        examples=["8800 0000 0000 0017"],
    )


class ErasureOut(BaseModel):
    """The erased member as the API now shows them, and what the erasure removed."""

    member: MemberOut
    erased_ids: list[int] = Field(description="The member and the duplicate records merged into them.")
    erased_at: datetime
    tokens_deleted: int
    codes_deleted: int
    messages_deleted: int
    scores_deleted: int
    requests_forgotten: int = Field(description="Stored idempotent replies that held the member's record.")
    audit_entries_blanked: int = Field(
        description="Earlier audit snapshots whose personal values were blanked."
    )


def attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@router.get("/members/{member_id}/data-export", response_model=privacy.DataPackage)
def export_member_data(member_id: PathId, caller: PrivacyOfficer, ctx: CtxDep) -> Response:
    """The member's data package (`loyalty.member-data/1`): profile, consents, points balance and
    statement, purchases with lines and returns, claims, tier and history, scores and merged records,
    unmasked, as a JSON download (money in minor units of `currency`). Audited as
    `member.data_export` with the package's counts."""
    require_member_store(caller, load_member(ctx, member_id))
    package = privacy.export_member_data(ctx, member_id, actor=caller.to_actor())
    return Response(
        package.model_dump_json(),
        media_type="application/json",
        headers=attachment(f"member-{member_id}-data.json"),
    )


@router.post("/members/{member_id}/erase", response_model=ErasureOut)
def erase_member(member_id: PathId, body: EraseIn, caller: PrivacyOfficer, ctx: CtxDep) -> ErasureOut:
    """Erase the member's personal data for good (and that of the duplicates merged into them); the
    purchases and the points ledger stay on the anonymised record. `confirm` must be the member's card
    number (422 `ERASURE_NOT_CONFIRMED` naming `confirm` otherwise); 409 `MEMBER_ERASED` the second
    time. Audited as `member.erase`, without the erased data."""
    require_member_store(caller, load_member(ctx, member_id))
    done = privacy.erase_member(ctx, member_id, confirm=body.confirm, actor=caller.to_actor())
    member = member_view(load_member(ctx, member_id), caller, ctx.settings.currency)
    return ErasureOut(member=member, **done.model_dump(exclude={"member_id"}))
