"""A tier's services: the benefits it gives that are not points (金卡: VIP lane, free parking).

The vocabulary is fixed here, so the till, the console, the portal and the API all know what a code
means and how to say it: each code has an English label in the `web` catalog (and its Chinese there),
shown in the reader's language by `label`. A tier lists some of them (`tiers.services`, in the order
the marketer gave); nothing is computed from them: they tell the cashier what to offer (send a 金卡
member to the VIP lane) and the member what their tier gives.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from loyalty.domain.errors import InvalidInput
from loyalty.i18n import marker, translate

N_ = marker("web")
DOMAIN = "web"

ServiceCode = Literal[
    "vip_lane",
    "priority_service",
    "free_parking",
    "free_delivery",
    "free_gift_wrap",
    "birthday_gift",
    "extended_returns",
    "member_lounge",
    "personal_shopper",
]

#: every service code with its English label (the catalog's msgid), in the order lists show them
SERVICES: dict[str, str] = {
    "vip_lane": N_("VIP lane"),
    "priority_service": N_("Priority service"),
    "free_parking": N_("Free parking"),
    "free_delivery": N_("Free delivery"),
    "free_gift_wrap": N_("Free gift wrapping"),
    "birthday_gift": N_("Birthday gift"),
    "extended_returns": N_("Extended returns"),
    "member_lounge": N_("Member lounge"),
    "personal_shopper": N_("Personal shopper"),
}
SERVICE_CODES: tuple[str, ...] = tuple(SERVICES)


def label(code: str, locale: str | None = None) -> str:
    """The service's label in `locale` (default: the current one); an unknown code as it is."""
    text = SERVICES.get(code)
    return translate(DOMAIN, text, locale) if text is not None else code


def checked(codes: Iterable[object], field: str = "services") -> list[str]:
    """The codes as a tier stores them: known ones, each once, in the order given; INVALID_INPUT
    naming `field` (and the first unknown code) otherwise."""
    out: list[str] = []
    for code in codes:
        if not isinstance(code, str) or code not in SERVICES:
            raise InvalidInput.field(
                field,
                "unknown tier service {value}: use one of {known}",
                "TIER_SERVICE_UNKNOWN",
                {"value": str(code)[:40], "known": ", ".join(SERVICE_CODES)},
            )
        if code not in out:
            out.append(code)
    return out
