"""Fitted models reproduce the published CDNOW results and agree with lifetimes to 4 significant digits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter

from loyalty.analytics import BetaGeo, ConvergenceError, GammaGamma, ParetoNBD, clv, summary
from loyalty.analytics.models import (
    _bgnbd_value_grad,
    _gg_value_grad,
    _GGStats,
    pareto_loglik_terms,
    sufficient,
)
from loyalty.analytics.pipeline import holdout_by_frequency


@pytest.fixture(scope="module")
def cal(cdnow: pd.DataFrame) -> pd.DataFrame:
    return summary(cdnow, calibration_end="1997-09-30", observation_end="1998-06-30", time_unit="week")


def _xtT(s: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    return s["frequency"], s["recency"], s["T"]


def _sig4(a: float, b: float) -> bool:
    return abs(a - b) <= 5e-4 * abs(b)


def test_bgnbd_reproduces_published(cal: pd.DataFrame) -> None:
    m = BetaGeo().fit(*_xtT(cal))
    p = m.params_
    assert (round(p["r"], 3), round(p["alpha"], 3), round(p["a"], 3), round(p["b"], 3)) == (
        0.243,
        4.414,
        0.793,
        2.426,
    )
    assert round(m.log_likelihood_, 1) == -9582.4
    assert all(0 < se < 1 for se in m.standard_errors_.values())


def test_pareto_reproduces_published(cal: pd.DataFrame) -> None:
    m = ParetoNBD().fit(*_xtT(cal))
    p = m.params_
    assert (round(p["r"], 3), round(p["alpha"], 3), round(p["s"], 3), round(p["beta"], 3)) == (
        0.553,
        10.578,
        0.606,
        11.669,
    )
    assert round(m.log_likelihood_, 1) == -9595.0


def test_gamma_gamma_reproduces_published(cal: pd.DataFrame) -> None:
    g = GammaGamma().fit(cal["frequency"], cal["monetary_value"])
    p = g.params_
    assert (round(p["p"], 2), round(p["q"], 2), round(p["v"], 2)) == (6.25, 3.74, 15.44)
    assert round(g.log_likelihood_, 2) == -4055.92


def test_agree_with_lifetimes_on_cdnow(cal: pd.DataFrame) -> None:
    x, tx, T = _xtT(cal)
    ours = BetaGeo().fit(x, tx, T)
    ref = BetaGeoFitter().fit(x, tx, T)
    for k in ours.param_names:
        assert _sig4(ours.params_[k], float(ref.params_[k])), k
    np.testing.assert_allclose(
        ours.predict_p_alive(x, tx, T), ref.conditional_probability_alive(x, tx, T), rtol=2e-3
    )
    np.testing.assert_allclose(
        ours.predict_purchases(39.0, x, tx, T),
        ref.conditional_expected_number_of_purchases_up_to_time(39.0, x, tx, T),
        rtol=2e-3,
    )
    rep = cal[cal["frequency"] > 0]
    g = GammaGamma().fit(rep["frequency"], rep["monetary_value"])
    gref = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
    for k in g.param_names:
        assert _sig4(g.params_[k], float(gref.params_[k])), k
    ours_clv = clv(ours, g, x, tx, T, cal["monetary_value"], months=12, discount_rate=0.01, time_unit="week")
    ref_clv = gref.customer_lifetime_value(
        ref, x, tx, T, cal["monetary_value"], time=12, discount_rate=0.01, freq="W"
    )
    np.testing.assert_allclose(ours_clv, ref_clv, rtol=5e-3)


@pytest.mark.slow
def test_pareto_agrees_with_lifetimes(cal: pd.DataFrame) -> None:
    """Our optimum is at least as good as lifetimes', and the parameters agree as far as they are identified.

    lifetimes runs Nelder-Mead (tol 1e-4) from a start drawn from the unseeded global NumPy RNG, so
    by default its answer depended on what ran before. From 800 seeded starts, 798 ended 5e-9 to
    5.5e-6 below our log-likelihood, r and α within 2.5e-4 of ours and s and β within 7.7e-4
    (relative); two stopped early (β = 11.43 and 50.4). Ours is deterministic and within 4e-6 of a
    Newton-polished optimum. s and β lie on a flat ridge (the log-likelihood's smallest Hessian
    eigenvalue in log-parameters is about 2.7), where 5e-6 of log-likelihood is ~2e-3 of β: so
    three significant digits for s and β, four for r and α. The reference starts from the centre of
    its own random draw, which makes the comparison reproducible.
    """
    x, tx, T = _xtT(cal)
    ours = ParetoNBD().fit(x, tx, T)
    ref = ParetoNBDFitter().fit(x, tx, T, initial_params=np.ones(4))
    ref_theta = np.array([float(ref.params_[k]) for k in ours.param_names])
    ref_ll = float(
        np.sum(pareto_loglik_terms(ref_theta, *(np.asarray(v, dtype=np.float64) for v in (x, tx, T))))
    )
    assert ours.log_likelihood_ >= ref_ll - 1e-12 * abs(ref_ll), (ours.log_likelihood_, ref_ll)
    for k, rel in (("r", 5e-4), ("alpha", 5e-4), ("s", 2e-3), ("beta", 2e-3)):
        b = float(ref.params_[k])
        assert abs(ours.params_[k] - b) <= rel * abs(b), (k, ours.params_[k], b)
    np.testing.assert_allclose(
        ours.predict_p_alive(x, tx, T), ref.conditional_probability_alive(x, tx, T), rtol=2e-3
    )


def test_bgnbd_agrees_with_lifetimes_on_online_retail(retail: pd.DataFrame) -> None:
    """On Online Retail the drop-out process sits at its boundary (a → 0: wholesalers rarely leave),
    so only r, α, the log-likelihood and the near-zero drop-out probability are identified and compared."""
    s = summary(retail, time_unit="week")
    x, tx, T = _xtT(s)
    ours = BetaGeo().fit(x, tx, T)
    ref = BetaGeoFitter().fit(x, tx, T)
    for k in ("r", "alpha"):
        assert _sig4(ours.params_[k], float(ref.params_[k])), (k, ours.params_[k], ref.params_[k])
    ref_ll = float(
        np.sum(BetaGeo().set_params(**{k: float(v) for k, v in ref.params_.items()}).loglik_terms(x, tx, T))
    )
    assert ours.log_likelihood_ >= ref_ll - 1e-6 * abs(ref_ll)
    for m in (ours.params_, {k: float(v) for k, v in ref.params_.items()}):
        assert m["a"] / (m["a"] + m["b"]) < 1e-3
    rep = s[(s["frequency"] > 0) & (s["monetary_value"] > 0)]
    g = GammaGamma().fit(rep["frequency"], rep["monetary_value"])
    gref = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
    for k in g.param_names:
        assert _sig4(g.params_[k], float(gref.params_[k])), (k, g.params_[k], gref.params_[k])


def test_analytic_gradients_match_finite_differences(cal: pd.DataFrame) -> None:
    s = sufficient(*_xtT(cal))
    for theta, f in (
        (np.array([0.3, 5.0, 0.8, 2.5]), lambda th: _bgnbd_value_grad(th, s.x, s.tx, s.T, s.n)),
    ):
        _, grad = f(theta)
        num = [(f(theta + e)[0] - f(theta - e)[0]) / (2 * 1e-6) for e in np.eye(4) * 1e-6]
        np.testing.assert_allclose(grad, num, rtol=1e-5)
    rep = cal[cal["frequency"] > 0]
    st = _GGStats.of(rep["frequency"].to_numpy(float), rep["monetary_value"].to_numpy(float))
    th = np.array([6.0, 4.0, 15.0])
    _, grad = _gg_value_grad(th, st)
    num = [(_gg_value_grad(th + e, st)[0] - _gg_value_grad(th - e, st)[0]) / 2e-6 for e in np.eye(3) * 1e-6]
    np.testing.assert_allclose(grad, num, rtol=1e-5)


def test_sufficient_statistics_give_the_same_fit(cal: pd.DataFrame) -> None:
    """Doubling every customer leaves the estimates unchanged and doubles the log-likelihood."""
    x, tx, T = _xtT(cal)
    one = BetaGeo().fit(x, tx, T)
    two = BetaGeo().fit(np.tile(x, 2), np.tile(tx, 2), np.tile(T, 2))
    for k in one.param_names:
        assert one.params_[k] == pytest.approx(two.params_[k], rel=1e-6)
    assert two.log_likelihood_ == pytest.approx(2 * one.log_likelihood_, rel=1e-9)
    assert sufficient(x, tx, T).x.size < len(cal) / 2


def test_holdout_weeks_40_to_78(cal: pd.DataFrame, capsys: pytest.CaptureFixture[str]) -> None:
    """Calibration/holdout check: predicted vs actual repeat purchases in weeks 40–78 per frequency bucket."""
    m = BetaGeo().fit(*_xtT(cal))
    table = holdout_by_frequency(cal, m)
    with capsys.disabled():
        print("\nCDNOW BG/NBD, weeks 40-78 holdout (mean repeat purchases per customer):")
        print(table.to_string(index=False))
    total_pred = m.predict_purchases(cal["duration_holdout"].iloc[0], *_xtT(cal)).sum()
    total_actual = cal["frequency_holdout"].sum()
    assert abs(total_pred - total_actual) / total_actual < 0.15
    assert table["predicted"].is_monotonic_increasing


def test_too_few_repeat_customers_raise() -> None:
    with pytest.raises(ConvergenceError, match="too few repeat customers"):
        BetaGeo().fit([0, 0, 1], [0, 0, 2.0], [5.0, 5.0, 5.0])
    with pytest.raises(ConvergenceError, match="too few repeat customers"):
        GammaGamma().fit([0, 1], [0, 3.0])
    with pytest.raises(ConvergenceError, match="not fitted"):
        BetaGeo().predict_p_alive([1], [1], [2])


def test_tracking_cumulative_repeat_purchases(
    cdnow: pd.DataFrame, cal: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cumulative repeat purchases, weeks 1–78: the fitted model tracks the holdout (weeks 40–78)."""
    from loyalty.analytics.pipeline import tracking

    m = BetaGeo().fit(*_xtT(cal))
    tr = tracking(cdnow, m, calibration_end="1997-09-30")
    assert len(tr) == 78
    assert tr["holdout"].sum() == 39
    with capsys.disabled():
        print("\nCDNOW cumulative repeat purchases (every 13th week):")
        print(tr.iloc[12::13].to_string(index=False))
    end = tr.iloc[-1]
    assert abs(end["predicted"] - end["actual"]) / end["actual"] < 0.05
    assert tr["predicted"].is_monotonic_increasing
    assert tr["actual"].is_monotonic_increasing


