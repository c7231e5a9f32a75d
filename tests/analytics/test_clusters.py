"""Member clusters (loyalty.analytics.clusters): features by hand, the silhouette, k choice, stability.

The features are checked on a shop small enough to work out on paper:

    member 1: 01-01 store ¥10, 01-11 online ¥30 and store ¥0, 01-31 store ¥20 → 3 visit days,
              4 purchases, gaps 10 and 20 (mean 15, sd 5, cv 1/3), registered 2025-12-01
    member 2: 01-05 delivery ¥5 and a purchase without a channel ¥5 (store) → 1 visit day
    member 3: 02-01 store ¥1, 03-01 store ¥50 (after as_of: left out); registered 03-01 (later)
    lines:    1: milk ¥40 (¥10 of it discounted), bread ¥20; 2: milk ¥10, all discounted;
              3: no category ¥1

as of 2026-02-10.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score, silhouette_score

from loyalty.analytics.clusters import (
    ClusterInputError,
    ClusterRun,
    MemberClusters,
    MemberFeatures,
    Profile,
    Scaler,
    TooFewMembers,
    Trait,
    cluster_members,
    describe,
    member_features,
    name,
    silhouettes,
    synthetic,
)
from loyalty.analytics.clusters.design import SHARE_FLOOR, transformed
from loyalty.analytics.clusters.profiles import traits_of

AS_OF = dt.date(2026, 2, 10)


def _d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


@pytest.fixture(scope="module")
def tiny() -> pd.DataFrame:
    visits = pd.DataFrame(
        {
            "member_id": [1, 1, 1, 1, 2, 2, 3, 3],
            "day": [_d(x) for x in ("2026-01-01", "2026-01-11", "2026-01-11", "2026-01-31")]
            + [_d("2026-01-05"), _d("2026-01-05"), _d("2026-02-01"), _d("2026-03-01")],
            "channel": ["store", "online", "store", "store", "delivery", None, "store", "store"],
            "net_minor": [1000, 3000, 0, 2000, 500, 500, 100, 5000],
        }
    )
    spend = pd.DataFrame(
        {
            "member_id": [1, 1, 2, 3],
            "category": ["milk", "bread", "milk", None],
            "net_minor": [4000.0, 2000.0, 1000.0, 100.0],
            "discounted_minor": [1000.0, 0.0, 1000.0, 0.0],
        }
    )
    joined = pd.DataFrame({"member_id": [1, 3], "day": [_d("2025-12-01"), _d("2026-03-01")]})
    return member_features(visits, spend, as_of=AS_OF, joined=joined).table


def test_features_worked_out_by_hand(tiny: pd.DataFrame) -> None:
    assert tiny.index.tolist() == [1, 2, 3]
    expected = {
        1: {
            "recency_days": 10,  # 01-31 → 02-10
            "visit_days": 3,
            "orders": 4,
            "spend_minor": 6000,
            "ticket_minor": 1500,
            "online_share": 0.5,
            "discount_share": 1000 / 6000,
            "gap_mean_days": 15,
            "gap_cv": 5 / 15,
            "tenure_days": 71,  # registered 2025-12-01, before the first purchase
            "cat:milk": 4000 / 6000,
            "cat:bread": 2000 / 6000,
        },
        2: {
            "recency_days": 36,
            "visit_days": 1,
            "orders": 2,
            "spend_minor": 1000,
            "ticket_minor": 500,
            "online_share": 0.5,  # delivery counts as online, no channel as the store
            "discount_share": 1.0,
            "tenure_days": 36,
            "cat:milk": 1.0,
            "cat:bread": 0.0,
        },
        3: {
            "recency_days": 9,  # the purchase after as_of is not seen
            "visit_days": 1,
            "orders": 1,
            "spend_minor": 100,
            "online_share": 0.0,
            "discount_share": 0.0,
            "tenure_days": 9,  # registered after the first purchase: tenure from the purchase
            "cat:milk": 0.0,
        },
    }
    for member, values in expected.items():
        for column, value in values.items():
            assert tiny.loc[member, column] == pytest.approx(value), (member, column)
    assert math.isnan(tiny.loc[2, "gap_mean_days"])  # one visit day: no gap
    assert math.isnan(tiny.loc[1, "gap_cv"]) is False
    assert tiny[["gap_cv"]].loc[[2, 3]].isna().all().all()


def test_top_categories_by_chain_spend_and_missing_columns_named() -> None:
    visits = pd.DataFrame({"member_id": [1], "day": [AS_OF], "channel": ["store"], "net_minor": [100]})
    spend = pd.DataFrame(
        {
            "member_id": [1, 1, 1],
            "category": ["b", "a", "c"],
            "net_minor": [10.0, 10.0, 80.0],
            "discounted_minor": [0.0] * 3,
        }
    )
    f = member_features(visits, spend, as_of=AS_OF, top_categories=2)
    assert f.categories == ("c", "a")  # biggest first, ties by name
    with pytest.raises(ClusterInputError) as bad:
        member_features(visits.drop(columns=["channel"]), spend, as_of=AS_OF)
    assert bad.value.details["columns"] == "channel"


def test_silhouettes_equal_scikit_learns() -> None:
    x, truth = make_blobs(n_samples=400, centers=4, n_features=5, random_state=3)
    rng = np.random.default_rng(0)
    lonely = truth.copy()
    lonely[0] = 4  # a cluster of one member scores 0 for it
    labelings = [truth.astype(np.int64), rng.integers(0, 3, 400), lonely.astype(np.int64)]
    ours = silhouettes(x, labelings)
    assert ours == pytest.approx([silhouette_score(x, labels) for labels in labelings], abs=1e-9)


@pytest.mark.parametrize("true_k", [3, 5])
def test_k_choice_finds_well_separated_blobs(true_k: int) -> None:
    x, truth = make_blobs(n_samples=900, centers=true_k, n_features=6, cluster_std=0.8, random_state=true_k)
    model = MemberClusters().fit(x)
    assert model.k_ == model.best_k_ == true_k
    assert max(model.scores_, key=lambda s: s.silhouette).k == true_k
    assert [s.k for s in model.scores_] == list(range(2, 9))
    assert adjusted_rand_score(truth, model.labels_) == pytest.approx(1.0)


@pytest.mark.parametrize("minibatch_above", [10**9, 0])
def test_past_the_sample_every_member_is_fitted_from_the_samples_centroids(minibatch_above: int) -> None:
    x, truth = make_blobs(n_samples=2000, centers=4, n_features=4, cluster_std=0.7, random_state=9)
    model = MemberClusters(select_sample=400, silhouette_sample=200, minibatch_above=minibatch_above).fit(x)
    assert model.k_ == 4
    assert len(model.labels_) == 2000
    assert adjusted_rand_score(truth, model.labels_) > 0.99


N = 1500


@pytest.fixture(scope="module")
def personas() -> synthetic.Synthetic:
    return synthetic.members(N, seed=5)


def _features(s: synthetic.Synthetic) -> MemberFeatures:
    return member_features(s.visits, s.spend, as_of=s.as_of, joined=s.joined)


@pytest.fixture(scope="module")
def first(personas: synthetic.Synthetic) -> ClusterRun:
    return cluster_members(_features(personas))


def test_the_planted_personas_are_found(personas: synthetic.Synthetic, first: ClusterRun) -> None:
    assert first.k == 4
    assert adjusted_rand_score(personas.persona, first.labels.to_numpy()) > 0.95
    # numbered by mean spend: the gift buyers first
    spend = [p.means["spend_minor"] for p in first.profiles]
    assert spend == sorted(spend, reverse=True)
    assert {t.feature for t in first.profiles[0].traits} >= {"cat:礼盒", "monetary"}
    assert sum(p.members for p in first.profiles) == first.members == N
    assert first.reason("en") == f"k=4 because its silhouette {first.scores[2].silhouette:.2f} is the highest"


def test_same_data_and_seed_give_the_same_clusters(personas: synthetic.Synthetic, first: ClusterRun) -> None:
    again = cluster_members(_features(personas))
    assert again.labels.equals(first.labels)
    assert again.scores == first.scores
    assert [p.to_dict() for p in again.profiles] == [p.to_dict() for p in first.profiles]


def _persona_of(run: ClusterRun, s: synthetic.Synthetic) -> dict[int, int]:
    """Each cluster's most common planted persona."""
    labels = run.labels.to_numpy()
    return {c: int(np.bincount(s.persona[labels == c]).argmax()) for c in range(1, run.k + 1)}


