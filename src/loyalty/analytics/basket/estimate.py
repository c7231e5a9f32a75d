"""How many frequent itemsets a support would give, estimated before and while mining.

A support set too low makes the itemsets explode: at a support of one basket every subset of
Groceries' largest basket (32 items) is frequent, 4.3 billion of them. The miner refuses such a
request with an estimate instead of running out of memory or time:

* from the exact counts of items and pairs, before any deeper level is mined: the joins of level
  three are known exactly (pairs of frequent pairs sharing their first item), and a join's chance of
  being frequent is taken as the share of item pairs that were frequent;
* while a level is mined, from its candidates and the share of them found frequent so far, so a
  refusal never costs much more than mining the limit itself.

Past the levels seen, the level sizes are extrapolated: log(size) as a parabola through the last
three levels (real data rises and falls roughly so), or, with only two levels or a curve that still
steepens, as the binomial coefficients C(m, k) of one dense group of m items. The estimate is never
below what is certain: the itemsets counted so far, and at a support of one basket all subsets of
the largest basket.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

Int64s = npt.NDArray[np.int64]

_MAX_LEVELS = 64
_CAP = 10.0**18


def estimate_from_pairs(i: Int64s, n_items: int, max_length: int) -> float:
    """Expected number of frequent 3-itemsets, from the frequent pairs (i < j, sorted by i)."""
    if max_length < 3 or len(i) < 2 or n_items < 2:
        return 0.0
    _, run = np.unique(i, return_counts=True)
    candidates = float((run.astype(np.float64) * (run - 1) / 2).sum())
    density = min(1.0, len(i) / (n_items * (n_items - 1) / 2))
    return candidates * density


def _binomial_tail(sizes: list[float], max_length: int) -> float:
    k = len(sizes) - 1  # sizes[-1] holds (k+1)-itemsets, sizes[-2] k-itemsets
    m = sizes[-1] / sizes[-2] * (k + 1) + k  # C(m, k+1) / C(m, k) = (m − k) / (k + 1)
    current, length, total = sizes[-1], k + 1, 0.0
    while length < min(max_length, _MAX_LEVELS):
        step = (m - length) / (length + 1)
        current *= step
        if step <= 0 or current < 1 or total > _CAP:
            break
        total += current
        length += 1
    return total


def _parabola_tail(sizes: list[float], max_length: int) -> float:
    logs = [math.log(s) for s in sizes[-3:]]
    slope = logs[2] - logs[1]
    bend = slope - (logs[1] - logs[0])
    current, length, total = logs[2], len(sizes), 0.0
    while length < min(max_length, _MAX_LEVELS):
        slope += bend
        current += slope
        if current < 0 or total > _CAP:
            break
        total += math.exp(min(current, 60.0))
        length += 1
    return total


def extrapolate(level_sizes: list[int], partial: float, max_length: int, *, floor: float = 0.0) -> int:
    """Total itemsets: the levels counted (``level_sizes[k-1]`` k-itemsets), a level in progress
    estimated at ``partial``, the levels after them extrapolated, and at least ``floor``."""
    sizes = [float(s) for s in level_sizes if s > 0]
    if partial > 0:
        sizes.append(float(partial))
    total = sum(sizes)
    if len(sizes) >= 2 and len(sizes) < max_length:
        rising = len(sizes) < 3 or (
            math.log(sizes[-1]) - math.log(sizes[-2]) >= math.log(sizes[-2]) - math.log(sizes[-3])
        )
        total += _binomial_tail(sizes, max_length) if rising else _parabola_tail(sizes, max_length)
    return int(min(max(total, floor), _CAP))


def subsets_up_to(size: int, max_length: int) -> float:
    """The non-empty subsets of a set of ``size`` items with at most ``max_length`` items."""
    if max_length >= size:
        return min(2.0**size - 1, _CAP)
    return float(min(sum(math.comb(size, k) for k in range(1, max_length + 1)), _CAP))
