"""QR codes for member cards (segno): what the POS scanner reads to find the member.

The QR encodes only the member code, never the phone number or name, so a photographed card leaks
nothing personal; the code alone is useless without a staff credential.
"""

from __future__ import annotations

import io

import segno

from loyalty.domain.cards import QR_PREFIX


def card_payload(member_code: str) -> str:
    return QR_PREFIX + member_code


def qr_png(payload: str, scale: int = 6) -> bytes:
    buf = io.BytesIO()
    segno.make(payload, error="m").save(buf, kind="png", scale=scale, border=2)
    return buf.getvalue()


def qr_svg(payload: str, scale: int = 6) -> bytes:
    buf = io.BytesIO()
    segno.make(payload, error="m").save(buf, kind="svg", scale=scale, border=2, xmldecl=False)
    return buf.getvalue()
