"""k-means with k chosen by the silhouette, seeded, numbered the same way every time.

**Choosing k.** For every k in the range (2…8 by default) k-means is fitted, seeded, on a sample of
the members (:data:`SELECT_SAMPLE`, all of them below it); each fit is scored by its mean silhouette
on one fixed, seeded sub-sample (:data:`SILHOUETTE_SAMPLE`), the same members for every k, so the
scores compare like with like. The k with the highest silhouette wins (the smaller k on a tie). The
silhouette of a member is (b − a) / max(a, b), a its mean distance to its own cluster, b to the
nearest other; near 1: well inside its cluster, near 0: between two. All the k's are scored from one
pass over the sub-sample's pairwise distances (:func:`silhouettes`), exact, not estimated.

**The fit.** Below the sample size the chosen k's fit is the model. Above it, k-means runs on every
member from the sample's centroids (mini-batch k-means past :data:`MINIBATCH_ABOVE` members).

**Numbers.** Clusters are numbered 1…k by their members' mean spend, the highest first, so the same
data and seed give the same numbers. Given the previous run's centroids, each new cluster instead
takes the number of the previous cluster it is matched to (the assignment of least total distance
between centroids, Hungarian method), so a cluster keeps its number when the data barely moves;
clusters without a match take the numbers left, by spend.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from loyalty.analytics.clusters.errors import ClusterInputError, TooFewMembers

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

K_RANGE = (2, 8)
#: members k is chosen on (all of them below this)
SELECT_SAMPLE = 50_000
#: members whose silhouette scores each k (a fixed sub-sample of the selection sample)
SILHOUETTE_SAMPLE = 8_000
#: above this many members the final fit is mini-batch k-means
MINIBATCH_ABOVE = 200_000
#: k-means++ restarts of each selection fit
N_INIT = 4
SEED = 26
_CHUNK = 512


@dataclass(frozen=True)
class KScore:
    """One candidate k: its mean silhouette and its inertia (mean squared distance to the centroid)."""

    k: int
    silhouette: float
    inertia: float


def silhouettes(x: Floats, labelings: list[Ints]) -> list[float]:
    """The mean silhouette (Euclidean) of each labeling of the points ``x``, from one pass over their
    pairwise distances; equal to scikit-learn's ``silhouette_score``. A point alone in its cluster
    scores 0."""
    n = len(x)
    ks = [int(labels.max()) + 1 for labels in labelings]
    offsets = np.concatenate(([0], np.cumsum(ks)))
    member = np.zeros((n, int(offsets[-1])))
    for labels, start in zip(labelings, offsets[:-1], strict=True):
        member[np.arange(n), start + labels] = 1.0
    squared = np.einsum("ij,ij->i", x, x)
    sums = np.empty_like(member)
    for lo in range(0, n, _CHUNK):
        hi = min(lo + _CHUNK, n)
        d2 = squared[lo:hi, None] + squared[None, :] - 2.0 * (x[lo:hi] @ x.T)
        d = np.sqrt(np.clip(d2, 0.0, None))
        d[np.arange(hi - lo), np.arange(lo, hi)] = 0.0
        sums[lo:hi] = d @ member
    out = []
    for labels, k, start in zip(labelings, ks, offsets[:-1], strict=True):
        block = sums[:, start : start + k]
        sizes = np.bincount(labels, minlength=k).astype(np.float64)
        own = block[np.arange(n), labels]
        alone = sizes[labels] <= 1
        a = own / np.maximum(sizes[labels] - 1.0, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_to = block / sizes
        mean_to[:, sizes == 0] = np.inf
        mean_to[np.arange(n), labels] = np.inf
        b = mean_to.min(axis=1)
        denom = np.maximum(a, b)
        s = np.where(alone | (denom == 0), 0.0, (b - a) / np.where(denom == 0, 1.0, denom))
        out.append(float(s.mean()))
    return out


def _sample(rng: np.random.Generator, n: int, size: int) -> Ints:
    if n <= size:
        return np.arange(n, dtype=np.int64)
    return np.sort(rng.choice(n, size=size, replace=False)).astype(np.int64)


class MemberClusters:
    """k-means on the scaled features with k chosen by the silhouette (see the module).

    ``fit(x, value=…)`` learns ``k_`` (the k used), ``best_k_`` (the silhouette's), ``scores_`` (one
    :class:`KScore` per candidate k), ``labels_`` (cluster numbers 1…k, per row of ``x``),
    ``centers_`` (k × columns, row i is cluster i + 1) and ``matched_`` (the clusters that kept a
    previous run's number).
    """

    def __init__(
        self,
        k: int | None = None,
        *,
        k_range: tuple[int, int] = K_RANGE,
        seed: int = SEED,
        select_sample: int = SELECT_SAMPLE,
        silhouette_sample: int = SILHOUETTE_SAMPLE,
        minibatch_above: int = MINIBATCH_ABOVE,
    ) -> None:
        self.k = k
        self.k_range = k_range
        self.seed = seed
        self.select_sample = select_sample
        self.silhouette_sample = silhouette_sample
        self.minibatch_above = minibatch_above

    def _candidates(self, distinct: int, members: int) -> range:
        lo, hi = self.k_range
        if not 2 <= lo <= hi:
            raise ClusterInputError.field(
                "k_range", "the range of k must run from 2 up, low to high", ClusterInputError.default_code
            )
        top = min(hi, distinct, self.silhouette_sample - 1, members - 1)
        if top < lo:
            raise TooFewMembers(
                None,
                "{members} members with different behaviour are too few to cluster: at least {needed}",
                {"members": distinct, "needed": lo + 1},
            )
        if self.k is not None and not lo <= self.k <= top:
            raise ClusterInputError.field(
                "k",
                "k must be from {low} to {high} here",
                ClusterInputError.default_code,
                {"low": lo, "high": top},
            )
        return range(lo, top + 1)

    def fit(
        self,
        x: Floats,
        *,
        value: Floats | None = None,
        previous: dict[int, Floats] | None = None,
    ) -> MemberClusters:
        """Cluster the rows of ``x``; ``value`` (per row) orders the numbers, ``previous`` (number →
        centroid in this ``x``'s space) carries the previous run's numbers over."""
        from sklearn.cluster import KMeans, MiniBatchKMeans

        n = len(x)
        rng = np.random.default_rng(self.seed)
        chosen_rows = _sample(rng, n, self.select_sample)
        xs = np.ascontiguousarray(x[chosen_rows])
        distinct = len(np.unique(xs, axis=0)) if len(xs) else 0
        candidates = self._candidates(distinct, len(xs))
        fits = {k: KMeans(n_clusters=k, n_init=N_INIT, random_state=self.seed).fit(xs) for k in candidates}
        scored = _sample(rng, len(xs), self.silhouette_sample)
        sil = silhouettes(xs[scored], [fits[k].labels_[scored].astype(np.int64) for k in candidates])
        self.scores_ = [
            KScore(k, s, float(fits[k].inertia_) / len(xs)) for k, s in zip(candidates, sil, strict=True)
        ]
        self.best_k_ = max(self.scores_, key=lambda r: (round(r.silhouette, 12), -r.k)).k
        self.k_ = self.k if self.k is not None else self.best_k_
        start = fits[self.k_]
        if len(xs) == n:
            labels = start.labels_.astype(np.int64)
            centers = start.cluster_centers_
        else:
            kind = MiniBatchKMeans if n > self.minibatch_above else KMeans
            final = kind(n_clusters=self.k_, init=start.cluster_centers_, n_init=1, random_state=self.seed)
            final.fit(x)
            labels = final.labels_.astype(np.int64)
            centers = final.cluster_centers_
        numbers, self.matched_ = _numbers(labels, centers, self.k_, value, previous)
        self.labels_ = numbers[labels]
        self.centers_ = np.empty_like(centers)
        self.centers_[numbers - 1] = centers
        self.n_ = n
        return self


def _numbers(
    labels: Ints, centers: Floats, k: int, value: Floats | None, previous: dict[int, Floats] | None
) -> tuple[Ints, frozenset[int]]:
    """The number (1…k) of each fitted cluster, and the numbers kept from the previous run."""
    sizes = np.bincount(labels, minlength=k).astype(np.float64)
    if value is None:
        means = sizes
    else:
        sums = np.bincount(labels, weights=np.asarray(value, dtype=np.float64), minlength=k)
        means = np.where(sizes > 0, sums / np.maximum(sizes, 1.0), -np.inf)
    by_value = sorted(range(k), key=lambda c: (-means[c], -sizes[c], c))
    numbers = np.zeros(k, dtype=np.int64)
    kept: set[int] = set()
    if previous:
        from scipy.optimize import linear_sum_assignment

        earlier = sorted(previous)
        cost = np.linalg.norm(
            centers[:, None, :] - np.stack([previous[p] for p in earlier])[None, :, :], axis=2
        )
        for row, col in zip(*linear_sum_assignment(cost), strict=True):
            if earlier[col] <= k:
                numbers[row] = earlier[col]
                kept.add(earlier[col])
    free = iter(m for m in range(1, k + 1) if m not in kept)
    for c in by_value:
        if numbers[c] == 0:
            numbers[c] = next(free)
    return numbers, frozenset(kept)
