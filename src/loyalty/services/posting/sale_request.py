"""A POS sale as a posting strategy takes it, and what its caller is answered.

The sale comes with who posts it, how its 201 body is rendered and, when the caller sent one, its
Idempotency-Key: the key is looked up in the sale's own transaction (`stored_answer`), and the answer
is recorded there with the sale (`record_for`), so a crash leaves both or neither.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from loyalty.domain.actors import Actor
from loyalty.domain.staff import recorded_staff
from loyalty.services import idempotency
from loyalty.services.schemas import PurchaseIn, PurchaseResult


@dataclass(frozen=True)
class SaleKey:
    """The Idempotency-Key a sale came with: the caller's scope, the key, and the request's digest
    (a retry with the same key and another request is refused)."""

    scope: str
    key: str
    request_hash: str


@dataclass(frozen=True)
class SaleRequest:
    """A sale to post, who posts it (its audit row), how its 201 body is rendered, and its key."""

    sale: PurchaseIn
    actor: Actor
    render: Callable[[PurchaseResult], dict[str, Any]]
    key: SaleKey | None = None


def attributed(sale: PurchaseIn, actor: Actor | None) -> PurchaseIn:
    """The sale with who rang it: the staff code it names, else the username of the staff account
    posting it (`domain.staff.recorded_staff`); the sale itself when that changes nothing."""
    staff = recorded_staff(sale.staff, actor)
    return sale if staff == sale.staff else sale.model_copy(update={"staff": staff})


@dataclass(frozen=True)
class SaleAnswer:
    """What the caller is told: the body posted now (201), or the key's stored answer (`replayed`)."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


def stored_answer(conn: Connection, key: SaleKey | None) -> SaleAnswer | None:
    """The answer stored under the sale's key, None when the key is new (or there is none); a key
    reused with another request, or held by a request still running, raises."""
    if key is None:
        return None
    return replayed(idempotency.find(conn, key.scope, key.key, key.request_hash))


def replayed(stored: idempotency.Stored | None) -> SaleAnswer | None:
    """A key's stored answer as the caller is told it (a reservation still running raises)."""
    if stored is None:
        return None
    if stored.in_progress:
        raise idempotency.KeyInProgress(stored)
    return SaleAnswer(stored.status_code, stored.response, replayed=True)


def record_for(request: SaleRequest) -> idempotency.Record | None:
    """The record that stores the sale's answer under its key, in the sale's transaction."""
    if request.key is None:
        return None
    return idempotency.Record(
        request.key.scope,
        request.key.key,
        request.key.request_hash,
        render=lambda result: (201, request.render(result)),
    )


def answer_of(request: SaleRequest, result: PurchaseResult, record: idempotency.Record | None) -> SaleAnswer:
    """The answer of a posted sale: what its record stored (rendered once, in the transaction)."""
    if record is not None and record.rendered is not None:
        return SaleAnswer(*record.rendered)
    return SaleAnswer(201, request.render(result))
