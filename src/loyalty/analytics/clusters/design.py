"""From raw features to the matrix k-means sees: log scales, medians for the missing, robust scaling.

* **Log scale** for counts, days and money (``log1p``): recency, visit days, ticket, gap and tenure;
  a member who spends ten times more is not ten times further away. Shares and the gaps' coefficient
  of variation stay as they are.
* **Shares drawn towards the chain's**: a member seen twice who bought tea once has a tea share of
  50% by chance rather than by taste. Each share (online, discount, each category) is taken as if the
  member had made :data:`PRIOR_PURCHASES` more purchases at the chain's own mix (its spend-weighted
  mean share): (share × purchases + prior × chain's share) / (purchases + prior). A member with
  thirty purchases keeps nearly their own share; one with a single purchase moves two thirds of the
  way to the chain's.
* **Missing** gaps (one visit day: no gap; two: no variation) take the column's median: they neither
  pull a member towards the regular nor towards the irregular.
* **Robust scaling**: minus the median, divided by the interquartile range (by the standard deviation
  where the IQR is 0); a column the same for everyone is left out. A share's scale is never below
  :data:`SHARE_FLOOR` (ten percentage points): a category few members buy has a tiny spread, and
  dividing by it would turn a few points of difference into several units that outvote the rest.
  Scaled values are clipped to ±:data:`CLIP`, so that a handful of extreme members do not take a
  cluster for themselves.
* **Weights**: the category shares together count as :data:`CATEGORY_WEIGHT` columns, however many
  categories there are, so that six shares do not outvote recency, frequency and spend.

The scaler's medians and scales are kept with a run (:meth:`Scaler.to_dict`), so that a later run
can place the earlier run's centroids in its own space (:mod:`.model`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from loyalty.analytics.clusters.features import CATEGORY_PREFIX, MemberFeatures

Floats = npt.NDArray[np.float64]

#: the model's columns, from the raw ones: (model column, raw column, log scale)
BEHAVIOUR: tuple[tuple[str, str, bool], ...] = (
    ("recency", "recency_days", True),
    ("frequency", "visit_days", True),
    ("monetary", "ticket_minor", True),
    ("online", "online_share", False),
    ("discount", "discount_share", False),
    ("gap", "gap_mean_days", True),
    ("rhythm", "gap_cv", False),
    ("tenure", "tenure_days", True),
)
#: purchases at the chain's mix added to each member's shares (see the module)
PRIOR_PURCHASES = 2.0
#: the least scale of a share column
SHARE_FLOOR = 0.10
#: scaled values are kept within ± this many IQRs of the median
CLIP = 5.0
#: the category shares together weigh as much as this many other columns
CATEGORY_WEIGHT = 2.0


def model_columns(features: MemberFeatures) -> list[tuple[str, str, bool]]:
    """(model column, raw column, log scale) for every column the model may use."""
    cats = [(c, c, False) for c in features.table.columns if c.startswith(CATEGORY_PREFIX)]
    return [*BEHAVIOUR, *cats]


_SHARES = ("online", "discount")


def is_share(column: str) -> bool:
    """A share of spend (online, discounted, a category's), in [0, 1]."""
    return column in _SHARES or column.startswith(CATEGORY_PREFIX)


def transformed(features: MemberFeatures) -> pd.DataFrame:
    """The raw features on the model's scales (log where the column is, shares drawn towards the
    chain's), missing values kept."""
    raw = features.table
    purchases = raw["orders"].to_numpy(dtype=np.float64)
    spend = raw["spend_minor"].to_numpy(dtype=np.float64)
    out = {}
    for name, column, log in model_columns(features):
        values = raw[column].to_numpy(dtype=np.float64)
        if log:
            values = np.log1p(np.clip(values, 0, None))
        elif is_share(name):
            chain = float(np.average(values, weights=spend)) if spend.sum() > 0 else float(values.mean())
            values = (values * purchases + PRIOR_PURCHASES * chain) / (purchases + PRIOR_PURCHASES)
        out[name] = values
    return pd.DataFrame(out, index=raw.index)


@dataclass(frozen=True)
class Scaler:
    """Robust scaling of the transformed columns: ``(x - center) / scale``, clipped, times ``weight``."""

    columns: tuple[str, ...]
    center: Floats
    scale: Floats
    weight: Floats
    #: the columns left out as the same for every member
    dropped: tuple[str, ...] = ()

    @classmethod
    def fit(cls, table: pd.DataFrame) -> Scaler:
        kept, centers, scales, dropped = [], [], [], []
        for name in table.columns:
            values = table[name].to_numpy(dtype=np.float64)
            values = values[~np.isnan(values)]
            if len(values) == 0:
                dropped.append(name)
                continue
            q25, median, q75 = np.percentile(values, [25, 50, 75])
            scale = q75 - q25
            if not scale > 1e-12:
                scale = float(np.std(values))
            if not scale > 1e-12:
                dropped.append(name)
                continue
            if is_share(name):
                scale = max(scale, SHARE_FLOOR)
            kept.append(name)
            centers.append(median)
            scales.append(scale)
        n_cat = sum(1 for c in kept if c.startswith(CATEGORY_PREFIX))
        weight = np.array(
            [np.sqrt(CATEGORY_WEIGHT / n_cat) if c.startswith(CATEGORY_PREFIX) else 1.0 for c in kept]
        )
        return cls(tuple(kept), np.array(centers), np.array(scales), weight, tuple(dropped))

    def standardised(self, table: pd.DataFrame) -> Floats:
        """The kept columns scaled and clipped, missing values at 0 (the median), without weights."""
        x = table[list(self.columns)].to_numpy(dtype=np.float64)
        z = (x - self.center) / self.scale
        z = np.where(np.isnan(z), 0.0, z)
        return np.clip(z, -CLIP, CLIP)

    def transform(self, table: pd.DataFrame) -> Floats:
        """The matrix k-means sees: standardised, then weighted."""
        return self.standardised(table) * self.weight

    def place(self, means: dict[str, float]) -> Floats:
        """A point given in transformed units (a stored centroid) in this scaler's space; a column it
        lacks sits at the median."""
        x = np.array([means.get(c, np.nan) for c in self.columns], dtype=np.float64)
        z = np.where(np.isnan(x), 0.0, (x - self.center) / self.scale)
        return np.clip(z, -CLIP, CLIP) * self.weight

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": list(self.columns),
            "center": [float(v) for v in self.center],
            "scale": [float(v) for v in self.scale],
            "weight": [float(v) for v in self.weight],
            "dropped": list(self.dropped),
        }
