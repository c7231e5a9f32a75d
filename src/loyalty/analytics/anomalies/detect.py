"""What a scan finds in a period's activity: each rule's and each statistical method's findings.

The input is the period's activity as frames (:class:`Activity`: members' purchases, redemptions and
the staff's manual adjustments, each with its time in the store's zone); the output one
:class:`Finding` per subject (a member, or a staff operator) and rule: the worst window that broke
the rule, the span of all that did, a score (1.0 on the rule's line, 2.0 twice past it) and the
figures its reason is written from (:mod:`.words`). Every step works on whole columns (group-bys,
sorted searches); only the findings themselves, a handful, are visited one by one.

Statistical detection scores each member's figures for the period (:data:`FEATURES`) on the log
scale. The robust z-score of a figure is taken among the members with a non-zero value of it: most
members return nothing and redeem nothing in a month, and beside a median of zero any return at all
would look extreme; among the members who do return, a member who returns ten times the usual is
what the score shows. The isolation forest (scikit-learn, seeded) looks at all the figures at once,
with their zeros.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

import numpy as np
import pandas as pd

from loyalty.analytics.anomalies.robust import centre
from loyalty.analytics.anomalies.rules import RuleSet, RuleSetting

#: the member figures the statistical methods score, in the order the reasons prefer them
FEATURES: tuple[str, ...] = (
    "points_earned",
    "max_day_points",
    "points_spent",
    "redemptions",
    "purchases",
    "spend_minor",
    "refund_ratio",
    "stores",
    "adjusted",
)
#: the figures the robust z-score looks at: not the stores visited, a small count most members share
#: (one store), whose MAD is 0 and whose fallback spread calls any third store extreme; the isolation
#: forest and the shared-card rule look at the stores
ROBUST_FEATURES: tuple[str, ...] = tuple(f for f in FEATURES if f != "stores")
HOUR_S = 3600
#: the isolation forest's trees: path lengths settle by about 100 (Liu, Ting and Zhou 2008)
TREES = 100


@dataclass(frozen=True)
class StoreLabel:
    code: str
    name: str
    city: str | None


@dataclass
class Activity:
    """A period's activity: business days `start`…`end` (both included), already cut to them.

    Frames (``local`` is the time in the store's zone, naive; ``at`` the instant in UTC):
    ``purchases``: member_id, store_id, at, local, channel, total_minor, refunded_minor, points;
    ``redemptions``: member_id, store_id, at, local, points;
    ``adjustments``: operator, member_id, at, local, points (signed: a removal is negative).
    """

    start: date
    end: date
    purchases: pd.DataFrame
    redemptions: pd.DataFrame
    adjustments: pd.DataFrame
    stores: dict[int, StoreLabel] = field(default_factory=dict)
    currency: str = "CNY"


@dataclass(frozen=True)
class Finding:
    """One subject's breach of one rule (or one method's verdict on it) in the period."""

    subject_kind: str
    member_id: int | None
    operator: str | None
    kind: str
    period_start: date
    period_end: date
    score: float
    reason_code: str
    params: dict[str, Any]

    @property
    def subject(self) -> str:
        return subject_key(self.subject_kind, self.member_id, self.operator)


def subject_key(kind: str, member_id: int | None, operator: str | None) -> str:
    """The one key of a flag's subject: "member:42", "staff:staff:7"."""
    return f"member:{member_id}" if kind == "member" else f"staff:{operator}"


@dataclass
class _Best:
    """The worst breach of one subject so far, and the span and number of all its breaches."""

    score: float
    reason_code: str
    params: dict[str, Any]
    start: date
    end: date
    count: int = 1

    def add(self, score: float, code: str, params: dict[str, Any], start: date, end: date) -> None:
        self.count += 1
        self.start, self.end = min(self.start, start), max(self.end, end)
        if score > self.score:
            self.score, self.reason_code, self.params = score, code, params


