"""BG/NBD, Pareto/NBD and Gamma-Gamma models fitted on sufficient statistics.

Why this shape:

* Customers with the same (frequency, recency, T) contribute the same likelihood term, so we fit on the
  distinct triples weighted by their counts: cost grows with distinct histories, not customers.
* Parameters are optimised on the log scale (they must stay positive) with L-BFGS-B; BG/NBD and
  Gamma-Gamma use analytic gradients (digamma terms), Pareto/NBD a forward-difference gradient of its
  vectorised log-likelihood (the hypergeometric term's parameter derivatives have no cheap closed form).
* Every term is computed in log space (``gammaln``, ``logaddexp``, log of the Gauss hypergeometric
  function), so long or busy histories do not overflow.
* Standard errors come from the inverse of the observed information (numerical Hessian of the
  summed negative log-likelihood at the optimum, natural parameter scale). They are computed on first
  access to ``standard_errors_`` (a CLV run never needs them; they cost as much as the fit's last steps).
* On large inputs (over 100,000 customers) the optimiser first fits a seeded random sample of 50,000
  customers and starts the full fit from there: the full likelihood is then evaluated a handful of
  times instead of dozens, and the optimum reached is the full data's, to the same tolerances.

The log-likelihoods are those of the papers without terms constant in the parameters, which is how the
published figures (BG/NBD −9582.4 on CDNOW) and lifetimes report them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize
from scipy.special import betaln, digamma, gammaln, hyp2f1
from threadpoolctl import threadpool_limits

from loyalty.analytics.errors import ConvergenceError, InputError

_F = TypeVar("_F", bound=Callable[..., Any])


def one_blas_thread(fn: _F) -> _F:
    """Run `fn` with BLAS on one thread.

    The likelihoods reduce with vector dot products over the distinct histories (a few hundred
    thousand terms). Split across OpenBLAS threads they gain nothing, and on a busy machine the
    spinning helper threads turned a 0.25 s BG/NBD fit into 1.3–2 s.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


FloatArray = npt.NDArray[np.float64]
MIN_REPEAT_CUSTOMERS = 5


@dataclass(frozen=True)
class Sufficient:
    """Distinct (x, t_x, T) rows and how many customers share each."""

    x: FloatArray
    tx: FloatArray
    T: FloatArray
    n: FloatArray
    inverse: npt.NDArray[np.intp]

    @property
    def n_customers(self) -> int:
        return int(self.n.sum())


def sufficient(frequency: Any, recency: Any, T: Any) -> Sufficient:
    """Collapse per-customer arrays to distinct triples (``inverse`` maps customers back)."""
    x = np.asarray(frequency, dtype=np.float64)
    tx = np.asarray(recency, dtype=np.float64)
    tt = np.asarray(T, dtype=np.float64)
    if not (x.shape == tx.shape == tt.shape) or x.ndim != 1:
        raise InputError("frequency, recency and T must be 1-d arrays of the same length")
    if x.size == 0:
        raise InputError("no customers to fit")
    if not (np.isfinite(x).all() and np.isfinite(tx).all() and np.isfinite(tt).all()):
        raise InputError("frequency, recency and T must be finite")
    if (x < 0).any() or (tx < 0).any() or (tx > tt + 1e-9).any() or ((x == 0) & (tx != 0)).any():
        raise InputError("need 0 ≤ recency ≤ T, and recency = 0 when frequency = 0")
    packed = _factorise_sevenths(x, tx, tt)
    if packed is not None:
        (ux, utx, uT), codes = packed
        n_of = np.bincount(codes, minlength=ux.size).astype(np.float64)
        return Sufficient(ux, utx, uT, n_of, codes)
    stacked = np.stack([x, tx, tt], axis=1)
    uniq, inverse, counts = np.unique(stacked, axis=0, return_inverse=True, return_counts=True)
    return Sufficient(uniq[:, 0], uniq[:, 1], uniq[:, 2], counts.astype(np.float64), inverse.ravel())


