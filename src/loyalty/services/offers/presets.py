"""Presets: the common offers as entries of the programme's document a marketer fills in and defines.

Each preset makes one offer entry in the form `services.programme_document` reads (the definition
`domain.programme.offers.parse_offer` reads, with its `limits`), from a few parameters in the
programme's currency (major units, as the document writes amounts): a coupon campaign (¥20 off over
¥100, usable 30 days after issue, once per member), a 满减 ladder promotion (满100减20 / 满300减80), a
gift with purchase (满200 gets a gift SKU) and a tier discount (金卡 95折). Titles, descriptions and
offer names are in the reader's language (the web catalog); the rest is data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from loyalty.domain.errors import InvalidInput, NotFound
from loyalty.i18n import marker, translate

N_ = marker("web")
DOMAIN = "web"
#: one step of a ladder's name (满100减20)
STEP = N_("spend {over} save {off}")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class Preset:
    """A named starting point: what it is for, its parameters (name → default) and its offer."""

    code: str
    title: str
    description: str
    name: str  # the offer's name, an English template filled from the parameters
    params: tuple[tuple[str, str], ...]
    build: Callable[[Mapping[str, str]], dict[str, Any]]


def _steps(text: str) -> list[dict[str, str]]:
    """`100:20,300:80` → [{over: 100, off: 20}, {over: 300, off: 80}] (the parser checks amounts)."""
    steps = []
    for part in text.replace("，", ",").split(","):
        over, sep, off = part.strip().replace("：", ":").partition(":")
        if not sep or not over.strip() or not off.strip():
            raise InvalidInput.field(
                "steps", "steps are written OVER:OFF, e.g. 100:20,300:80", "PRESET_INVALID"
            )
        steps.append({"over": over.strip(), "off": off.strip()})
    return steps


def _whole(values: Mapping[str, str], name: str) -> int:
    text = str(values[name]).strip()
    if not text.isdigit() or len(text) > 9:
        raise InvalidInput.field(name, "must be a whole number", "PRESET_INVALID")
    return int(text)


def _coupon(v: Mapping[str, str]) -> dict[str, Any]:
    return {
        "kind": "amount_off",
        "amount": v["amount"],
        "when": {"min_spend": v["over"]},
        "limits": {"per_member": _whole(v, "per_member"), "validity_days": _whole(v, "days")},
    }


def _ladder(v: Mapping[str, str]) -> dict[str, Any]:
    return {"kind": "ladder", "steps": _steps(v["steps"]), "automatic": True}


def _gift(v: Mapping[str, str]) -> dict[str, Any]:
    return {"kind": "gift", "automatic": True, "when": {"skus": [v["sku"]], "min_spend": v["over"]}}


def _tier(v: Mapping[str, str]) -> dict[str, Any]:
    return {
        "kind": "percent_off",
        "percent": _whole(v, "percent"),
        "automatic": True,
        "when": {"tiers": [v["tier"]]},
    }


PRESETS: tuple[Preset, ...] = (
    Preset(
        code="coupon-campaign",
        title=N_("Coupon campaign: 20 off over 100"),
        description=N_(
            "A coupon to issue to members: an amount off a sale over a minimum spend, usable for some "
            "days after it is issued, a limited number of times per member."
        ),
        name=N_("Coupon: spend {over}, {amount} off"),
        params=(("amount", "20"), ("over", "100"), ("days", "30"), ("per_member", "1")),
        build=_coupon,
    ),
    Preset(
        code="ladder",
        title=N_("满减 promotion: 100 − 20, 300 − 80"),
        description=N_(
            "A promotion every sale gets without a coupon: the highest step reached is taken off "
            "(满100减20 / 满300减80)."
        ),
        name=N_("Spend and save: {steps}"),
        params=(("steps", "100:20,300:80"),),
        build=_ladder,
    ),
    Preset(
        code="gift-with-purchase",
        title=N_("Gift with purchase: spend 200, get a gift"),
        description=N_(
            "A sale over the minimum spend gets one unit of the gift SKU free; the till scans the gift "
            "as a line."
        ),
        name=N_("Spend {over}, get {sku} free"),
        params=(("over", "200"), ("sku", "GIFT-001")),
        build=_gift,
    ),
    Preset(
        code="tier-discount",
        title=N_("Tier discount: gold members 5% off"),
        description=N_("Members of one tier get a percentage off every sale (金卡 95折 is 5% off)."),
        name=N_("{percent}% off for tier {tier}"),
        params=(("tier", "gold"), ("percent", "5")),
        build=_tier,
    ),
)


def preset(code: str) -> Preset:
    """The preset `code` (PRESET_NOT_FOUND otherwise)."""
    for p in PRESETS:
        if p.code == code:
            return p
    raise NotFound("PRESET_NOT_FOUND", "no preset {code}", {"code": code})


def preset_offer(
    code: str,
    *,
    offer_code: str | None = None,
    name: str | None = None,
    values: Mapping[str, str | None] | None = None,
    locale: str | None = None,
) -> dict[str, Any]:
    """The preset's offer entry with its parameters filled in (defaults for those not given), named
    in `locale` unless `name` is given. PRESET_INVALID naming a parameter the preset does not take or
    one it cannot read; amounts are checked when the entry is validated (`offers[0].amount`)."""
    p = preset(code)
    given = {k: v for k, v in (values or {}).items() if v is not None and str(v).strip()}
    for key in sorted(set(given) - {k for k, _ in p.params}):
        raise InvalidInput.field(key, "is not a parameter of preset {code}", "PRESET_INVALID", {"code": code})
    filled = {k: str(given.get(k, default)).strip() for k, default in p.params}
    chosen = offer_code or p.code
    if not _CODE.match(chosen):
        raise InvalidInput.field(
            "code", "must be 1 to 40 letters, digits, - or _ (e.g. spring-100-20)", "PRESET_INVALID"
        )
    built = p.build(filled)
    shown = dict(filled)
    if p.code == "ladder":
        step = translate(DOMAIN, STEP, locale)
        shown["steps"] = " / ".join(step.format(over=s["over"], off=s["off"]) for s in built["steps"])
    entry: dict[str, Any] = {
        "code": chosen,
        "name": name or translate(DOMAIN, p.name, locale).format(**shown),
    }
    entry.update(built)
    return entry


def title(p: Preset, locale: str | None = None) -> str:
    """The preset's title in `locale` (None: the current one)."""
    return translate(DOMAIN, p.title, locale)


def description(p: Preset, locale: str | None = None) -> str:
    """What the preset does, in `locale` (None: the current one)."""
    return translate(DOMAIN, p.description, locale)
