"""Top-k ranking metrics for a holdout: precision@k, recall@k, MAP@k and catalogue coverage.

Recommendations are a matrix of item codes, one row per evaluated member, best first, padded with -1
where a member got fewer than k; what each member actually bought in the holdout is a sparse matrix
(members × items, any positive value counts). Per member, with ``hits`` the recommended items among
the first k that the member bought:

* precision@k = hits / k (k, not the number recommended: a short list is not rewarded);
* recall@k = hits / |relevant|;
* AP@k = Σ over the hit positions i ≤ k of (hits among the first i) / i, divided by min(|relevant|, k)
  (the best a list of k can do, so a perfect list scores 1 even when the member bought more than k);
* the means are over the members with at least one relevant item (the others cannot be scored);
* coverage = distinct items recommended to anyone / the catalogue's size.

All vectorised: one gather of the relevant matrix at the recommended positions, no loop per member.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class Scores:
    """The four figures of one model on one holdout, and over how many members."""

    precision: float
    recall: float
    map: float
    coverage: float
    members: int

    def to_dict(self) -> dict[str, float | int]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "map": self.map,
            "coverage": self.coverage,
            "members": self.members,
        }


def _check(recommended: np.ndarray, relevant: sp.spmatrix | sp.sparray, k: int) -> np.ndarray:
    rec = np.asarray(recommended)
    if rec.ndim != 2:
        raise ValueError("recommended must be a 2-d array: one row of item codes per member")
    if rec.shape[0] != relevant.shape[0]:
        raise ValueError(
            f"recommended has {rec.shape[0]} rows but relevant has {relevant.shape[0]}: one row per member"
        )
    if k < 1:
        raise ValueError("k must be at least 1")
    return rec[:, :k].astype(np.int64, copy=False)


def hits(recommended: np.ndarray, relevant: sp.spmatrix | sp.sparray, k: int) -> np.ndarray:
    """A boolean (members × k) matrix: is the item at each position one the member bought?"""
    rec = _check(recommended, relevant, k)
    rel = sp.csr_matrix(relevant)
    n, width = rec.shape
    if n == 0 or width == 0:
        return np.zeros((n, k), dtype=bool)
    rows = np.repeat(np.arange(n), width)
    cols = rec.ravel()
    valid = cols >= 0
    out = np.zeros(n * width, dtype=bool)
    if valid.any():
        out[valid] = np.asarray(rel[rows[valid], cols[valid]]).ravel() > 0
    found = out.reshape(n, width)
    if width < k:  # fewer than k columns given: the missing positions are misses
        found = np.hstack([found, np.zeros((n, k - width), dtype=bool)])
    return found


def _relevant_counts(relevant: sp.spmatrix | sp.sparray) -> np.ndarray:
    rel = sp.csr_matrix(relevant)
    positive = rel.copy()
    positive.data = (positive.data > 0).astype(np.float64)
    return np.asarray(positive.sum(axis=1)).ravel()


def _scored(relevant: sp.spmatrix | sp.sparray) -> tuple[np.ndarray, np.ndarray]:
    counts = _relevant_counts(relevant)
    return counts > 0, counts


def precision_at_k(recommended: np.ndarray, relevant: sp.spmatrix | sp.sparray, k: int) -> float:
    """Mean share of the first k recommendations the member bought (see the module)."""
    h = hits(recommended, relevant, k)
    keep, _ = _scored(relevant)
    return float(h[keep].sum(axis=1).mean() / k) if keep.any() else 0.0


def recall_at_k(recommended: np.ndarray, relevant: sp.spmatrix | sp.sparray, k: int) -> float:
    """Mean share of what the member bought found among the first k recommendations."""
    h = hits(recommended, relevant, k)
    keep, counts = _scored(relevant)
    return float((h[keep].sum(axis=1) / counts[keep]).mean()) if keep.any() else 0.0


def map_at_k(recommended: np.ndarray, relevant: sp.spmatrix | sp.sparray, k: int) -> float:
    """Mean average precision at k, normalised by min(|relevant|, k) (see the module)."""
    h = hits(recommended, relevant, k)
    keep, counts = _scored(relevant)
    if not keep.any():
        return 0.0
    h = h[keep]
    precision_at_i = np.cumsum(h, axis=1) / np.arange(1, k + 1)
    ap = (precision_at_i * h).sum(axis=1) / np.minimum(counts[keep], k)
    return float(ap.mean())


def coverage(recommended: np.ndarray, n_items: int) -> float:
    """Distinct items recommended to anyone, as a share of the ``n_items`` of the catalogue."""
    if n_items <= 0:
        return 0.0
    rec = np.asarray(recommended)
    return float(np.unique(rec[rec >= 0]).size / n_items)


def score(recommended: np.ndarray, relevant: sp.spmatrix | sp.sparray, k: int, n_items: int) -> Scores:
    """All four figures at once (coverage over the first k of every row)."""
    keep, _ = _scored(relevant)
    rec = np.asarray(recommended)[:, :k]
    return Scores(
        precision=precision_at_k(rec, relevant, k),
        recall=recall_at_k(rec, relevant, k),
        map=map_at_k(rec, relevant, k),
        coverage=coverage(rec, n_items),
        members=int(keep.sum()),
    )