def _factorise_sevenths(*cols: FloatArray) -> tuple[list[FloatArray], npt.NDArray[np.intp]] | None:
    """Distinct rows of non-negative columns in whole sevenths (day and week units), or None.

    Each row packs into one int64 key that is factorised by hashing (no sort, several times faster than
    a row-wise unique on a float matrix); each distinct key decodes back to its row.
    """
    scaled = [np.rint(c * 7.0) for c in cols]
    if not all(np.array_equal(sc, c * 7.0) for sc, c in zip(scaled, cols, strict=True)):
        return None
    if not scaled[0].size or min(sc.min() for sc in scaled) < 0:
        return None
    widths = [int(sc.max()) + 1 for sc in scaled]
    if float(np.prod(np.array(widths, dtype=np.float64))) >= 2**62:
        return None
    key = np.zeros(scaled[0].size, dtype=np.int64)
    for sc, width in zip(scaled, widths, strict=True):
        key = key * width + sc.astype(np.int64)
    codes, ukey = pd.factorize(key, sort=False)
    rest = np.asarray(ukey, dtype=np.int64)
    decoded: list[FloatArray] = []
    for width in reversed(widths):
        rest, digit = np.divmod(rest, width)
        decoded.append(digit / 7.0)
    return decoded[::-1], codes.astype(np.intp)


def _codes(values: FloatArray) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """Distinct values and the index of each element into them (special functions run on distinct values)."""
    inv, uniq = pd.factorize(values, sort=False)  # hash-based: no sort of the whole column
    return np.asarray(uniq, dtype=np.float64), inv.astype(np.intp)


def _hessian(fun: Callable[[FloatArray], float], theta: FloatArray) -> FloatArray:
    """Central-difference Hessian of a scalar function (only used once, for standard errors)."""
    k = theta.size
    h = 1e-4 * np.maximum(np.abs(theta), 1e-2)
    hess = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            ei, ej = np.zeros(k), np.zeros(k)
            ei[i], ej[j] = h[i], h[j]
            val = (
                fun(theta + ei + ej) - fun(theta + ei - ej) - fun(theta - ei + ej) + fun(theta - ei - ej)
            ) / (4 * h[i] * h[j])
            hess[i, j] = hess[j, i] = val
    return hess


def _hessian_from_grad(
    grad: Callable[[FloatArray], FloatArray], theta: FloatArray, h: FloatArray | None = None
) -> FloatArray:
    """Central differences of a gradient: 2k gradient calls instead of ~4k² function calls.

    Steps default to 1e-5 relative to each parameter.
    """
    k = theta.size
    if h is None:
        h = 1e-5 * np.maximum(np.abs(theta), 1e-2)
    cols = [
        (grad(theta + h[i] * np.eye(k)[i]) - grad(theta - h[i] * np.eye(k)[i])) / (2 * h[i]) for i in range(k)
    ]
    hess = np.array(cols)
    return (hess + hess.T) / 2  # type: ignore[no-any-return]


def _se_from_hessian(hess: FloatArray) -> FloatArray:
    try:
        return np.sqrt(np.clip(np.diag(np.linalg.inv(hess)), 0.0, None))  # type: ignore[no-any-return]
    except np.linalg.LinAlgError:
        return np.full(hess.shape[0], np.nan)


def _standard_errors(fun: Callable[[FloatArray], float], theta: FloatArray) -> FloatArray:
    try:
        cov = np.linalg.inv(_hessian(fun, theta))
        return np.sqrt(np.clip(np.diag(cov), 0.0, None))  # type: ignore[no-any-return]
    except np.linalg.LinAlgError:
        return np.full(theta.size, np.nan)


def _minimise(
    neg_ll_log: Callable[[FloatArray], tuple[float, FloatArray]],
    start: FloatArray,
    name: str,
) -> FloatArray:
    """Minimise a (value, gradient) function over log-parameters; raise ConvergenceError on failure."""
    res = optimize.minimize(
        neg_ll_log,
        np.log(start),
        jac=True,
        method="L-BFGS-B",
        bounds=[(-15.0, 15.0)] * start.size,
        options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-9},
    )
    if not np.all(np.isfinite(res.x)) or not np.isfinite(res.fun):
        raise ConvergenceError(f"{name}: the optimiser did not converge ({res.message})")
    if res.status not in (0,) and np.max(np.abs(res.jac)) > 1e-3:
        raise ConvergenceError(f"{name}: the optimiser did not converge ({res.message})")
    return np.exp(res.x)  # type: ignore[no-any-return]


def _check_repeaters(x: FloatArray, n: FloatArray, name: str) -> None:
    repeaters = int(n[x > 0].sum())
    if repeaters < MIN_REPEAT_CUSTOMERS:
        raise ConvergenceError(
            f"{name}: too few repeat customers to fit ({repeaters}; need at least {MIN_REPEAT_CUSTOMERS}) — "
            "use a longer calibration period or more data",
            {"repeat_customers": repeaters},
        )


