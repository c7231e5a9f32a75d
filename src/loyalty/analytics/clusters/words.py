"""A cluster in words for a marketer, and the reason for its k, in zh-CN or English (``report`` catalog).

A description joins the phrases of the cluster's traits (:mod:`.profiles`), strongest first:
"Frequent visitors, small baskets, mostly online" / "高频，小额，多在线上". A cluster without a trait
is "close to the average on every measure". Built when shown, from the stored traits, so a change of
wording needs no new run.
"""

from __future__ import annotations

from collections.abc import Sequence

from loyalty.analytics.clusters.model import KScore
from loyalty.analytics.clusters.profiles import Trait
from loyalty.i18n import marker, translate

N_ = marker("report")
DOMAIN = "report"

#: (model column, high) → phrase
PHRASES: dict[tuple[str, bool], str] = {
    ("recency", False): N_("bought recently"),
    ("recency", True): N_("not seen for a while"),
    ("frequency", True): N_("frequent visitors"),
    ("frequency", False): N_("rare visitors"),
    ("gap", False): N_("short gaps between visits"),
    ("gap", True): N_("long gaps between visits"),
    ("monetary", True): N_("big baskets"),
    ("monetary", False): N_("small baskets"),
    ("online", True): N_("mostly online"),
    ("online", False): N_("mostly in store"),
    ("discount", True): N_("drawn to discounts"),
    ("discount", False): N_("seldom buy on discount"),
    ("rhythm", True): N_("irregular visits"),
    ("rhythm", False): N_("a steady rhythm"),
    ("tenure", True): N_("long-standing members"),
    ("tenure", False): N_("new members"),
}
FAVOUR_ONE = N_("favour {category}")
FAVOUR_TWO = N_("favour {first} and {second}")
TYPICAL = N_("close to the average on every measure")
#: what a model column measures, for tables and charts
COLUMN_NAMES: dict[str, str] = {
    "recency": N_("Days since the last purchase"),
    "frequency": N_("Visit days"),
    "monetary": N_("Spend per purchase"),
    "online": N_("Online share"),
    "discount": N_("Discounted share"),
    "gap": N_("Days between visits"),
    "rhythm": N_("Irregularity of visits"),
    "tenure": N_("Days as a member"),
}
CATEGORY_SHARE = N_("Share of {category}")
REASON = N_("k={k} because its silhouette {score} is the highest")
REASON_FORCED = N_("k={k} as asked; its silhouette is {score}, the highest was {best_score} at k={best}")


def _separator(locale: str) -> str:
    return "，" if locale == "zh-CN" else ", "


def phrases(traits: Sequence[Trait], locale: str) -> list[str]:
    """Each trait's phrase in ``locale``; the categories (together) where the first of them ranks."""
    out: list[str] = []
    cats = [t.category for t in traits if t.category is not None]
    for trait in traits:
        if trait.category is not None:
            if trait.category != cats[0]:
                continue
            if len(cats) == 1:
                out.append(translate(DOMAIN, FAVOUR_ONE, locale, category=cats[0]))
            else:
                out.append(translate(DOMAIN, FAVOUR_TWO, locale, first=cats[0], second=cats[1]))
            continue
        phrase = PHRASES.get((trait.feature, trait.high))
        if phrase is not None:
            out.append(translate(DOMAIN, phrase, locale))
    return out


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def describe(traits: Sequence[Trait], locale: str) -> str:
    """The cluster in one line: its traits' phrases, strongest first (see the module)."""
    said = phrases(traits, locale) or [translate(DOMAIN, TYPICAL, locale)]
    return _capital(_separator(locale).join(said))


def name(traits: Sequence[Trait], locale: str) -> str:
    """A short name: the first two phrases ("Frequent visitors · small baskets")."""
    said = phrases(traits, locale)[:2] or [translate(DOMAIN, TYPICAL, locale)]
    return _capital(" · ".join(said))


def column_name(column: str, locale: str) -> str:
    """A model column as people read it ("Visit days", "Share of 咖啡")."""
    if column.startswith("cat:"):
        return translate(DOMAIN, CATEGORY_SHARE, locale, category=column[4:])
    known = COLUMN_NAMES.get(column)
    return translate(DOMAIN, known, locale) if known else column


def reason(scores: Sequence[KScore], k: int, best_k: int, locale: str) -> str:
    """Why this k: "k=4 because its silhouette 0.41 is the highest" (or that it was asked for)."""
    by_k = {s.k: s.silhouette for s in scores}
    if k == best_k:
        return translate(DOMAIN, REASON, locale, k=k, score=f"{by_k[k]:.2f}")
    return translate(
        DOMAIN,
        REASON_FORCED,
        locale,
        k=k,
        score=f"{by_k[k]:.2f}" if k in by_k else "–",
        best=best_k,
        best_score=f"{by_k[best_k]:.2f}",
    )