def test_a_rerun_on_slightly_changed_data_keeps_the_numbers(
    personas: synthetic.Synthetic, first: ClusterRun
) -> None:
    moved = synthetic.members(N, seed=6)  # the same personas, other members' draws
    kept = cluster_members(_features(moved), previous=first.profiles)
    assert kept.matched == frozenset({1, 2, 3, 4})
    assert _persona_of(kept, moved) == _persona_of(first, personas)
    # a previous run numbered the other way round carries its numbers over
    turned = [Profile.from_dict({**p.to_dict(), "cluster": 5 - p.cluster}) for p in first.profiles]
    again = cluster_members(_features(moved), previous=turned)
    assert (again.labels == 5 - kept.labels).all()


def test_k_can_be_forced_and_the_reason_says_so(personas: synthetic.Synthetic) -> None:
    run = cluster_members(_features(personas), k=6)
    assert (run.k, run.best_k, run.forced) == (6, 4, True)
    assert run.labels.nunique() == 6
    assert run.reason("en").startswith("k=6 as asked; its silhouette is ")
    assert "k=4" in run.reason("zh-CN")


def test_too_few_members_and_a_k_out_of_range_are_refused(tiny: pd.DataFrame) -> None:
    few = MemberFeatures(tiny.loc[[1, 2]], ("milk", "bread"), AS_OF)
    with pytest.raises(TooFewMembers) as short:
        cluster_members(few)
    assert short.value.code == "CLUSTER_TOO_FEW_MEMBERS"
    assert short.value.details == {"members": 2, "needed": 3}
    assert cluster_members(MemberFeatures(tiny, ("milk", "bread"), AS_OF)).k == 2  # three are enough
    x, _ = make_blobs(n_samples=50, centers=3, n_features=2, random_state=1)
    with pytest.raises(ClusterInputError) as bad:
        MemberClusters(k=9).fit(x)
    assert bad.value.details["errors"][0]["field"] == "k"