WARM_START_ABOVE = 100_000
WARM_START_SAMPLE = 50_000


def _warm_sample(s: Sufficient, seed: int = 0) -> Sufficient | None:
    """A seeded random sample of customers, as triples with counts; None when the data is small."""
    if s.n_customers <= WARM_START_ABOVE:
        return None
    rng = np.random.default_rng(seed)
    counts = np.bincount(
        s.inverse[rng.integers(0, s.n_customers, WARM_START_SAMPLE)], minlength=s.x.size
    ).astype(np.float64)
    keep = counts > 0
    return Sufficient(s.x[keep], s.tx[keep], s.T[keep], counts[keep], np.empty(0, dtype=np.intp))


Objective = Callable[[FloatArray], tuple[float, FloatArray]]  # log-params -> (mean −LL, gradient)


def _log_hessian(fun: Objective, log_theta: FloatArray) -> FloatArray:
    """Central differences of the objective's gradient in log-parameter space (absolute 1e-5 steps)."""
    return _hessian_from_grad(lambda t: fun(t)[1], log_theta, np.full(log_theta.size, 1e-5))


def _fit_warm(
    objective: Callable[[Any], Objective],
    full: Any,
    sample: Any | None,
    start: FloatArray,
    name: str,
    step_tol: float = 1e-8,
) -> FloatArray:
    """Fit `full`; with a `sample`, fit that first and finish on `full` with quasi-Newton steps.

    The sample's optimum is within sampling error (about 1%) of the full one, and the Hessian of a
    mean log-likelihood changes little with the sample, so steps using the inverse of the sample's
    Hessian gain one to two digits per full-data evaluation. Each step backtracks until it improves
    (Armijo) and updates that inverse Hessian with the full data's gradients (BFGS), which repairs
    the directions the sample got wrong (Pareto/NBD's s and β are strongly correlated). A step that
    cannot improve hands over to L-BFGS-B from the best point, so the result is never worse than a
    cold fit.
    """
    fun = objective(full)
    if sample is None:
        return _minimise(fun, start, name)
    sample_fun = objective(sample)
    warm = np.log(_minimise(sample_fun, start, name))
    try:
        inv_hess = np.linalg.inv(_log_hessian(sample_fun, warm))
    except np.linalg.LinAlgError:
        return _minimise(fun, np.exp(warm), name)
    point = warm
    value, grad = fun(point)
    for _ in range(30):
        step = -inv_hess @ grad
        if np.max(np.abs(step)) < step_tol:
            return np.exp(point)
        slope = float(grad @ step)
        if slope >= 0:  # not a descent direction: the Hessian estimate is unusable here
            break
        scale = 1.0
        while scale >= 1 / 16:
            trial = np.clip(point + scale * step, -15.0, 15.0)
            t_value, t_grad = fun(trial)
            finite = np.isfinite(t_value) and np.all(np.isfinite(t_grad))
            if finite and t_value <= value + 1e-4 * scale * slope:
                break
            scale /= 2
        else:
            if np.max(np.abs(step)) < 1e-4:
                return np.exp(point)  # at the optimum to within the gradient's own precision
            break
        moved, change = trial - point, t_grad - grad
        curvature = float(moved @ change)
        if curvature > 1e-12:
            rho = 1.0 / curvature
            left = np.eye(point.size) - rho * np.outer(moved, change)
            inv_hess = left @ inv_hess @ left.T + rho * np.outer(moved, moved)
        point, value, grad = trial, t_value, t_grad
    return _minimise(fun, np.exp(point), name)


