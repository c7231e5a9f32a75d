"""What each cluster is: its size and share, its mean features beside everyone's, and the few
features that set it apart most (its *traits*, which :mod:`.words` turns into a sentence).

A feature's *effect* in a cluster is how far the cluster's mean of the scaled feature lies from the
members' mean, in standard deviations of the scaled feature (a standardised mean difference, as
Cohen's d against the whole). A trait is a feature whose effect is at least :data:`TRAIT_EFFECT`
either way (for a category: its share above the usual only), the strongest first, at most
:data:`MAX_TRAITS` of them; visit days and the gap between visits say the same thing twice, so only
the stronger of the two is a trait, and up to two categories make one trait ("favour coffee and
bakery").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from loyalty.analytics.clusters.design import Scaler
from loyalty.analytics.clusters.features import CATEGORY_PREFIX, MemberFeatures

Floats = npt.NDArray[np.float64]

#: the least |effect| (standard deviations) that makes a feature a trait
TRAIT_EFFECT = 0.5
#: traits in a cluster's description
MAX_TRAITS = 3
#: categories named in one trait
MAX_CATEGORIES = 2
#: features that say the same thing: only the stronger becomes a trait
_SAME = {"frequency": "visits", "gap": "visits"}


@dataclass(frozen=True)
class Trait:
    """A feature that sets a cluster apart: ``feature`` is a model column (``frequency``, ``online``,
    ``cat:咖啡``, …), ``high`` its direction, ``effect`` its standardised difference."""

    feature: str
    high: bool
    effect: float

    @property
    def category(self) -> str | None:
        return (
            self.feature.removeprefix(CATEGORY_PREFIX) if self.feature.startswith(CATEGORY_PREFIX) else None
        )

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "high": self.high, "effect": round(self.effect, 4)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trait:
        return cls(str(data["feature"]), bool(data["high"]), float(data["effect"]))


@dataclass(frozen=True)
class Profile:
    """One cluster: ``means`` of the raw features (money in minor units), the ``effects`` of the
    model's columns, its ``traits``, and its ``centroid`` in transformed units (for the next run)."""

    cluster: int
    members: int
    share: float
    means: dict[str, float]
    effects: dict[str, float]
    traits: tuple[Trait, ...]
    centroid: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "members": self.members,
            "share": self.share,
            "means": self.means,
            "effects": self.effects,
            "traits": [t.to_dict() for t in self.traits],
            "centroid": self.centroid,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        return cls(
            cluster=int(data["cluster"]),
            members=int(data["members"]),
            share=float(data["share"]),
            means={str(k): float(v) for k, v in (data.get("means") or {}).items() if v is not None},
            effects={str(k): float(v) for k, v in (data.get("effects") or {}).items()},
            traits=tuple(Trait.from_dict(t) for t in data.get("traits") or []),
            centroid={str(k): float(v) for k, v in (data.get("centroid") or {}).items()},
        )


def _means(table: pd.DataFrame) -> dict[str, float]:
    out = {}
    for column in table.columns:
        values = table[column].to_numpy(dtype=np.float64)
        values = values[~np.isnan(values)]
        if len(values):
            out[str(column)] = float(values.mean())
    return out


def overall_means(features: MemberFeatures) -> dict[str, float]:
    """Every member's mean of each raw feature (missing gaps left out)."""
    return _means(features.table)


def traits_of(effects: dict[str, float]) -> tuple[Trait, ...]:
    """The traits a cluster's effects give (see the module), strongest first."""
    slots: list[list[Trait]] = []  # one per thing said; the categories' slot holds up to two
    groups: set[str] = set()
    categories: list[Trait] | None = None
    for feature, effect in sorted(effects.items(), key=lambda kv: (-abs(kv[1]), kv[0])):
        if abs(effect) < TRAIT_EFFECT:
            break
        trait = Trait(feature, effect > 0, effect)
        if trait.category is not None:
            if not trait.high:
                continue
            if categories is not None:
                if len(categories) < MAX_CATEGORIES:
                    categories.append(trait)
                continue
            if len(slots) < MAX_TRAITS:
                categories = [trait]
                slots.append(categories)
            continue
        group = _SAME.get(feature, feature)
        if group in groups or len(slots) >= MAX_TRAITS:
            continue
        groups.add(group)
        slots.append([trait])
    return tuple(t for slot in slots for t in slot)


def profiles(
    features: MemberFeatures, transformed: pd.DataFrame, scaler: Scaler, labels: npt.NDArray[np.int64], k: int
) -> list[Profile]:
    """Cluster 1…k's profiles from the members' raw and transformed features and their numbers."""
    z = scaler.standardised(transformed)
    mean_z = z.mean(axis=0)
    sd_z = z.std(axis=0)
    n = len(labels)
    out = []
    for number in range(1, k + 1):
        rows = labels == number
        size = int(rows.sum())
        cz = z[rows].mean(axis=0) if size else np.zeros(len(scaler.columns))
        effects = {
            c: float((cz[i] - mean_z[i]) / sd_z[i]) if sd_z[i] > 0 else 0.0
            for i, c in enumerate(scaler.columns)
        }
        centroid = {
            c: float(scaler.center[i] + cz[i] * scaler.scale[i]) for i, c in enumerate(scaler.columns)
        }
        out.append(
            Profile(
                cluster=number,
                members=size,
                share=size / n if n else 0.0,
                means=_means(features.table[rows]),
                effects={c: round(v, 4) for c, v in effects.items()},
                traits=traits_of(effects),
                centroid=centroid,
            )
        )
    return out
