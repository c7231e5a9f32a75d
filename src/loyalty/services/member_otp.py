"""Member sign-in with phone and a one-time code: issue, deliver, check.

A code is 6 digits from `secrets`, valid for `CODE_TTL`, checked at most `MAX_ATTEMPTS` times, used
once. Only an HMAC of it (keyed with the server's secret and the phone) is stored. A request for a
phone that is no member's is answered and recorded exactly like a member's (a code that is never
sent), so neither the reply nor the per-phone limit tells who is a member. Delivery goes through a
`Sender`; the default one writes to the local `outbox` table, read by the demo, the tests and
`list_outbox`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from sqlalchemy import func, insert, select, update

from loyalty.bootstrap import Context
from loyalty.db.auth_tables import member_otps, outbox
from loyalty.db.core_tables import members
from loyalty.i18n import translator
from loyalty.services.common import read

_ = translator("web")

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=5)
MAX_ATTEMPTS = 5
#: per phone: at most this many codes per `ISSUE_WINDOW`, and one per `RESEND_AFTER`
MAX_ISSUED = 5
ISSUE_WINDOW = timedelta(hours=1)
RESEND_AFTER = timedelta(seconds=60)

Outcome = Literal["ok", "wrong", "expired", "locked"]


class Sender(Protocol):
    """Delivers a sign-in message to a phone (an SMS gateway in production)."""

    def send(self, ctx: Context, phone: str, text: str) -> None: ...


class OutboxSender:
    """The default sender: the message goes to the local `outbox` table instead of a gateway."""

    def send(self, ctx: Context, phone: str, text: str) -> None:
        with ctx.engine.begin() as conn:
            conn.execute(
                insert(outbox).values(channel="sms", recipient=phone, body=text, created_at=ctx.now())
            )


@dataclass(frozen=True)
class Issued:
    """The answer to a code request: `retry_after` seconds to wait when the phone's limit is hit."""

    sent: bool
    retry_after: int = 0


@dataclass(frozen=True)
class Checked:
    outcome: Outcome
    member_id: int | None = None


@dataclass(frozen=True)
class OutboxMessage:
    recipient: str
    body: str
    created_at: datetime


def _digest(ctx: Context, phone: str, code: str) -> str:
    key = ctx.settings.secret_key.encode()
    return hmac.new(key, f"{phone}\x00{code}".encode(), hashlib.sha256).hexdigest()


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def request_code(ctx: Context, phone: str, *, sender: Sender | None = None) -> Issued:
    """Issue a code for `phone` (already normalised) and send it if the phone is an active
    member's; the same answer either way. Refused (`sent=False`) past the phone's limits."""
    now = ctx.now()
    with ctx.engine.begin() as conn:
        recent = conn.execute(
            select(func.count(), func.max(member_otps.c.created_at)).where(
                member_otps.c.phone == phone, member_otps.c.created_at > now - ISSUE_WINDOW
            )
        ).one()
        count, last = int(recent[0]), recent[1]
        if last is not None:
            last = last if last.tzinfo else last.replace(tzinfo=now.tzinfo)
            if now - last < RESEND_AFTER:
                return Issued(False, int((RESEND_AFTER - (now - last)).total_seconds()) + 1)
        if count >= MAX_ISSUED:
            return Issued(False, int(ISSUE_WINDOW.total_seconds()))
        member_id = conn.execute(
            select(members.c.id).where(members.c.phone == phone, members.c.status == "active")
        ).scalar_one_or_none()
        code = new_code()
        conn.execute(
            insert(member_otps).values(
                phone=phone,
                member_id=member_id,
                code_hash=_digest(ctx, phone, code),
                created_at=now,
                expires_at=now + CODE_TTL,
                attempts=0,
            )
        )
    if member_id is not None:
        minutes = int(CODE_TTL.total_seconds() // 60)
        text = _(
            "Your membership sign-in code is {code}. It expires in {minutes} minutes.",
            code=code,
            minutes=minutes,
        )
        (sender or OutboxSender()).send(ctx, phone, text)
    return Issued(True)


def check_code(ctx: Context, phone: str, code: str) -> Checked:
    """Check `code` against the phone's latest code: the member it signs in, or why not."""
    now = ctx.now()
    with ctx.engine.begin() as conn:
        row = conn.execute(
            select(member_otps)
            .where(member_otps.c.phone == phone)
            .order_by(member_otps.c.id.desc())
            .limit(1)
            .with_for_update()
        ).one_or_none()
        if row is None or row.used_at is not None:
            return Checked("expired")
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=now.tzinfo)
        if expires <= now:
            return Checked("expired")
        if row.attempts >= MAX_ATTEMPTS:
            return Checked("locked")
        good = hmac.compare_digest(row.code_hash, _digest(ctx, phone, code.strip()))
        values: dict[str, object] = {"attempts": row.attempts + 1}
        if good and row.member_id is not None:
            values["used_at"] = now
        conn.execute(update(member_otps).where(member_otps.c.id == row.id).values(**values))
        if good and row.member_id is not None:
            return Checked("ok", int(row.member_id))
        return Checked("locked" if row.attempts + 1 >= MAX_ATTEMPTS else "wrong")


def list_outbox(ctx: Context, recipient: str | None = None, limit: int = 20) -> list[OutboxMessage]:
    """The latest messages of the local outbox, newest first (for one recipient when given)."""
    stmt = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
    if recipient is not None:
        stmt = stmt.where(outbox.c.recipient == recipient)
    with read(ctx) as conn:
        return [OutboxMessage(r.recipient, r.body, r.created_at) for r in conn.execute(stmt)]