def test_scaling_drops_constants_floors_shares_and_puts_missing_at_the_median() -> None:
    table = pd.DataFrame(
        {
            "recency": [0.0, 1.0, 2.0, 3.0, 4.0],
            "discount": [0.0] * 5,  # no discounts anywhere: left out
            "cat:tea": [0.0, 0.0, 0.0, 0.0, 0.05],  # IQR 0, tiny spread: scaled by the floor
            "gap": [1.0, np.nan, 3.0, 5.0, 7.0],
        }
    )
    s = Scaler.fit(table)
    assert s.columns == ("recency", "cat:tea", "gap")
    assert s.dropped == ("discount",)
    assert s.scale[1] == SHARE_FLOOR
    z = s.standardised(table)
    assert z[1, 2] == 0.0  # the missing gap sits at the median
    assert z[4, 1] == pytest.approx(0.05 / SHARE_FLOOR)


def test_shares_of_a_few_purchases_are_drawn_towards_the_chains(tiny: pd.DataFrame) -> None:
    t = transformed(MemberFeatures(tiny, ("milk", "bread"), AS_OF))
    # the chain's online share, weighted by spend: (0.5·6000 + 0.5·1000 + 0·100) / 7100
    chain = 3500 / 7100
    assert t.loc[3, "online"] == pytest.approx((0 * 1 + 2 * chain) / 3)
    assert t.loc[1, "online"] == pytest.approx((0.5 * 4 + 2 * chain) / 6)
    assert t.loc[1, "frequency"] == pytest.approx(math.log1p(3))


def test_traits_take_the_strongest_features_once_each() -> None:
    effects = {
        "frequency": 1.4,
        "gap": -1.6,  # says what frequency says: only the stronger of the two
        "monetary": -0.9,
        "cat:生鲜": 1.0,
        "cat:乳制品": 0.7,  # joins 生鲜 in one trait
        "cat:礼盒": -2.0,  # a category below the usual is not a trait
        "online": 0.6,
        "tenure": 0.3,  # below the threshold
    }
    traits = traits_of(effects)
    assert [(t.feature, t.high) for t in traits] == [
        ("gap", False),
        ("cat:生鲜", True),
        ("cat:乳制品", True),
        ("monetary", False),
    ]
    assert describe(traits, "en") == "Short gaps between visits, favour 生鲜 and 乳制品, small baskets"
    assert describe(traits, "zh-CN") == "到店间隔短，偏好生鲜和乳制品，小额"


def test_descriptions_for_a_marketer_in_both_languages() -> None:
    traits = (Trait("frequency", True, 1.2), Trait("monetary", False, -0.8), Trait("online", True, 0.7))
    assert describe(traits, "zh-CN") == "高频，小额，多在线上"
    assert describe(traits, "en") == "Frequent visitors, small baskets, mostly online"
    assert name(traits, "en") == "Frequent visitors · small baskets"
    assert describe((), "en") == "Close to the average on every measure"