class _Collect:
    """Findings of one rule, kept per subject: the worst breach, the span and count of them all."""

    def __init__(self, kind: str, activity: Activity) -> None:
        self.kind = kind
        self.activity = activity
        self.best: dict[tuple[str, int | None, str | None], _Best] = {}

    def add(
        self,
        subject: tuple[str, int | None, str | None],
        score: float,
        code: str,
        params: dict[str, Any],
        start: date,
        end: date,
    ) -> None:
        start, end = max(start, self.activity.start), min(end, self.activity.end)
        found = self.best.get(subject)
        if found is None:
            self.best[subject] = _Best(score, code, params, start, end)
        else:
            found.add(score, code, params, start, end)

    def findings(self) -> list[Finding]:
        out = []
        for (kind, member_id, operator), b in self.best.items():
            params = {**b.params, "breaches": b.count}
            out.append(
                Finding(
                    kind,
                    member_id,
                    operator,
                    self.kind,
                    b.start,
                    b.end,
                    round(b.score, 4),
                    b.reason_code,
                    params,
                )
            )
        return out


def _member(member_id: Any) -> tuple[str, int | None, str | None]:
    return ("member", int(member_id), None)


def _day(value: Any) -> date:
    return pd.Timestamp(value).date()


def _hm(value: Any) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")


def _rows(table: pd.Series | pd.DataFrame) -> list[tuple[Any, ...]]:
    """A group-by's result as plain tuples: its keys, then its values (a handful of rows: the hits)."""
    flat = table.reset_index()
    return list(zip(*(flat[c].tolist() for c in flat.columns), strict=True))


def _window_start(days: pd.Series, window: str) -> pd.Series:
    out: pd.Series
    if window == "day":
        out = days
    elif window == "week":
        out = days - pd.to_timedelta(days.dt.day_of_week, unit="D")
    else:
        out = days.dt.to_period("M").dt.to_timestamp()
    return out


def _window_end(start: pd.Timestamp, window: str) -> date:
    if window == "day":
        return start.date()
    if window == "week":
        return (start + pd.Timedelta(days=6)).date()
    return (start + pd.offsets.MonthEnd(0)).date()


def points_windows(activity: Activity, setting: RuleSetting, frame: pd.DataFrame) -> list[Finding]:
    """`points_earned` or `points_spent`: a member's points in a day, week or month at the limit."""
    out = _Collect(setting.code, activity)
    if frame.empty:
        return []
    days = frame["local"].dt.normalize()
    for window in ("day", "week", "month"):
        limit = int(setting[window])
        if limit <= 0:
            continue
        starts = _window_start(days, window)
        sums = frame.groupby([frame["member_id"], starts])["points"].sum()
        positive = sums[sums > 0]
        median = float(positive.median()) if len(positive) else 0.0
        for member_id, start, value in _rows(sums[sums >= limit]):
            stamp = pd.Timestamp(start)
            params = {
                "window": window,
                "points": int(value),
                "limit": limit,
                "day": stamp.date().isoformat(),
                "median": round(median, 1),
                "times_median": round(float(value) / median, 1) if median > 0 else None,
            }
            code = f"{setting.code}_{window}"
            out.add(
                _member(member_id),
                float(value) / limit,
                code,
                params,
                stamp.date(),
                _window_end(stamp, window),
            )
    return out.findings()


def _seconds(at: pd.Series) -> np.ndarray:
    """Whole seconds since the epoch, whatever the frame's time unit (ns, µs)."""
    naive = pd.to_datetime(at, utc=True).dt.tz_convert(None).to_numpy()
    return naive.astype("datetime64[s]").astype(np.int64)


