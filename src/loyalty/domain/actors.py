"""Who is acting: recorded in the audit log and used by entry points for access checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ActorKind = Literal["staff", "api_key", "member", "system"]


@dataclass(frozen=True)
class Actor:
    """An authenticated principal. `store_ids=None` means all stores (head office, system jobs)."""

    kind: ActorKind
    id: str
    role: str | None = None
    store_ids: frozenset[int] | None = None
    #: a staff actor's username, as the sales and sign-ups they make keep it (`domain.staff`); not
    #: part of who they are (the audit log names them by `kind` and `id`)
    name: str | None = field(default=None, compare=False)


SYSTEM = Actor(kind="system", id="system", role="system")
