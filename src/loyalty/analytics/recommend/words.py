"""Why an item is recommended, in zh-CN or English (``report`` catalog), and an item's label."""

from __future__ import annotations

from loyalty.i18n import marker, translate

N_ = marker("report")
DOMAIN = "report"

#: reason code → why, for the member's staff and the API
REASON_TEXT: dict[str, str] = {
    "cf": N_("Members who buy what this member buys also buy it"),
    "content": N_("Matches the categories this member buys"),
    "popular": N_("Popular at this member's store lately"),
}
#: the model names of an evaluation
MODEL_NAMES: dict[str, str] = {
    "blend": N_("Blend (what members are shown)"),
    "als": N_("Collaborative filtering (ALS) alone"),
    "item_knn": N_("Item neighbours (cosine)"),
    "popular": N_("Popular at the member's store"),
}


def reason(code: str, locale: str) -> str:
    """The reason code in words ("Popular at this member's store lately")."""
    known = REASON_TEXT.get(code)
    return translate(DOMAIN, known, locale) if known else code


def model_name(code: str, locale: str) -> str:
    known = MODEL_NAMES.get(code)
    return translate(DOMAIN, known, locale) if known else code


def label(item: str, category: str | None) -> str:
    """How an item is named where the product has no product names: its SKU and category."""
    return f"{item} · {category}" if category else item