class _Base:
    """Shared sklearn-style plumbing: ``fit`` returns self, learned values end in ``_``."""

    param_names: tuple[str, ...] = ()
    params_: dict[str, float]
    log_likelihood_: float
    n_customers_: int
    _se: dict[str, float] | None = None
    _se_from: Callable[[], FloatArray] | None = None

    def _defer_standard_errors(self, compute: Callable[[], FloatArray]) -> None:
        self._se, self._se_from = None, compute

    @property
    def standard_errors_(self) -> dict[str, float]:
        """Parameter standard errors (computed once, on first access)."""
        if self._se is None:
            if self._se_from is None:
                raise AttributeError("standard errors exist only for a fitted model")
            self._se = dict(zip(self.param_names, map(float, one_blas_thread(self._se_from)()), strict=True))
        return self._se

    def _check_fitted(self) -> FloatArray:
        if not hasattr(self, "params_"):
            raise ConvergenceError(f"{type(self).__name__} is not fitted yet: call fit() first")
        return np.array([self.params_[k] for k in self.param_names])

    def set_params(self, **params: float) -> _Base:
        """Use known parameters (e.g. from PARAMS.json) instead of fitting."""
        self.params_ = {k: float(params[k]) for k in self.param_names}
        return self

    def summary(self) -> dict[str, Any]:
        """Parameters, standard errors and log-likelihood as a plain dict (JSON-ready)."""
        return {
            "params": dict(self.params_),
            "standard_errors": dict(getattr(self, "standard_errors_", {})),
            "log_likelihood": getattr(self, "log_likelihood_", float("nan")),
            "n_customers": getattr(self, "n_customers_", 0),
        }


# --------------------------------------------------------------------------------------------- BG/NBD
def bgnbd_loglik_terms(theta: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray) -> FloatArray:
    """Per-row BG/NBD log-likelihood (Fader, Hardie & Lee 2005, eq. 6)."""
    r, alpha, a, b = theta
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore"):
        a4 = np.where(
            x > 0, np.log(a) - np.log(b + np.maximum(x, 1.0) - 1.0) - (r + x) * np.log(alpha + tx), -np.inf
        )
    return a1 + a2 + np.logaddexp(a3, a4)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class _Coded:
    """Sufficient statistics with each column factorised, so special functions run on distinct values."""

    ux: FloatArray
    ix: npt.NDArray[np.intp]
    uT: FloatArray
    iT: npt.NDArray[np.intp]
    utx: FloatArray
    itx: npt.NDArray[np.intp]
    x: FloatArray
    n: FloatArray
    pos: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, x: FloatArray, tx: FloatArray, T: FloatArray, n: FloatArray) -> _Coded:
        ux, ix = _codes(x)
        uT, iT = _codes(T)
        utx, itx = _codes(tx)
        return cls(ux, ix, uT, iT, utx, itx, x, n, x > 0)


def _bgnbd_value_grad(
    theta: FloatArray,
    x: FloatArray,
    tx: FloatArray,
    T: FloatArray,
    n: FloatArray,
    coded: _Coded | None = None,
) -> tuple[float, FloatArray]:
    r, alpha, a, b = theta
    c = coded or _Coded.of(x, tx, T, n)
    ux, ix = c.ux, c.ix
    # terms that depend on x only: evaluated once per distinct frequency
    head_u = gammaln(r + ux) - gammaln(r) + r * np.log(alpha) + betaln(a, b + ux) - betaln(a, b)
    dr_u = digamma(r + ux) - digamma(r) + np.log(alpha)
    da_u = digamma(a + b) - digamma(a + b + ux)
    db_u = digamma(a + b) + digamma(b + ux) - digamma(b) - digamma(a + b + ux)
    lb_u = np.log(b + np.maximum(ux, 1.0) - 1.0)
    log_aT = np.log(alpha + c.uT)[c.iT]
    log_atx = np.log(alpha + c.utx)[c.itx]
    rx = r + c.x
    a3 = -rx * log_aT
    a4 = np.where(c.pos, np.log(a) - lb_u[ix] - rx * log_atx, -np.inf)
    lse = np.logaddexp(a3, a4)
    w = np.exp(a4 - lse)  # weight of the "dropped out at the last purchase" branch (0 when x = 0)
    nw = n * w
    n1w = n - nw
    # aggregate the per-x parts through counts per distinct x
    nx = np.bincount(ix, weights=n, minlength=ux.size)
    value = float(nx @ head_u + n @ lse)
    d_r = nx @ dr_u - n1w @ log_aT - nw @ log_atx
    d_alpha = (
        r / alpha * n.sum()
        - (n1w * rx) @ (1.0 / (alpha + c.uT))[c.iT]
        - (nw * rx) @ (1.0 / (alpha + c.utx))[c.itx]
    )
    d_a = nx @ da_u + nw.sum() / a
    d_b = nx @ db_u - nw @ np.exp(-lb_u)[ix]
    return value, np.array([d_r, d_alpha, d_a, d_b])