def velocity(activity: Activity, setting: RuleSetting) -> list[Finding]:
    """A member's purchases and redemptions within any 60 minutes at the limit."""
    cols = ["member_id", "at", "local"]
    events = pd.concat([activity.purchases[cols], activity.redemptions[cols]], ignore_index=True)
    if events.empty:
        return []
    events = events.sort_values(["member_id", "at"], kind="stable").reset_index(drop=True)
    seconds = _seconds(events["at"])
    relative = seconds - seconds.min()
    key = (events["member_id"].to_numpy().astype(np.int64) << 32) | relative.astype(np.int64)
    ends = np.searchsorted(key, key + HOUR_S, side="left")
    counts = ends - np.arange(len(key))
    events["count"] = counts
    events["last"] = ends - 1
    limit = int(setting["per_hour"])
    worst = events.loc[events.groupby("member_id")["count"].idxmax()]
    worst = worst[worst["count"] >= limit]
    out = _Collect(setting.code, activity)
    local = events["local"].tolist()
    for at, member_id, count, last_at in zip(
        worst.index.tolist(),
        worst["member_id"].tolist(),
        worst["count"].tolist(),
        worst["last"].tolist(),
        strict=True,
    ):
        first, last = local[int(at)], local[int(last_at)]
        params = {"count": int(count), "limit": limit, "first": _hm(first), "last": _hm(last)}
        out.add(_member(member_id), int(count) / limit, "velocity", params, _day(first), _day(last))
    return out.findings()


def shared_card(activity: Activity, setting: RuleSetting) -> list[Finding]:
    """In-store purchases on one card in two cities closer in time than `minutes`, at least
    `min_pairs` times in the period (one such pair may be a till's clock or a mistyped card), or in at
    least `stores_per_day` stores on one day."""
    p = activity.purchases
    p = p[p["channel"] == "store"]
    if p.empty:
        return []
    out = _Collect(setting.code, activity)
    cities = {sid: s.city for sid, s in activity.stores.items()}
    p = p.sort_values(["member_id", "at"], kind="stable").reset_index(drop=True)
    city = p["store_id"].map(cities)
    same = p["member_id"].to_numpy()[1:] == p["member_id"].to_numpy()[:-1]
    c_prev, c_next = city.to_numpy()[:-1], city.to_numpy()[1:]
    known = pd.notna(c_prev) & pd.notna(c_next)
    apart = np.zeros(len(same), dtype=bool)
    apart[known] = c_prev[known] != c_next[known]
    gap_min = np.diff(_seconds(p["at"])) / 60.0
    limit = int(setting["minutes"])
    least = int(setting["min_pairs"])
    hits = np.flatnonzero(same & apart & (gap_min < limit))
    members = p["member_id"].tolist()
    local = p["local"].tolist()
    pairs: dict[int, int] = {}
    for i in hits.tolist():
        pairs[int(members[i])] = pairs.get(int(members[i]), 0) + 1
    for i in hits.tolist():
        member_id = int(members[i])
        if pairs[member_id] < least:
            continue
        gap = float(gap_min[i])
        params = {
            "city_a": str(c_prev[i]),
            "city_b": str(c_next[i]),
            "at_a": _hm(local[i]),
            "at_b": _hm(local[i + 1]),
            "minutes": round(gap),
            "limit": limit,
            "pairs": pairs[member_id],
        }
        score = limit / max(gap, 1.0)
        out.add(_member(member_id), score, "shared_card_travel", params, _day(local[i]), _day(local[i + 1]))
    per_day = int(setting["stores_per_day"])
    days = p["local"].dt.normalize()
    stores = p.groupby([p["member_id"], days])["store_id"].nunique()
    for member_id, day, n in _rows(stores[stores >= per_day]):
        params = {"stores": int(n), "limit": per_day, "day": _day(day).isoformat()}
        out.add(_member(member_id), n / per_day, "shared_card_stores", params, _day(day), _day(day))
    return out.findings()


def return_ratio(activity: Activity, setting: RuleSetting) -> list[Finding]:
    """The share a member returned of what they bought in the period, over enough purchases."""
    p = activity.purchases
    if p.empty:
        return []
    g = p.groupby("member_id")
    table = pd.DataFrame(
        {
            "purchases": g.size(),
            "returned": (p["refunded_minor"] > 0).groupby(p["member_id"]).sum(),
            "total": g["total_minor"].sum(),
            "refunded": g["refunded_minor"].sum(),
            "first": g["local"].min(),
            "last": g["local"].max(),
        }
    )
    table = table[table["total"] > 0]
    ratio = table["refunded"] / table["total"]
    limit = float(setting["ratio"])
    least = int(setting["min_purchases"])
    hit = table.assign(ratio=ratio)[(ratio >= limit) & (table["purchases"] >= least)]
    out = _Collect(setting.code, activity)
    for member_id, purchases, returned, total, refunded, first, last, r in _rows(hit):
        params = {
            "ratio": round(float(r), 4),
            "limit": limit,
            "purchases": int(purchases),
            "returned": int(returned),
            "total_minor": int(total),
            "refunded_minor": int(refunded),
            "currency": activity.currency,
        }
        out.add(_member(member_id), float(r) / limit, "return_ratio", params, _day(first), _day(last))
    return out.findings()


