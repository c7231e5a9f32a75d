"""What the administration pages share: reading a posted form and the sections a user may open."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import FormData

from loyalty.i18n import marker

N_ = marker("web")

#: where the index is (links); routes are declared without the console prefix (`PREFIX`)
ADMIN = "/console/admin"


def given(form: FormData, *names: str) -> dict[str, str]:
    """The named fields as typed, stripped (absent ones empty), to validate and to show back."""
    return {name: str(form.get(name) or "").strip() for name in names}


@dataclass(frozen=True)
class Section:
    """One entry of the administration index: where it is, who may open it, what it is for."""

    path: str
    permission: str
    title: str
    summary: str


SECTIONS = (
    Section(
        f"{ADMIN}/stores",
        "stores:write",
        N_("Stores and merchants"),
        N_("Open stores, change their codes, names and time zones; rename merchants."),
    ),
    Section(
        f"{ADMIN}/staff",
        "staff:manage",
        N_("Staff"),
        N_("Create accounts, change roles and stores, disable accounts, reset passwords."),
    ),
    Section(
        f"{ADMIN}/keys",
        "apikeys:manage",
        N_("POS keys"),
        N_("Create and revoke the keys that let a store's tills call the API."),
    ),
    Section(
        f"{ADMIN}/programme",
        "programme:write",
        N_("Programme and tiers"),
        N_("Earning, redemption and expiry rules; the tier ladder."),
    ),
    Section(f"{ADMIN}/audit", "audit:read", N_("Audit log"), N_("Who changed what, and when.")),
    Section(
        f"{ADMIN}/jobs",
        "jobs:read",
        N_("Jobs"),
        N_("Points expiry, tier evaluation and analytics refresh, started and followed."),
    ),
)