def _bgnbd_objective(s: Sufficient, coded: _Coded) -> Objective:
    def fun(log_theta: FloatArray) -> tuple[float, FloatArray]:
        theta = np.exp(log_theta)
        val, grad = _bgnbd_value_grad(theta, s.x, s.tx, s.T, s.n, coded)
        return -val / s.n_customers, -grad * theta / s.n_customers

    return fun


def _with_coded(s: Sufficient | None) -> tuple[Sufficient, _Coded] | None:
    return None if s is None else (s, _Coded.of(s.x, s.tx, s.T, s.n))


class BetaGeo(_Base):
    """BG/NBD purchase model: Poisson purchases while alive, geometric drop-out after each purchase."""

    param_names = ("r", "alpha", "a", "b")

    @one_blas_thread
    def fit(self, frequency: Any, recency: Any, T: Any) -> BetaGeo:
        """Maximum-likelihood fit; raises ConvergenceError with too few repeat customers."""
        s = sufficient(frequency, recency, T)
        _check_repeaters(s.x, s.n, "BG/NBD")
        scale = float(np.average(s.T, weights=s.n)) or 1.0
        coded = _Coded.of(s.x, s.tx, s.T, s.n)
        theta = _fit_warm(
            lambda d: _bgnbd_objective(*d),
            (s, coded),
            _with_coded(_warm_sample(s)),
            np.array([1.0, scale / 10, 1.0, 1.0]),
            "BG/NBD",
        )
        self.params_ = dict(zip(self.param_names, map(float, theta), strict=True))
        self.log_likelihood_ = _bgnbd_value_grad(theta, s.x, s.tx, s.T, s.n, coded)[0]
        self.n_customers_ = s.n_customers
        self._defer_standard_errors(
            lambda: _se_from_hessian(
                -_hessian_from_grad(lambda th: _bgnbd_value_grad(th, s.x, s.tx, s.T, s.n, coded)[1], theta)
            )
        )
        return self

    def loglik_terms(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """Per-customer log-likelihood at the current parameters."""
        x, tx, tt = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
        return bgnbd_loglik_terms(self._check_fitted(), x, tx, tt)

    def _log_odds_dead(self, x: FloatArray, tx: FloatArray, T: FloatArray) -> FloatArray:
        r, alpha, a, b = self._check_fitted()
        with np.errstate(divide="ignore"):
            return np.where(
                x > 0,
                np.log(a)
                - np.log(b + np.maximum(x, 1.0) - 1.0)
                + (r + x) * (np.log(alpha + T) - np.log(alpha + tx)),
                -np.inf,
            )

    def predict_p_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """P(alive | x, t_x, T) = 1 / (1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))."""
        x, tx, tt = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
        return 1.0 / (1.0 + np.exp(self._log_odds_dead(x, tx, tt)))

    def predict_purchases(self, t: float, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """Expected repeat purchases in the next ``t`` time units (FHL 2005, eq. 10)."""
        x, tx, tt = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
        return self.predict_purchases_if_alive(t, x, tt) * self.predict_p_alive(x, tx, tt)

    def predict_purchases_if_alive(self, t: float, frequency: Any, T: Any) -> FloatArray:
        """Expected repeat purchases in the next ``t`` for a customer known to be alive (needs x, T only)."""
        r, alpha, a, b = self._check_fitted()
        x, tt = (np.asarray(v, dtype=np.float64) for v in (frequency, T))
        if t <= 0:
            return np.zeros_like(x)
        z = t / (alpha + tt + t)
        log_ratio = (r + x) * (np.log(alpha + tt) - np.log(alpha + tt + t))
        hyp = hyp2f1(r + x, b + x, a + b + x - 1.0, z)
        return (a + b + x - 1.0) / (a - 1.0) * (1.0 - np.exp(log_ratio) * hyp)  # type: ignore[no-any-return]

    def predict_purchases_new(self, t: Any) -> FloatArray:
        """Expected purchases by a new customer in (0, t] (FHL 2005, eq. 9), for holdout tracking."""
        r, alpha, a, b = self._check_fitted()
        tt = np.asarray(t, dtype=np.float64)
        hyp = hyp2f1(r, b, a + b - 1.0, tt / (alpha + tt))
        return (a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + tt)) ** r * hyp)  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------------------ Pareto/NBD