def quiet_hours(hours: pd.Series, start: int, end: int) -> pd.Series:
    """Whether each hour lies in [start, end), across midnight when start > end (23 → 6)."""
    out: pd.Series
    if start == end:
        out = pd.Series(False, index=hours.index)
    elif start < end:
        out = (hours >= start) & (hours < end)
    else:
        out = (hours >= start) | (hours < end)
    return out


def after_hours(activity: Activity, setting: RuleSetting) -> list[Finding]:
    """Redemptions in the quiet hours of the store's own time zone, at least `min_count` of them."""
    r = activity.redemptions
    if r.empty:
        return []
    start, end = int(setting["start_hour"]), int(setting["end_hour"])
    night = r[quiet_hours(r["local"].dt.hour, start, end)].sort_values(["member_id", "at"], kind="stable")
    if night.empty:
        return []
    g = night.groupby("member_id")
    table = pd.DataFrame(
        {
            "count": g.size(),
            "points": g["points"].sum(),
            "first": g["local"].min(),
            "last": g["local"].max(),
            "store": g["store_id"].first(),
        }
    )
    least = int(setting["min_count"])
    out = _Collect(setting.code, activity)
    for member_id, count, points, first, last, store_id in _rows(table[table["count"] >= least]):
        store = activity.stores.get(int(store_id))
        params = {
            "count": int(count),
            "points": int(points),
            "start_hour": start,
            "end_hour": end,
            "first": _hm(first),
            "store": store.name if store else str(int(store_id)),
            "limit": least,
        }
        out.add(_member(member_id), int(count) / least, "after_hours", params, _day(first), _day(last))
    return out.findings()


def staff_adjustments(activity: Activity, setting: RuleSetting) -> list[Finding]:
    """One operator's manual adjustments: how many and how many points in a day, points in a month."""
    a = activity.adjustments
    if a.empty:
        return []
    a = a.assign(size=a["points"].abs(), day=a["local"].dt.normalize())
    out = _Collect(setting.code, activity)
    count_day, points_day = int(setting["count_day"]), int(setting["points_day"])
    daily = a.groupby(["operator", "day"]).agg(
        count=("size", "size"), points=("size", "sum"), members=("member_id", "nunique")
    )
    for operator, day, count, points, members in _rows(daily):
        checks: list[tuple[float, str, int]] = []
        if count_day > 0:
            checks.append((int(count) / count_day, "staff_adjustments_count", count_day))
        if points_day > 0:
            checks.append((int(points) / points_day, "staff_adjustments_points_day", points_day))
        for score, code, limit in checks:
            if score >= 1.0:
                params = {
                    "operator": str(operator),
                    "count": int(count),
                    "points": int(points),
                    "members": int(members),
                    "day": _day(day).isoformat(),
                    "limit": limit,
                }
                out.add(("staff", None, str(operator)), float(score), code, params, _day(day), _day(day))
    points_month = int(setting["points_month"])
    if points_month > 0:
        months = _window_start(a["day"], "month")
        monthly = a.groupby([a["operator"], months]).agg(
            count=("size", "size"), points=("size", "sum"), members=("member_id", "nunique")
        )
        for operator, month, count, points, members in _rows(monthly):
            score = int(points) / points_month
            if score >= 1.0:
                stamp = pd.Timestamp(month)
                params = {
                    "operator": str(operator),
                    "count": int(count),
                    "points": int(points),
                    "members": int(members),
                    "month": stamp.strftime("%Y-%m"),
                    "limit": points_month,
                }
                out.add(
                    ("staff", None, str(operator)),
                    float(score),
                    "staff_adjustments_points_month",
                    params,
                    stamp.date(),
                    _window_end(stamp, "month"),
                )
    return out.findings()


