"""The churn model (loyalty.analytics.churn): labels, features without look-ahead, the next purchase date,
AUC and ROC, and a whole run, on small histories written out by hand or planted with a seed.

The hand-checked history (cutoff 2026-01-31, horizon 30 days: churn = no purchase from 02-01 to 03-02):

* A buys on 01-05, 01-20 and 02-10, and returns ¥20 of the 01-20 purchase on 02-03: stays;
* B buys once, on 01-10: churns;
* C buys on 01-31 (the cutoff day itself) and on 03-02 (the horizon's last day): stays;
* D buys on 01-15 and on 03-03 (one day after the horizon): churns;
* E first buys on 02-05, after the cutoff: not a member of the cutoff's population at all.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from loyalty.analytics.churn import (
    FEATURES,
    ChurnInputError,
    ChurnModel,
    History,
    TooLittleHistory,
    auc,
    churned,
    days_by_rhythm,
    days_to_next_purchase,
    first_purchase_after,
    member_features,
    roc_points,
    run_churn,
)
from loyalty.analytics.churn.model import rank_auc
from loyalty.analytics.churn.purchase import expected_purchases, fit_purchases, summary_of
from loyalty.analytics.churn.run import NO_HISTORY

CUTOFF = dt.date(2026, 1, 31)
D = dt.date


def _hand() -> History:
    visits = pd.DataFrame(
        [
            (1, D(2026, 1, 5), 10_000, 0),
            (1, D(2026, 1, 20), 5_000, 300),
            (1, D(2026, 1, 20), 1_000, 0),  # a second purchase the same day: one purchase day
            (1, D(2026, 2, 10), 7_000, 0),
            (2, D(2026, 1, 10), 3_000, 0),
            (3, D(2026, 1, 31), 2_000, 0),
            (3, D(2026, 3, 2), 2_000, 0),
            (4, D(2026, 1, 15), 4_000, 0),
            (4, D(2026, 3, 3), 4_000, 0),
            (5, D(2026, 2, 5), 9_000, 0),
        ],
        columns=["member_id", "day", "total_minor", "redeemed_points"],
    )
    returns = pd.DataFrame(
        [(1, D(2026, 1, 25), 500), (1, D(2026, 2, 3), 2_000)], columns=["member_id", "day", "refund_minor"]
    )
    lines = pd.DataFrame(
        [
            (1, "tea", D(2026, 1, 5)),
            (1, "cake", D(2026, 1, 20)),
            (1, "gifts", D(2026, 2, 10)),
            (2, "tea", D(2026, 1, 10)),
            (4, "tea", D(2026, 1, 15)),
        ],
        columns=["member_id", "category", "day"],
    )
    joined = pd.DataFrame(
        [(1, D(2025, 12, 1)), (2, D(2026, 1, 10)), (3, D(2026, 2, 1))], columns=["member_id", "day"]
    )
    return History(visits, returns, lines, joined)


def test_labels_say_who_churned_after_the_cutoff() -> None:
    h = _hand()
    f = h.features(CUTOFF)
    assert f.index.tolist() == [1, 2, 3, 4]  # E had not bought by the cutoff
    assert churned(h.visits, f.index, cutoff=CUTOFF, horizon_days=30).tolist() == [False, True, False, True]
    # a horizon one day shorter leaves C's purchase on 03-02 outside it
    assert churned(h.visits, f.index, cutoff=CUTOFF, horizon_days=29).tolist() == [False, True, True, True]
    ahead = first_purchase_after(h.visits, f.index, cutoff=CUTOFF, horizon_days=30)
    assert ahead.tolist()[0] == 10  # A: 02-10
    assert math.isnan(ahead.tolist()[1])
    assert ahead.tolist()[2] == 30  # C: 03-02


def test_features_are_what_was_known_on_the_cutoff_day() -> None:
    f = _hand().features(CUTOFF)
    assert list(f.columns) == list(FEATURES)
    a = f.loc[1]
    assert a["recency_days"] == 11  # 01-20
    assert a["visit_days"] == 2
    assert a["orders"] == 3
    assert a["spend_minor"] == 16_000 - 500  # the 02-03 refund is still to come
    assert a["ticket_minor"] == pytest.approx(15_500 / 3)
    assert a["customer_days"] == 26  # 01-05
    assert a["tenure_days"] == 61  # registered 2025-12-01
    assert a["gap_mean_days"] == 15
    assert math.isnan(a["gap_sd_days"])  # one gap
    assert a["gap_last_days"] == 15
    assert a["overdue_ratio"] == pytest.approx(11 / 15)
    assert a["visits_90"] == 2
    assert math.isnan(a["visit_trend"])  # a customer for less than 90 days: no "before"
    assert a["categories"] == 2  # gifts come later
    assert (a["returns"], a["returned_share"]) == (1, pytest.approx(500 / 16_000))
    assert a["redemptions"] == 1
    c = f.loc[3]
    assert (c["recency_days"], c["customer_days"], c["tenure_days"]) == (0, 0, 0)  # registered after
    assert math.isnan(c["gap_mean_days"])
    assert c["categories"] == 0
    b = f.loc[2]
    assert (b["recency_days"], b["spend_minor"], b["returns"]) == (21, 3_000, 0)
    later = _hand().features(D(2026, 2, 28)).loc[1]
    assert later["spend_minor"] == 23_000 - 2_500
    assert later["visit_days"] == 3
    assert later["gap_last_days"] == 21


def _noise(seed: int, after: dt.date, members: list[int]) -> History:
    """Random purchases, returns, categories and registrations, all after `after`."""
    rng = np.random.default_rng(seed)
    n = 200
    days = [after + dt.timedelta(days=int(x)) for x in rng.integers(1, 120, n)]
    who = rng.choice(members, n)
    return History(
        pd.DataFrame(
            {"member_id": who, "day": days, "total_minor": rng.integers(1, 90_000, n), "redeemed_points": 0}
        ),
        pd.DataFrame({"member_id": who[:50], "day": days[:50], "refund_minor": rng.integers(1, 5_000, 50)}),
        pd.DataFrame(
            {"member_id": who[:80], "category": [f"c{i}" for i in rng.integers(0, 9, 80)], "day": days[:80]}
        ),
        pd.DataFrame({"member_id": [9, 10], "day": [days[0], days[1]]}),
    )


def _plus(h: History, extra: History) -> History:
    def both(a: pd.DataFrame | None, b: pd.DataFrame | None) -> pd.DataFrame:
        return pd.concat([a, b], ignore_index=True)

    return History(
        both(h.visits, extra.visits),
        both(h.returns, extra.returns),
        both(h.lines, extra.lines),
        both(h.joined, extra.joined),
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_what_happens_after_the_cutoff_changes_no_feature(seed: int) -> None:
    h = _hand()
    before = h.features(CUTOFF)
    future = _plus(h, _noise(seed, CUTOFF, [1, 2, 3, 4, 5, 9, 10]))
    pd.testing.assert_frame_equal(future.features(CUTOFF), before)
    # dropping every purchase after the cutoff changes nothing either
    kept = h.visits[pd.to_datetime(h.visits["day"]) <= pd.Timestamp(CUTOFF)]
    pd.testing.assert_frame_equal(History(kept, h.returns, h.lines, h.joined).features(CUTOFF), before)
    # while the same noise a day earlier does (the check can fail)
    earlier = _plus(h, _noise(seed, CUTOFF - dt.timedelta(days=30), [1, 2, 3, 4]))
    assert not earlier.features(CUTOFF).equals(before)


def test_bad_tables_are_refused_by_name() -> None:
    with pytest.raises(ChurnInputError) as missing:
        member_features(pd.DataFrame({"member_id": [1], "day": [CUTOFF]}), cutoff=CUTOFF)
    assert missing.value.details["columns"] == "total_minor"
    assert missing.value.details["errors"][0]["field"] == "visits"
    with pytest.raises(ChurnInputError):
        member_features([1, 2], cutoff=CUTOFF)


def test_auc_and_roc_on_a_small_ranking() -> None:
    y = [True, True, False, False, True]
    score = [0.9, 0.4, 0.5, 0.1, 0.8]
    # pairs (churner, stayer): (0.9,0.5) (0.9,0.1) (0.4,0.5)✗ (0.4,0.1) (0.8,0.5) (0.8,0.1): 5 of 6
    assert auc(y, score) == pytest.approx(5 / 6)
    assert auc(y, [-s for s in score]) == pytest.approx(1 / 6)
    assert auc([True, True], [0.1, 0.2]) is None  # no stayer: no AUC
    ties = np.array([0.3, 0.3, 0.5, 0.1, 0.3])
    assert rank_auc(np.array(y), ties) == pytest.approx(auc(y, ties))  # the importances' quick AUC
    curve = roc_points(y, score)
    assert len(curve) == 21
    assert curve[-1] == 1.0
    assert curve == sorted(curve)
    # ranked 0.9, 0.8 (churners) then 0.5 (a stayer), 0.4 (a churner), 0.1: no stayer flagged finds two
    # churners of three; flagging down to 0.4 (half the stayers) finds all three; between, the line
    assert curve[0] == pytest.approx(0.6667)
    assert curve[5] == pytest.approx(0.8333)
    assert curve[10] == 1.0


def _planted(members: int = 400, days: int = 420, seed: int = 5) -> tuple[History, dt.date]:
    """Members buying at their own Poisson rate from their first day until a planted stop (a third of
    them stop at a random day; the rest keep buying to the end)."""
    rng = np.random.default_rng(seed)
    end = D(2026, 6, 30)
    start = end - dt.timedelta(days=days)
    rate = rng.gamma(2.0, 1 / 40.0, members)  # purchases per day: about one a fortnight
    first = rng.integers(0, days - 120, members)
    stop = np.where(rng.random(members) < 0.4, first + rng.integers(10, days, members), days + 1)
    rows = []
    for m in range(members):
        n = rng.poisson(rate[m] * (min(stop[m], days) - first[m]))
        for d in np.sort(rng.integers(first[m], min(stop[m], days) + 1, max(n, 1))):
            rows.append((m + 1, start + dt.timedelta(days=int(d)), int(rng.integers(1_000, 20_000))))
    visits = pd.DataFrame(rows, columns=["member_id", "day", "total_minor"])
    return History(visits), end


def test_a_run_validates_out_of_time_then_scores_everyone() -> None:
    history, end = _planted()
    run = run_churn(history, as_of=end, horizon_days=60)
    v = run.validation
    assert v is not None
    assert (v.train_cutoff, v.cutoff, run.train_cutoff) == (D(2026, 3, 2), D(2026, 5, 1), D(2026, 5, 1))
    assert 0 < v.churned < v.members
    assert v.aucs["model"] is not None
    assert v.aucs["model"] > 0.7
    assert v.aucs["p_alive"] is not None
    assert v.aucs["recency"] is not None
    assert [p["fpr"] for p in v.roc][:3] == [0.0, 0.05, 0.1]
    assert {i.feature for i in v.importances} == set(FEATURES)
    assert v.importances[0].importance >= v.importances[-1].importance
    assert v.next_purchase is not None
    assert v.next_purchase.members == v.members
    s = run.scores
    assert s.index.tolist() == sorted(history.visits["member_id"].unique().tolist())
    assert s["churn_probability"].between(0, 1).all()
    assert s["p_alive"].between(0, 1).all()
    dated = s["next_purchase_days"].dropna()
    assert dated.between(1, 365).all()
    # the value at risk is the churn probability of the yearly spend
    np.testing.assert_allclose(s["value_at_risk_minor"], s["churn_probability"] * s["yearly_spend_minor"])
    # who stopped long ago is more at risk than who bought last week
    gone = s["recency_days"] > 120
    recent = s["recency_days"] < 7
    assert s.loc[gone, "churn_probability"].mean() > s.loc[recent, "churn_probability"].mean() + 0.3


def test_a_run_is_the_same_run_after_run() -> None:
    history, end = _planted(members=120, seed=8)
    one = run_churn(history, as_of=end, horizon_days=60)
    shuffled = History(history.visits.sample(frac=1.0, random_state=3))
    two = run_churn(shuffled, as_of=end, horizon_days=60)
    pd.testing.assert_frame_equal(one.scores, two.scores)
    assert one.validation is not None
    assert two.validation is not None
    assert one.validation.aucs == two.validation.aucs
    assert one.validation.importances == two.validation.importances
    other_seed = run_churn(history, as_of=end, horizon_days=60, seed=1)
    assert other_seed.validation is not None
    assert other_seed.validation.aucs["p_alive"] == one.validation.aucs["p_alive"]  # no seed in BG/NBD


def test_too_little_history_is_said_or_refused() -> None:
    history, end = _planted(members=200, days=200, seed=4)
    short = run_churn(history, as_of=end, horizon_days=95)  # two horizons back: too few had bought
    assert short.validation is None
    assert short.problem == NO_HISTORY
    assert len(short.scores) > 0
    with pytest.raises(TooLittleHistory) as refused:
        run_churn(history, as_of=end, horizon_days=200)
    assert refused.value.details["members"] == 0
    assert refused.value.details["needed"] == 10
    with pytest.raises(ChurnInputError) as bad:
        run_churn(history, as_of=end, horizon_days=6)
    assert bad.value.details["errors"][0]["field"] == "horizon_days"


def test_a_horizon_after_which_nobody_churned_teaches_nothing() -> None:
    # thirty members buy every week to the end; ten buy on 04-10, skip May (churners at the 04-30
    # cutoff) and come back on 06-10: at the training cutoff, 05-31, nobody churns
    weekly = [
        (m, D(2026, 1, 1) + dt.timedelta(days=7 * k + m % 7), 1_000) for m in range(1, 31) for k in range(26)
    ]
    back = [(m, day, 1_000) for m in range(31, 41) for day in (D(2026, 4, 10), D(2026, 6, 10))]
    visits = pd.DataFrame(weekly + back, columns=["member_id", "day", "total_minor"])
    with pytest.raises(TooLittleHistory) as refused:
        run_churn(History(visits), as_of=D(2026, 6, 30), horizon_days=30)
    assert {k: refused.value.details[k] for k in ("members", "churned", "cutoff")} == {
        "members": 40,
        "churned": 0,
        "cutoff": "2026-05-31",
    }
    # a shorter horizon sees the ten leave in May (04-10 + 25 days): trained, and checked on April
    run = run_churn(History(visits), as_of=D(2026, 5, 31), horizon_days=25)
    assert run.train_churn_rate == pytest.approx(10 / 40)


def test_the_next_purchase_date_is_when_one_purchase_is_expected() -> None:
    history, end = _planted(members=300, seed=11)
    f = history.features(end)
    model = fit_purchases(f)
    days = days_to_next_purchase(model, f)
    x, tx, big_t = summary_of(f)
    # the vectorised expectation is the model's own (FHL 2005, eq. 10)
    np.testing.assert_allclose(
        expected_purchases(model, 30, x, tx, big_t), model.predict_purchases(30 / 7, x, tx, big_t)
    )
    dated = ~np.isnan(days)
    assert dated.any()
    assert (~dated).any()
    e_at = expected_purchases(model, days[dated], x[dated], tx[dated], big_t[dated])
    e_before = expected_purchases(model, days[dated] - 1, x[dated], tx[dated], big_t[dated])
    assert (e_at >= 1).all()
    assert (e_before < 1).all()
    assert (expected_purchases(model, 365, x[~dated], tx[~dated], big_t[~dated]) < 1).all()
    # two members seen today, first seen 100 days ago: the one with more purchase days buys sooner;
    # one silent for 300 days of those has most likely left, and gets no date
    made_up = pd.DataFrame(
        {
            "visit_days": [11.0, 3.0, 11.0],
            "customer_days": [100.0, 100.0, 400.0],
            "recency_days": [0.0, 0.0, 300.0],
        }
    )
    often, seldom, gone = days_to_next_purchase(model, made_up)
    assert 1 <= often < seldom
    assert math.isnan(gone)


def test_the_members_own_rhythm() -> None:
    f = _hand().features(CUTOFF)
    rhythm = days_by_rhythm(f)
    assert rhythm[0] == 4  # A: last on 01-20, every 15 days: 02-04
    assert math.isnan(rhythm[1])  # B: one purchase day
    later = _hand().features(D(2026, 3, 31))
    assert days_by_rhythm(later)[0] == 1  # A is overdue: any day now


def test_the_model_is_a_seeded_estimator() -> None:
    history, end = _planted(members=150, seed=2)
    cutoff = end - dt.timedelta(days=60)
    f = history.features(cutoff)
    y = churned(history.visits, f.index, cutoff=cutoff, horizon_days=60)
    a = ChurnModel(seed=3).fit(f, y)
    b = ChurnModel(seed=3).fit(f, y)
    np.testing.assert_array_equal(a.predict(f), b.predict(f))
    assert a.members_ == len(y)
    assert a.churn_rate_ == pytest.approx(y.mean())
    assert a.features_ == FEATURES