def _log_a0(theta: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray) -> FloatArray:
    """log of A₀ (Fader, Hardie & Lee 2005b, "A note on deriving the Pareto/NBD model"), in log space."""
    r, alpha, s, beta = theta
    rsx = r + s + x
    if alpha >= beta:
        big, small, second = alpha, beta, s + 1.0
    else:
        big, small, second = beta, alpha, r + x
    diff = big - small

    def log_f(y: FloatArray) -> FloatArray:
        return np.log(hyp2f1(rsx, second, rsx + 1.0, diff / (big + y))) - rsx * np.log(big + y)  # type: ignore[no-any-return]

    lf_tx, lf_t = log_f(tx), log_f(T)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = lf_tx + np.log(-np.expm1(np.minimum(lf_t - lf_tx, 0.0)))
    return np.where(tx < T, out, -np.inf)


def pareto_loglik_terms(theta: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray) -> FloatArray:
    """Per-row Pareto/NBD log-likelihood."""
    r, alpha, s, beta = theta
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    dead = np.log(s) - np.log(r + s + x) + _log_a0(theta, x, tx, T)
    return head + np.logaddexp(alive, dead)  # type: ignore[no-any-return]


def _pairs(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray, npt.NDArray[np.intp]]:
    """Distinct (x, y) pairs and each row's index into them."""
    packed = _factorise_sevenths(x, y)
    if packed is not None:
        (ux, uy), codes = packed
        return ux, uy, codes
    uniq, inv = np.unique(np.stack([x, y], axis=1), axis=0, return_inverse=True)
    return uniq[:, 0], uniq[:, 1], inv.ravel()


@dataclass(frozen=True)
class _ParetoCoded:
    """Triples factorised into distinct x, (x, t_x) and (x, T): the hypergeometric terms run on pairs."""

    x: FloatArray
    T: FloatArray
    n: FloatArray
    ux: FloatArray
    ix: npt.NDArray[np.intp]
    ptx: tuple[FloatArray, FloatArray, npt.NDArray[np.intp]]
    pT: tuple[FloatArray, FloatArray, npt.NDArray[np.intp]]
    same: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, s: Sufficient) -> _ParetoCoded:
        ux, ix = _codes(s.x)
        return cls(s.x, s.T, s.n, ux, ix, _pairs(s.x, s.tx), _pairs(s.x, s.T), s.tx >= s.T)


def _pareto_ll_sum(theta: FloatArray, c: _ParetoCoded) -> float:
    """Summed Pareto/NBD log-likelihood, with A₀'s two hypergeometric terms evaluated per distinct pair."""
    r, alpha, s, beta = theta
    if alpha >= beta:
        big, diff, second_is_x = alpha, alpha - beta, False
    else:
        big, diff, second_is_x = beta, beta - alpha, True

    def log_f(pair: tuple[FloatArray, FloatArray, npt.NDArray[np.intp]]) -> FloatArray:
        px, py, inv = pair
        rsx = r + s + px
        second = r + px if second_is_x else np.full_like(px, s + 1.0)
        val = np.log(hyp2f1(rsx, second, rsx + 1.0, diff / (big + py))) - rsx * np.log(big + py)
        return val[inv]  # type: ignore[no-any-return]

    lf_tx, lf_t = log_f(c.ptx), log_f(c.pT)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_a0 = np.where(c.same, -np.inf, lf_tx + np.log(-np.expm1(np.minimum(lf_t - lf_tx, 0.0))))
    head_u = gammaln(r + c.ux) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + c.x) * np.log(alpha + c.T) - s * np.log(beta + c.T)
    dead = np.log(s) - np.log(r + s + c.x) + log_a0
    nx = np.bincount(c.ix, weights=c.n, minlength=c.ux.size)
    return float(nx @ head_u + c.n @ np.logaddexp(alive, dead))


def _pareto_objective(coded: _ParetoCoded) -> Objective:
    total = float(coded.n.sum())

    def value(log_theta: FloatArray) -> float:
        return -_pareto_ll_sum(np.exp(log_theta), coded) / total

    def fun(log_theta: FloatArray) -> tuple[float, FloatArray]:
        f0 = value(log_theta)
        grad = np.empty(4)
        # forward differences (5 evaluations per step instead of 9); the mean log-likelihood is
        # smooth and O(1), so a 1e-7 step leaves ~1e-7 relative error, far below 4 digits
        for i in range(4):
            e = np.zeros(4)
            e[i] = 1e-7
            grad[i] = (value(log_theta + e) - f0) / 1e-7
        return f0, grad

    return fun