# --- statistics ------------------------------------------------------------------------------------


def member_features(activity: Activity) -> pd.DataFrame:
    """Each active member's figures for the period (:data:`FEATURES`), one row per member, with the
    first and last business day they were active."""
    p, r, a = activity.purchases, activity.redemptions, activity.adjustments
    ids = pd.Index(
        np.unique(
            np.concatenate([p["member_id"].to_numpy(), r["member_id"].to_numpy(), a["member_id"].to_numpy()])
        ),
        name="member_id",
    ).astype("int64")
    f = pd.DataFrame(index=ids)
    g = p.groupby("member_id")
    f["purchases"] = g.size()
    f["spend_minor"] = g["total_minor"].sum()
    f["points_earned"] = g["points"].sum()
    daily = p.groupby([p["member_id"], p["local"].dt.normalize()])["points"].sum()
    f["max_day_points"] = daily.groupby(level=0).max() if len(daily) else 0
    refunded = g["refunded_minor"].sum()
    total = g["total_minor"].sum()
    f["refund_ratio"] = (refunded / total.where(total > 0)).fillna(0.0)
    f["stores"] = g["store_id"].nunique()
    rg = r.groupby("member_id")
    f["points_spent"] = rg["points"].sum()
    f["redemptions"] = rg.size()
    f["adjusted"] = a[a["points"] > 0].groupby("member_id")["points"].sum()
    f = f.fillna(0.0).astype("float64")
    times = pd.concat([p[["member_id", "local"]], r[["member_id", "local"]], a[["member_id", "local"]]])
    span = times.groupby("member_id")["local"].agg(["min", "max"])
    f["first"] = span["min"].reindex(f.index)
    f["last"] = span["max"].reindex(f.index)
    return f[[*FEATURES, "first", "last"]]


@dataclass
class FeatureScores:
    """Each feature's robust z per member (NaN where not scored) and the raw medians shown in reasons."""

    z: pd.DataFrame
    medians: dict[str, float]
    scored: list[str]


def feature_scores(
    features: pd.DataFrame, min_members: int, names: tuple[str, ...] = ROBUST_FEATURES
) -> FeatureScores:
    """Robust z of each of `names` on the log scale among the members with a non-zero value, for every
    feature with at least `min_members` of them (see the module)."""
    z = pd.DataFrame(np.nan, index=features.index, columns=list(FEATURES))
    medians: dict[str, float] = {}
    scored = []
    for name in names:
        values = features[name]
        positive = values[values > 0]
        if len(positive) < min_members:
            continue
        logs = np.log1p(positive.to_numpy())
        c = centre(logs)
        z.loc[positive.index, name] = c.z(logs)
        medians[name] = float(positive.median())
        scored.append(name)
    return FeatureScores(z, medians, scored)


def _feature_params(
    features: pd.DataFrame, scores: FeatureScores, member_id: int, name: str
) -> dict[str, Any]:
    value = float(cast(float, features.at[member_id, name]))
    median = scores.medians[name]
    return {
        "feature": name,
        "value": round(value, 4),
        "median": round(median, 4),
        "times_median": round(value / median, 1) if median > 0 else None,
        "z": round(float(cast(float, scores.z.at[member_id, name])), 2),
    }


def robust_z(
    activity: Activity, setting: RuleSetting, features: pd.DataFrame
) -> tuple[list[Finding], str | None]:
    """Members with a figure at least `threshold` robust z above the chain's (see the module);
    (findings, why none were computed)."""
    least = int(setting["min_members"])
    if len(features) < least:
        return [], "too_few_members"
    scores = feature_scores(features, least)
    if not scores.scored:
        return [], "too_few_members"
    threshold = float(setting["threshold"])
    zs = scores.z[scores.scored]
    top = zs.max(axis=1)
    out = []
    for member_id in top.index[top >= threshold]:
        name = str(zs.loc[member_id].idxmax())
        params = {**_feature_params(features, scores, int(member_id), name), "threshold": threshold}
        out.append(
            Finding(
                "member",
                int(member_id),
                None,
                setting.code,
                max(_day(features.at[member_id, "first"]), activity.start),
                min(_day(features.at[member_id, "last"]), activity.end),
                round(float(top[member_id]) / threshold, 4),
                "robust_z",
                params,
            )
        )
    return out, None