def _large_population(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A BG/NBD-like population in whole days, large enough to take the warm-start path."""
    rng = np.random.default_rng(seed)
    T = rng.integers(30, 400, n).astype(np.float64)
    rate = rng.gamma(0.8, 1 / 40, n)
    life = rng.exponential(1.0, n) / rng.gamma(0.9, 1 / 150, n)
    x = rng.poisson(rate * np.minimum(life, T)).astype(np.float64)
    tx = np.where(x > 0, np.floor(np.minimum(life, T) * rng.beta(x + 1, 1.0)), 0.0)
    m = rng.gamma(4.0, 12.0, n)
    return x, np.minimum(tx, T), T, m


def test_warm_started_fits_reach_the_cold_fits_optimum(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above 100,000 customers the fit starts from a sample's optimum; it must end where a cold fit does.

    "Where" means: a log-likelihood at least as good, and parameters within 2% of a standard error of
    the cold fit's (Pareto/NBD's s and β lie on a flat ridge, so digits there are not identified).
    """
    from loyalty.analytics import models

    x, tx, T, m = _large_population(160_000)
    rep = x > 0

    def fits() -> list[BetaGeo | ParetoNBD | GammaGamma]:
        return [
            BetaGeo().fit(x, tx, T),
            ParetoNBD().fit(x, tx, T),
            GammaGamma().fit(x[rep], m[rep]),
        ]

    warm = fits()
    monkeypatch.setattr(models, "WARM_START_ABOVE", 10**9)
    cold = fits()
    for w, c in zip(warm, cold, strict=True):
        assert w.log_likelihood_ >= c.log_likelihood_ - 1e-9 * abs(c.log_likelihood_)
        for k, se in c.standard_errors_.items():
            assert abs(w.params_[k] - c.params_[k]) <= 0.02 * se, (type(c).__name__, k, w.params_, c.params_)


def test_standard_errors_are_computed_on_demand(cal: pd.DataFrame) -> None:
    bg = BetaGeo().fit(cal["frequency"], cal["recency"], cal["T"])
    first = bg.standard_errors_
    assert set(first) == {"r", "alpha", "a", "b"}
    assert all(0 < v < 1 for v in first.values())
    assert bg.standard_errors_ is first  # computed once
    with pytest.raises(AttributeError):
        _ = BetaGeo().set_params(r=0.24, alpha=4.4, a=0.79, b=2.4).standard_errors_