class ParetoNBD(_Base):
    """Pareto/NBD purchase model: Poisson purchases, exponential lifetime (gamma-mixed rates)."""

    param_names = ("r", "alpha", "s", "beta")

    @one_blas_thread
    def fit(self, frequency: Any, recency: Any, T: Any) -> ParetoNBD:
        """Maximum-likelihood fit on distinct (x, t_x, T) triples."""
        s = sufficient(frequency, recency, T)
        _check_repeaters(s.x, s.n, "Pareto/NBD")
        scale = float(np.average(s.T, weights=s.n)) or 1.0
        coded = _ParetoCoded.of(s)
        sample = _warm_sample(s)
        theta = _fit_warm(
            lambda c: _pareto_objective(c),
            coded,
            None if sample is None else _ParetoCoded.of(sample),
            np.array([1.0, scale / 10, 1.0, scale / 10]),
            "Pareto/NBD",
            step_tol=2e-5,  # forward differences leave steps of ~5e-6 as noise: 5 significant digits
        )
        self.params_ = dict(zip(self.param_names, map(float, theta), strict=True))
        self.log_likelihood_ = _pareto_ll_sum(theta, coded)
        self.n_customers_ = s.n_customers
        self._defer_standard_errors(lambda: _standard_errors(lambda th: -_pareto_ll_sum(th, coded), theta))
        return self

    def predict_p_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """P(alive | x, t_x, T): the "still alive" share of the likelihood."""
        theta = self._check_fitted()
        r, alpha, s, beta = theta
        x, tx, tt = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
        alive = -(r + x) * np.log(alpha + tt) - s * np.log(beta + tt)
        dead = np.log(s) - np.log(r + s + x) + _log_a0(theta, x, tx, tt)
        return np.exp(alive - np.logaddexp(alive, dead))  # type: ignore[no-any-return]

    def predict_purchases(self, t: float, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """Expected purchases in the next ``t`` time units (Schmittlein et al. 1987)."""
        x, tx, tt = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
        return self.predict_purchases_if_alive(t, x, tt) * self.predict_p_alive(x, tx, tt)

    def predict_purchases_if_alive(self, t: float, frequency: Any, T: Any) -> FloatArray:
        """Expected purchases in the next ``t`` for a customer known to be alive (needs x, T only)."""
        r, alpha, s, beta = self._check_fitted()
        x, tt = (np.asarray(v, dtype=np.float64) for v in (frequency, T))
        if t <= 0:
            return np.zeros_like(x)
        first = (r + x) * (beta + tt) / ((alpha + tt) * (s - 1.0))
        second = 1.0 - np.exp((s - 1.0) * (np.log(beta + tt) - np.log(beta + tt + t)))
        return first * second  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------------------- Gamma-Gamma
@dataclass(frozen=True)
class _GGStats:
    """Gamma-Gamma sufficient statistics: per distinct x counts, and sums that do not depend on parameters."""

    ux: FloatArray
    nx: FloatArray
    x: FloatArray
    m: FloatArray
    sum_x_log_xm: float  # Σ x·(log m + log x)
    sum_log_m: float  # Σ log m

    @classmethod
    def of(cls, x: FloatArray, m: FloatArray) -> _GGStats:
        ux, ix = _codes(x)
        nx = np.bincount(ix, minlength=ux.size).astype(np.float64)
        return cls(ux, nx, x, m, float(x @ (np.log(m) + np.log(x))), float(np.log(m).sum()))


def _gg_value_grad(theta: FloatArray, g: _GGStats) -> tuple[float, FloatArray]:
    """Σ [lnΓ(px+q) − lnΓ(px) − lnΓ(q) + q ln v + (px−1) ln m + px ln x − (px+q) ln(v+mx)], gradient.

    Only ln(v + m·x) needs a pass over customers; everything else is per distinct x or precomputed.
    """
    p, q, v = theta
    ux, nx = g.ux, g.nx
    pux = p * ux
    n = float(nx.sum())
    log_vmx = np.log(v + g.m * g.x)
    inv_vmx = 1.0 / (v + g.m * g.x)
    value = (
        nx @ (gammaln(pux + q) - gammaln(pux))
        - n * gammaln(q)
        + n * q * np.log(v)
        + p * g.sum_x_log_xm
        - g.sum_log_m
        - (p * g.x + q) @ log_vmx
    )
    d_p = (nx * ux) @ (digamma(pux + q) - digamma(pux)) + g.sum_x_log_xm - g.x @ log_vmx
    d_q = nx @ digamma(pux + q) - n * digamma(q) + n * np.log(v) - log_vmx.sum()
    d_v = n * q / v - (p * g.x + q) @ inv_vmx
    return float(value), np.array([d_p, d_q, d_v])


def _gg_objective(stats: _GGStats) -> Objective:
    total = float(stats.x.size)

    def fun(log_theta: FloatArray) -> tuple[float, FloatArray]:
        theta = np.exp(log_theta)
        val, grad = _gg_value_grad(theta, stats)
        return -val / total, -grad * theta / total

    return fun


class GammaGamma(_Base):
    """Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV"): mean repeat spend per customer."""

    param_names = ("p", "q", "v")

    @one_blas_thread
    def fit(self, frequency: Any, monetary_value: Any) -> GammaGamma:
        """Fit on customers with at least one repeat purchase and positive mean spend."""
        x = np.asarray(frequency, dtype=np.float64)
        m = np.asarray(monetary_value, dtype=np.float64)
        keep = (x > 0) & (m > 0)
        if int(keep.sum()) < MIN_REPEAT_CUSTOMERS:
            raise ConvergenceError(
                f"Gamma-Gamma: too few repeat customers with positive spend to fit ({int(keep.sum())}; "
                f"need at least {MIN_REPEAT_CUSTOMERS})",
                {"repeat_customers": int(keep.sum())},
            )
        xk, mk = x[keep], m[keep]
        stats = _GGStats.of(xk, mk)
        sample = None
        if xk.size > WARM_START_ABOVE:
            pick = np.random.default_rng(0).integers(0, xk.size, WARM_START_SAMPLE)
            sample = _GGStats.of(xk[pick], mk[pick])
        theta = _fit_warm(
            _gg_objective, stats, sample, np.array([1.0, 1.0, float(np.mean(mk))]), "Gamma-Gamma"
        )
        self.params_ = dict(zip(self.param_names, map(float, theta), strict=True))
        self.log_likelihood_ = _gg_value_grad(theta, stats)[0]
        self.n_customers_ = int(xk.size)
        self._defer_standard_errors(
            lambda: _se_from_hessian(-_hessian_from_grad(lambda th: _gg_value_grad(th, stats)[1], theta))
        )
        return self

    def predict_spend(self, frequency: Any, monetary_value: Any) -> FloatArray:
        """E[M | x, m̄] = p(v + x·m̄)/(p·x + q − 1): shrinks each customer's mean toward the population's."""
        p, q, v = self._check_fitted()
        x = np.asarray(frequency, dtype=np.float64)
        m = np.asarray(monetary_value, dtype=np.float64)
        return p * (v + x * m) / (p * x + q - 1.0)  # type: ignore[no-any-return]


PurchaseModel = BetaGeo | ParetoNBD


@one_blas_thread
def clv(
    purchases: PurchaseModel,
    spend: GammaGamma,
    frequency: Any,
    recency: Any,
    T: Any,
    monetary_value: Any,
    *,
    months: int = 12,
    discount_rate: float = 0.01,
    time_unit: str = "week",
) -> FloatArray:
    """Discounted CLV over ``months`` months (monthly discount rate), lifetimes' convention.

    Both purchase models factor expected purchases as P(alive | x, t_x, T) x E[purchases | alive, x, T],
    so the discounted monthly sum runs once per distinct (x, T) pair — one hypergeometric evaluation per
    pair and month — and P(alive) once per distinct (x, t_x, T) history; both are broadcast back.
    """
    per_month = {"week": 4.345, "day": 30.0}[time_unit]
    s = sufficient(frequency, recency, T)
    px, pT, pair_of = _pairs(s.x, s.T)
    value = spend.predict_spend(frequency, monetary_value)
    total = np.zeros(px.size)
    previous = np.zeros(px.size)
    for i in range(1, months + 1):
        cum = purchases.predict_purchases_if_alive(i * per_month, px, pT)
        total += (cum - previous) / (1.0 + discount_rate) ** i
        previous = cum
    per_history = total[pair_of] * purchases.predict_p_alive(s.x, s.tx, s.T)
    return per_history[s.inverse] * value