def isolation_scores(features: pd.DataFrame, seed: int) -> np.ndarray:
    """Each member's isolation-forest anomaly score s ∈ (0, 1] (Liu, Ting and Zhou 2008: near 1 is
    isolated in few splits, below 0.5 ordinary), on the log of the figures; seeded, so reruns agree."""
    from sklearn.ensemble import IsolationForest

    x = np.log1p(features[list(FEATURES)].to_numpy(dtype=np.float64))
    forest = IsolationForest(n_estimators=TREES, max_samples=min(256, len(x)), random_state=seed)
    forest.fit(x)
    scores: np.ndarray = -forest.score_samples(x)
    return scores


def isolation_forest(
    activity: Activity, setting: RuleSetting, features: pd.DataFrame
) -> tuple[list[Finding], str | None]:
    """Members the isolation forest scores at least `min_score`, with the figures that set them apart."""
    least = int(setting["min_members"])
    if len(features) < least:
        return [], "too_few_members"
    scores = isolation_scores(features, int(setting["seed"]))
    line = float(setting["min_score"])
    zs = feature_scores(features, min(least, 10), FEATURES)
    out = []
    ids = features.index.to_numpy()
    for i in np.flatnonzero(scores >= line).tolist():
        member_id = int(ids[i])
        ranked: list[str] = []
        if zs.scored:
            zrow = pd.Series(zs.z.loc[member_id, zs.scored], dtype="float64").dropna()
            ranked = [str(n) for n in zrow[zrow > 0].sort_values(ascending=False).index.tolist()[:2]]
        params = {
            "score": round(float(scores[i]), 4),
            "min_score": line,
            "features": [_feature_params(features, zs, member_id, n) for n in ranked],
        }
        out.append(
            Finding(
                "member",
                member_id,
                None,
                setting.code,
                max(_day(features.at[member_id, "first"]), activity.start),
                min(_day(features.at[member_id, "last"]), activity.end),
                round(float(scores[i]) / line, 4),
                "isolation_forest",
                params,
            )
        )
    return out, None


@dataclass
class Detected:
    """A scan's findings, and why a method found nothing to work on (`{"robust_z": "too_few_members"}`)."""

    findings: list[Finding]
    skipped: dict[str, str]
    members: int


def detect(activity: Activity, rules: RuleSet, progress: Callable[[str], None] | None = None) -> Detected:
    """Run every enabled rule and method over `activity` (see the module)."""
    found: list[Finding] = []
    skipped: dict[str, str] = {}
    step = progress or (lambda _code: None)
    threshold_rules: Iterable[tuple[str, Callable[[], list[Finding]]]] = (
        ("points_earned", lambda: points_windows(activity, rules["points_earned"], activity.purchases)),
        ("points_spent", lambda: points_windows(activity, rules["points_spent"], activity.redemptions)),
        ("velocity", lambda: velocity(activity, rules["velocity"])),
        ("shared_card", lambda: shared_card(activity, rules["shared_card"])),
        ("return_ratio", lambda: return_ratio(activity, rules["return_ratio"])),
        ("after_hours", lambda: after_hours(activity, rules["after_hours"])),
        ("staff_adjustments", lambda: staff_adjustments(activity, rules["staff_adjustments"])),
    )
    for code, run in threshold_rules:
        if rules.on(code):
            step(code)
            found += run()
    features = member_features(activity)
    for code, method in (("robust_z", robust_z), ("isolation_forest", isolation_forest)):
        if not rules.on(code):
            continue
        step(code)
        more, why = method(activity, rules[code], features)
        found += more
        if why:
            skipped[code] = why
    return Detected(found, skipped, len(features))
