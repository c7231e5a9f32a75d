"""Sales channels: where a sale was made (a store's till, online, the mini-program, a delivery platform).

A closed set, stored as its English code on every purchase so that reports and programme rules can
filter on it. Entry points accept the code itself or a common name for it, in Chinese or English
(`门店`, `线上`, `小程序`, `外卖`, `offline`, `e-commerce`, …): `parse_channel` is the one place that
decides what a text means, for the API, the CLI and the import (which applies `SYNONYMS` in SQL).
"""

from __future__ import annotations

import re
from typing import Literal

Channel = Literal["store", "online", "mini_program", "delivery"]

CHANNELS: tuple[Channel, ...] = ("store", "online", "mini_program", "delivery")
DEFAULT_CHANNEL: Channel = "store"

_NAMES: dict[str, Channel] = {
    **{code: code for code in CHANNELS},
    **dict.fromkeys(
        ("门店", "线下", "到店", "店内", "实体店", "收银台", "pos", "instore", "offline", "shop", "retail"),
        "store",
    ),
    **dict.fromkeys(
        ("线上", "网店", "官网", "商城", "电商", "网上商城", "app", "web", "website", "ecommerce", "eshop"),
        "online",
    ),
    **dict.fromkeys(("小程序", "微信小程序", "支付宝小程序", "wechat", "weapp", "mini"), "mini_program"),
    **dict.fromkeys(("外卖", "配送", "到家", "美团", "饿了么", "takeaway", "takeout", "o2o"), "delivery"),
}


def normalise(text: str) -> str:
    """Lower case without spaces, hyphens, underscores or dots: `Mini-Program` and `mini_program` meet."""
    return re.sub(r"[\s_\-.]+", "", text.strip().lower())


#: normalised text (see `normalise`) -> channel; every code is also its own synonym
SYNONYMS: dict[str, Channel] = {normalise(name): channel for name, channel in _NAMES.items()}


def parse_channel(text: str | None) -> Channel | None:
    """The channel a text names (empty: the default, `store`), or None when it names none."""
    if text is None or not text.strip():
        return DEFAULT_CHANNEL
    return SYNONYMS.get(normalise(text))


def is_default_channel(value: object) -> bool:
    """Whether `value` is the default channel (such a sale's request hash leaves the channel out)."""
    return value == DEFAULT_CHANNEL
